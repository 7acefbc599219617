include(GoogleTest)

# vsl_add_library(NAME SOURCES ... DEPS ...): a part's library target.
function(vsl_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# vsl_test_code(TARGET): TARGET is a test's own code, compiled unoptimized.
# The code under test (the parts' libraries) keeps the build's optimization,
# and a test source's compile at -O2 takes twice as long (operations_test.cc:
# 38 s against 18 s), which CI pays on every run.
function(vsl_test_code name)
  target_compile_options(${name} PRIVATE -O0)
endfunction()

# vsl_add_test(NAME SOURCES ... DEPS ... [LABELS ...]): a GoogleTest binary
# registered with CTest; every TEST in it becomes its own CTest test. One
# label only (gtest_discover_tests flattens lists); ctest -L takes a regular
# expression, so "unit-gateway" is selected by -L unit and by -L gateway.
function(vsl_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  vsl_test_code(${name})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}"
                       DISCOVERY_TIMEOUT 60)
endfunction()
