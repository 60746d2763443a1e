# check_needed.cmake - no NEEDED entry of LIB may match FORBIDDEN (a regex):
# libkvplug.so loads the CUDA runtime with dlopen() when first needed, so
# a host with its own CUDA runtime, or none, always loads it (docs/cuda.md).
# Run by ctest: cmake -DREADELF= -DLIB= -DFORBIDDEN= -P check_needed.cmake
if(NOT READELF OR NOT EXISTS "${LIB}")
  message(FATAL_ERROR "check_needed: need READELF (${READELF}) and LIB (${LIB})")
endif()
execute_process(COMMAND ${READELF} -d ${LIB}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_needed: readelf -d ${LIB} failed (${rc}): ${err}")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(needed "")
foreach(line ${lines})
  if(line MATCHES "\\(NEEDED\\).*\\[([^]]+)\\]")
    list(APPEND needed ${CMAKE_MATCH_1})
  endif()
endforeach()
if(NOT needed)
  message(FATAL_ERROR "check_needed: no NEEDED entries read from ${LIB}; "
    "is it a shared library?\n${out}")
endif()
foreach(lib ${needed})
  if(lib MATCHES "${FORBIDDEN}")
    message(FATAL_ERROR "check_needed: ${LIB} has NEEDED ${lib}, which "
      "matches '${FORBIDDEN}': load it with dlopen() when first needed "
      "(plugin/cuda_rt.c) instead of linking it")
  endif()
endforeach()
message(STATUS "check_needed: ${LIB} NEEDED [${needed}], none matches "
  "'${FORBIDDEN}'")
