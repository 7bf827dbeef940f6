# DestsimInstall.cmake — `cmake --install` of the destsim libraries as a CMake
# package, so a destination living in its own repository links them and is
# certified with the same suite (docs/out_of_tree.md):
#
#   find_package(destsim 0.1 REQUIRED)
#   target_link_libraries(my_certify PRIVATE destsim::conformance)
#   destsim_add_certification(NAME my.certify TARGET my_certify CASES 24)
#
# Installed layout under the prefix:
#   include/destsim/{framework,fakes,destinations,conformance}/*.h (framework/real/,
#       fakes/doors/ included; sources include "framework/x.h", so include/destsim
#       is the include dir)
#   lib/libdestsim_{framework,real,fakes,doors,destinations,conformance}.a
#   lib/cmake/destsim/  destsimConfig.cmake, destsimConfigVersion.cmake,
#                       destsimTargets*.cmake, DestsimCertify.cmake
#   bin/destsim         when it was built (optional: the libraries suffice)
#
# Installing needs only the six libraries built (`--target destsim_conformance
# destsim_doors` builds them all); tests and benchmarks are never installed.
# destsim_real (real I/O) and destsim_doors (the fakes' server doors) are for
# real-mode callers; certifying needs only destsim::conformance.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DESTSIM_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/destsim)
set(DESTSIM_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/destsim)

# The libraries, exported as destsim::framework, destsim::real, destsim::fakes,
# destsim::doors, destsim::destinations and destsim::conformance (aliases of the same names
# exist in this build, so a project added with add_subdirectory links alike).
set(DESTSIM_EXPORTED_LIBRARIES framework real fakes doors destinations conformance)
foreach(lib IN LISTS DESTSIM_EXPORTED_LIBRARIES)
  set_target_properties(destsim_${lib} PROPERTIES EXPORT_NAME ${lib})
  # A consumer compiles the headers (coroutines, designated initialisers) as C++20.
  set_property(TARGET destsim_${lib} APPEND PROPERTY INTERFACE_COMPILE_FEATURES cxx_std_20)
  add_library(destsim::${lib} ALIAS destsim_${lib})
endforeach()

# framework/CMakeLists.txt publishes the source root as the include directory;
# an installed package must point at its own copy instead. Only the interface
# changes: the libraries themselves still compile against the source tree.
set_target_properties(destsim_framework PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>;$<INSTALL_INTERFACE:${DESTSIM_INSTALL_INCLUDEDIR}>")

install(TARGETS destsim_framework destsim_real destsim_fakes destsim_doors destsim_destinations destsim_conformance
  EXPORT destsimTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${DESTSIM_INSTALL_INCLUDEDIR})

# The CLI comes along when it was built; installing the libraries must not
# require it.
install(TARGETS destsim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} OPTIONAL)
# The file formats' JSON Schemas, for editors (destsim schema prints them too).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/schemas/ DESTINATION ${CMAKE_INSTALL_DATADIR}/destsim/schemas
        FILES_MATCHING PATTERN "*.schema.json")

# Every public header, in the layout the sources include them by. Test sources
# are .cpp, so only headers are taken (declarative specs are data, not headers).
foreach(dir IN ITEMS framework fakes destinations conformance)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/
    DESTINATION ${DESTSIM_INSTALL_INCLUDEDIR}/${dir}
    FILES_MATCHING PATTERN "*.h"
    PATTERN "specs" EXCLUDE)
endforeach()

install(EXPORT destsimTargets
  NAMESPACE destsim::
  FILE destsimTargets.cmake
  DESTINATION ${DESTSIM_INSTALL_CMAKEDIR})

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/destsimConfig.cmake.in
  ${PROJECT_BINARY_DIR}/destsimConfig.cmake
  INSTALL_DESTINATION ${DESTSIM_INSTALL_CMAKEDIR})
# 0.x: a minor version may break the interface, so only the same minor matches.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/destsimConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
    ${PROJECT_BINARY_DIR}/destsimConfig.cmake
    ${PROJECT_BINARY_DIR}/destsimConfigVersion.cmake
    ${PROJECT_SOURCE_DIR}/cmake/DestsimCertify.cmake
  DESTINATION ${DESTSIM_INSTALL_CMAKEDIR})

if(DESTSIM_BUILD_TESTS)
  # Out-of-tree certification end to end: install this build into a temporary
  # prefix, build examples/out_of_tree against it, and certify its destination.
  add_test(NAME out_of_tree.certify
    COMMAND bash ${PROJECT_SOURCE_DIR}/tools/out_of_tree_test.sh ${CMAKE_BINARY_DIR} ${CMAKE_CXX_COMPILER}
            "${CMAKE_CXX_FLAGS}" "${CMAKE_EXE_LINKER_FLAGS}")
  set_tests_properties(out_of_tree.certify PROPERTIES TIMEOUT 900)
endif()
