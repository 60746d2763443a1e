# check_exports.cmake - `nm -D --defined-only LIB` must list exactly the
# symbols in EXPECTED (a ;-list). Run by ctest: cmake -DNM= -DLIB=
# -DEXPECTED= -P check_exports.cmake
if(NOT NM OR NOT EXISTS "${LIB}")
  message(FATAL_ERROR "check_exports: need NM (${NM}) and LIB (${LIB})")
endif()
execute_process(COMMAND ${NM} -D --defined-only ${LIB}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_exports: nm failed on ${LIB} (${rc}): ${err}")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(found "")
foreach(line ${lines})
  # "<addr> <type> <name>[@version]"
  if(line MATCHES "^[0-9a-fA-F]+ [A-Za-z] ([^ @]+)")
    list(APPEND found ${CMAKE_MATCH_1})
  endif()
endforeach()
list(SORT found)
set(want ${EXPECTED})
list(SORT want)
if(NOT found STREQUAL want)
  message(FATAL_ERROR "check_exports: ${LIB} exports [${found}], "
    "expected exactly [${want}]. A new export needs the version script "
    "(plugin/kvplug.map), docs/abi.md and this test updated together.\n"
    "nm output:\n${out}")
endif()
message(STATUS "check_exports: ${LIB} exports exactly [${found}]")
