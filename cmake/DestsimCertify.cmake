# DestsimCertify.cmake — ctest helpers that certify destinations with the
# conformance suite, for a project that builds its own certify binary (a `main`
# calling destsim::certify_main with its DestinationEntry list; see
# docs/out_of_tree.md). Installed with the destsim package and included by
# find_package(destsim).
#
#   destsim_add_certification(NAME <test> TARGET <certify exe>
#       [DESTINATIONS <name>...]  # default: the binary's own destinations
#       [CASES <n>]               # generated cases per destination (default:
#                                 # $ENV{DESTSIM_CERTIFY_CASES} at configure time, else 24)
#       [SEED <s>]                # run seed (default 1)
#       [TIMEOUT <seconds>]       # default 600
#       [ARGS <arg>...])          # more `certify` options (e.g. --shard 0/4)
#     The test runs `<exe> [names] --cases n --seed s --out <dir> --junit <file>`
#     and passes only on exit 0: every property holds and every applicable
#     recovery path was reached. Failing cases are written, shrunk, under
#     <build dir>/<test>-failures/; the JUnit report is <build dir>/<test>.junit.xml.
#
#   destsim_add_canary_check(NAME <test> TARGET <certify exe> DESTINATION <name>
#       [PROPERTIES <id>...] [CASES <n>] [SEED <s>] [TIMEOUT <seconds>])
#     Proof that certification can fail: certifying a deliberately broken
#     destination must exit 1 (not 2, bad input), name each listed property as
#     FAIL, and write at least one failing case.
#
# This file is also its own checker: ctest runs it with `cmake -P` for the
# canary check (the variables DESTSIM_CHECK_* select that mode).

if(CMAKE_SCRIPT_MODE_FILE AND DEFINED DESTSIM_CHECK_EXE)
  # ---- script mode: run a certify binary, require an exit code and FAIL lines.
  file(REMOVE_RECURSE "${DESTSIM_CHECK_OUT}")
  set(_names "")
  if(NOT DESTSIM_CHECK_DESTINATION STREQUAL "")
    set(_names "${DESTSIM_CHECK_DESTINATION}")
  endif()
  execute_process(
    COMMAND "${DESTSIM_CHECK_EXE}" ${_names} --cases "${DESTSIM_CHECK_CASES}" --seed "${DESTSIM_CHECK_SEED}"
            --out "${DESTSIM_CHECK_OUT}"
    RESULT_VARIABLE _rc
    OUTPUT_VARIABLE _out
    ERROR_VARIABLE _err)
  message("${_out}")
  if(NOT _rc STREQUAL "${DESTSIM_CHECK_EXIT}")
    message(FATAL_ERROR "${DESTSIM_CHECK_EXE} ${_names}: exited ${_rc}, expected ${DESTSIM_CHECK_EXIT}\n${_err}")
  endif()
  string(REPLACE "," ";" _properties "${DESTSIM_CHECK_PROPERTIES}")
  foreach(_p IN LISTS _properties)
    # The verdict table's failure lines read "<destination> <id> <title>: FAIL (…)".
    if(NOT _out MATCHES "(^|\n)${DESTSIM_CHECK_DESTINATION} ${_p} [^\n]*: FAIL")
      message(FATAL_ERROR "${DESTSIM_CHECK_DESTINATION}: property ${_p} was expected to FAIL and is not named as failing")
    endif()
  endforeach()
  file(GLOB _cases "${DESTSIM_CHECK_OUT}/*.json")
  if(NOT _cases)
    message(FATAL_ERROR "${DESTSIM_CHECK_DESTINATION}: no failing case was written under ${DESTSIM_CHECK_OUT}")
  endif()
  list(LENGTH _cases _n)
  message("${DESTSIM_CHECK_DESTINATION}: failed as expected (exit ${_rc}); ${_n} minimal failing case(s) written")
  return()
endif()

# Where this file is, for the canary check's `cmake -P` (a global property, so
# any directory of the project can call the helpers).
set_property(GLOBAL PROPERTY DESTSIM_CERTIFY_SCRIPT "${CMAKE_CURRENT_LIST_FILE}")

# The default case budget: DESTSIM_CERTIFY_CASES in the environment, else 24
# (the in-tree CI budget, tools/certify_test.sh).
function(_destsim_default_cases out)
  if(DEFINED ENV{DESTSIM_CERTIFY_CASES} AND "$ENV{DESTSIM_CERTIFY_CASES}" MATCHES "^[1-9][0-9]*$")
    set(${out} "$ENV{DESTSIM_CERTIFY_CASES}" PARENT_SCOPE)
  else()
    set(${out} 24 PARENT_SCOPE)
  endif()
