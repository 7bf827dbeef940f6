# destsim_test(NAME SOURCES a_test.cpp ... LIBS lib ...)
# One GoogleTest executable, discovered test by test. RapidCheck is linked in.
function(destsim_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main
                                        rapidcheck rapidcheck_gtest)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endfunction()
