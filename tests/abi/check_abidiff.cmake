# check_abidiff.cmake - compare libkvplug.so against the committed ABI
# baseline. Any reported change fails: an incompatible one must be undone;
# an intended compatible one (a slot appended in a new minor) is reviewed
# and the baseline regenerated (docs/abi.md). No suppressions: libabigail's
# has_data_member_inserted_at=end also hides reordered members, and the
# pin files already allow appends, so every change here is a human decision.
# CMakeLists.txt registers a skipping test instead when abidiff is absent.
foreach(f BASELINE LIB)
  if(NOT EXISTS "${${f}}")
    message(FATAL_ERROR "check_abidiff: ${f} '${${f}}' does not exist")
  endif()
endforeach()
execute_process(COMMAND ${ABIDIFF} --no-corpus-path --drop-private-types
    --headers-dir2 ${HEADERS}
    ${BASELINE} ${LIB}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
# abidiff status bits: 1 error, 2 usage, 4 ABI change, 8 incompatible.
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_abidiff: abidiff exit ${rc} comparing ${LIB} "
    "with the baseline ${BASELINE}.\n${out}\n${err}\n"
    "If the change is an intended, compatible addition (new slot appended "
    "in a new minor, with its pin file), regenerate the baseline with "
    "`cmake --build <build> --target abi-baseline` and commit it.")
endif()
message(STATUS "check_abidiff: no ABI change against ${BASELINE}")