endfunction()

function(_destsim_check_common fn)
  if(NOT A_NAME)
    message(FATAL_ERROR "${fn}: NAME <test name> is required")
  endif()
  if(NOT A_TARGET)
    message(FATAL_ERROR "${fn}(${A_NAME}): TARGET <certify executable> is required")
  endif()
  if(NOT TARGET ${A_TARGET})
    message(FATAL_ERROR "${fn}(${A_NAME}): TARGET ${A_TARGET} is not a target; define the executable first")
  endif()
  if(A_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "${fn}(${A_NAME}): unexpected arguments: ${A_UNPARSED_ARGUMENTS}")
  endif()
  if(DEFINED A_CASES AND NOT A_CASES MATCHES "^[1-9][0-9]*$")
    message(FATAL_ERROR "${fn}(${A_NAME}): CASES: expected an integer >= 1, got \"${A_CASES}\"")
  endif()
  if(DEFINED A_SEED AND NOT A_SEED MATCHES "^[0-9]+$")
    message(FATAL_ERROR "${fn}(${A_NAME}): SEED: expected an unsigned integer, got \"${A_SEED}\"")
  endif()
  if(DEFINED A_TIMEOUT AND NOT A_TIMEOUT MATCHES "^[1-9][0-9]*$")
    message(FATAL_ERROR "${fn}(${A_NAME}): TIMEOUT: expected seconds >= 1, got \"${A_TIMEOUT}\"")
  endif()
  # The defaults, set in the caller's scope: the case budget, seed 1, 600 s.
  if(NOT DEFINED A_CASES)
    _destsim_default_cases(cases)
    set(A_CASES ${cases} PARENT_SCOPE)
  endif()
  if(NOT DEFINED A_SEED)
    set(A_SEED 1 PARENT_SCOPE)
  endif()
  if(NOT DEFINED A_TIMEOUT)
    set(A_TIMEOUT 600 PARENT_SCOPE)
  endif()
endfunction()

function(destsim_add_certification)
  cmake_parse_arguments(PARSE_ARGV 0 A "" "NAME;TARGET;CASES;SEED;TIMEOUT" "DESTINATIONS;ARGS")
  _destsim_check_common(destsim_add_certification)
  add_test(NAME ${A_NAME}
    COMMAND $<TARGET_FILE:${A_TARGET}> ${A_DESTINATIONS} --cases ${A_CASES} --seed ${A_SEED}
            --out ${CMAKE_CURRENT_BINARY_DIR}/${A_NAME}-failures
            --junit ${CMAKE_CURRENT_BINARY_DIR}/${A_NAME}.junit.xml
            ${A_ARGS})
  set_tests_properties(${A_NAME} PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS destsim-certify)
endfunction()

function(destsim_add_canary_check)
  cmake_parse_arguments(PARSE_ARGV 0 A "" "NAME;TARGET;DESTINATION;CASES;SEED;TIMEOUT" "PROPERTIES")
  _destsim_check_common(destsim_add_canary_check)
  if(NOT A_DESTINATION)
    message(FATAL_ERROR "destsim_add_canary_check(${A_NAME}): DESTINATION <the broken destination's name> is required")
  endif()
  foreach(p IN LISTS A_PROPERTIES)
    if(NOT p MATCHES "^[A-Z][0-9]+$")
      message(FATAL_ERROR "destsim_add_canary_check(${A_NAME}): PROPERTIES: expected ids like I1 or C5, got \"${p}\"")
    endif()
  endforeach()
  string(REPLACE ";" "," properties "${A_PROPERTIES}")
  get_property(script GLOBAL PROPERTY DESTSIM_CERTIFY_SCRIPT)
  add_test(NAME ${A_NAME}
    COMMAND ${CMAKE_COMMAND}
            -DDESTSIM_CHECK_EXE=$<TARGET_FILE:${A_TARGET}>
            -DDESTSIM_CHECK_DESTINATION=${A_DESTINATION}
            -DDESTSIM_CHECK_CASES=${A_CASES}
            -DDESTSIM_CHECK_SEED=${A_SEED}
            -DDESTSIM_CHECK_EXIT=1
            -DDESTSIM_CHECK_PROPERTIES=${properties}
            -DDESTSIM_CHECK_OUT=${CMAKE_CURRENT_BINARY_DIR}/${A_NAME}-failures
            -P ${script})
  set_tests_properties(${A_NAME} PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS destsim-certify)
endfunction()
