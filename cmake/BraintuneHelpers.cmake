# braintune_library(NAME SOURCES ... DEPS ...): one static library per module under src/.
function(braintune_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# braintune_test(NAME SOURCES ... DEPS ... LABELS ...): one GoogleTest executable per module.
function(braintune_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  # Designated initialisers leave out the fields that keep their defaults (tests/testing/tiny_job.h).
  target_compile_options(${name} PRIVATE -Wno-missing-field-initializers)
  # Tests without debug information: it was two thirds of their compile time (a LibTorch test file:
  # 42 s with -g, 15 s without). BRAINTUNE_TEST_DEBUG_INFO=ON puts it back for a debugger.
  if(NOT BRAINTUNE_TEST_DEBUG_INFO)
    target_compile_options(${name} PRIVATE -g0)
  endif()
  target_compile_definitions(${name} PRIVATE
    BRAINTUNE_BINARY_DIR="${CMAKE_BINARY_DIR}" BRAINTUNE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()

# braintune_use_torch_pch(TARGET...): compile with the one precompiled <torch/torch.h>
# (CMakeLists.txt, braintune_torch_pch). All of them compile with -pthread, which absl and GTest
# give some of them anyway: GCC refuses a precompiled header across a different _REENTRANT.
function(braintune_use_torch_pch)
  foreach(target ${ARGN})
    target_compile_options(${target} PRIVATE -pthread)
    target_precompile_headers(${target} REUSE_FROM braintune_torch_pch)
  endforeach()
endfunction()
