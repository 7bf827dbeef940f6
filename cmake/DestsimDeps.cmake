# Every dependency comes from a Debian package. When one is missing, say which.
include(FindPackageHandleStandardArgs)
find_package(PkgConfig)

macro(destsim_require found what debian_package)
  if(NOT ${found})
    message(FATAL_ERROR "destsim needs ${what}: install the Debian package '${debian_package}' "
                        "(apt-get install -y ${debian_package}), or run ./scripts/setup.sh")
  endif()
endmacro()

find_package(Threads REQUIRED)

find_package(nlohmann_json 3 QUIET CONFIG)
destsim_require(nlohmann_json_FOUND "nlohmann/json" nlohmann-json3-dev)

find_package(CLI11 QUIET CONFIG)
destsim_require(CLI11_FOUND "CLI11" libcli11-dev)

if(PkgConfig_FOUND)
  pkg_check_modules(HTTPLIB QUIET IMPORTED_TARGET cpp-httplib)
endif()
destsim_require(HTTPLIB_FOUND "cpp-httplib (pkg-config cpp-httplib)" libcpp-httplib-dev)

find_package(libssh QUIET CONFIG)
destsim_require(libssh_FOUND "libssh" libssh-dev)

find_package(SQLite3 QUIET)
destsim_require(SQLite3_FOUND "SQLite 3" libsqlite3-dev)

# certify shrinks failing cases with RapidCheck.
find_package(rapidcheck QUIET CONFIG)
destsim_require(rapidcheck_FOUND "RapidCheck" librapidcheck-dev)

# Oracle keys hash item dumps (megabytes for a padded record) with XXH3.
if(PkgConfig_FOUND)
  pkg_check_modules(XXHASH QUIET IMPORTED_TARGET libxxhash)
endif()
destsim_require(XXHASH_FOUND "xxHash (pkg-config libxxhash)" libxxhash-dev)

# The fakes parse every request body (1000-item bulk bodies) with simdjson
# first (framework/flat_json.cpp), linked by name (-lsimdjson) as xxhash is.
if(PkgConfig_FOUND)
  pkg_check_modules(SIMDJSON QUIET simdjson)
endif()
destsim_require(SIMDJSON_FOUND "simdjson (pkg-config simdjson)" libsimdjson-dev)

find_package(ZLIB QUIET)
destsim_require(ZLIB_FOUND "zlib" zlib1g-dev)

# The Bing Ads fake reads and writes .zip files (libzip) and parses SOAP
# envelopes (pugixml). Both are linked by name (-lzip, -lpugixml), as xxhash
# is, so the installed package needs no pkg-config or CMake files of theirs.
if(PkgConfig_FOUND)
  pkg_check_modules(LIBZIP QUIET libzip)
  pkg_check_modules(PUGIXML QUIET pugixml)
endif()
destsim_require(LIBZIP_FOUND "libzip (pkg-config libzip)" libzip-dev)
destsim_require(PUGIXML_FOUND "pugixml (pkg-config pugixml)" libpugixml-dev)

if(DESTSIM_BUILD_TESTS)
  find_package(GTest QUIET CONFIG)
  destsim_require(GTest_FOUND "GoogleTest/GoogleMock" "libgtest-dev libgmock-dev")
  include(GoogleTest)
endif()

if(DESTSIM_BUILD_BENCH)
  find_package(benchmark QUIET CONFIG)
  destsim_require(benchmark_FOUND "Google Benchmark" libbenchmark-dev)
endif()
