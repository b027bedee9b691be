# Fuzzing with libFuzzer: the targets in fuzz/ are built by clang in a build of their own
# (build/fuzz), and each runs as a ctest test for a bounded time over its seed corpus and its
# regressions. Without clang nothing here happens.
option(MOONRUN_FUZZ "Build the libFuzzer targets (fuzz/) when clang is found" ON)
find_program(CLANG NAMES clang-14 clang)
set(FUZZ_TARGETS json sigv4 aws_answer http_response yaml sqs_api journal apigw template)
set(FUZZ_SECONDS 20 CACHE STRING "How long each fuzz_* test fuzzes, in seconds")

# clang without its runtime libraries (libclang-rt-14-dev) cannot link a fuzzer: try once.
if(MOONRUN_FUZZ AND CLANG AND NOT DEFINED CACHE{MOONRUN_FUZZ_LINKS})
  set(probe ${CMAKE_BINARY_DIR}/CMakeFiles/fuzz_probe.c)
  file(WRITE ${probe} "int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }\n")
  execute_process(COMMAND ${CLANG} -fsanitize=fuzzer,address,undefined ${probe} -o ${probe}.out
                  RESULT_VARIABLE probe_status OUTPUT_QUIET ERROR_QUIET)
  if(probe_status EQUAL 0)
    set(MOONRUN_FUZZ_LINKS ON CACHE INTERNAL "clang links libFuzzer targets")
  else()
    set(MOONRUN_FUZZ_LINKS OFF CACHE INTERNAL "clang links libFuzzer targets")
    message(STATUS "${CLANG} cannot link a libFuzzer target (is libclang-rt-14-dev installed?): no fuzz tests")
  endif()
endif()

if(MOONRUN_FUZZ AND CLANG AND MOONRUN_FUZZ_LINKS)
  set(FUZZ_BUILD_DIR ${CMAKE_BINARY_DIR}/fuzz)
  # Configured on every build: cheap once done, and it picks up new files under src/.
  add_custom_target(fuzzers ALL
    COMMAND ${CMAKE_COMMAND} --log-level=WARNING -S ${CMAKE_SOURCE_DIR}/fuzz -B ${FUZZ_BUILD_DIR}
            -DCMAKE_C_COMPILER=${CLANG} -DMOONRUN_WERROR=${MOONRUN_WERROR}
    # A build of its own, not a part of this one: it must not join (and warn about) the jobserver.
    COMMAND ${CMAKE_COMMAND} -E env --unset=MAKEFLAGS --unset=MFLAGS ${CMAKE_COMMAND} --build ${FUZZ_BUILD_DIR} --parallel 2
    COMMENT "Building the fuzz targets with clang")
  foreach(target ${FUZZ_TARGETS})
    add_test(NAME fuzz_${target}
             COMMAND ${PYTHON3} fuzz/run_fuzzer.py ${FUZZ_BUILD_DIR}/${target}_fuzz ${target} ${FUZZ_SECONDS}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(fuzz_${target} PROPERTIES
      ENVIRONMENT "${TEST_ENV};FUZZ_WORK_DIR=${FUZZ_BUILD_DIR}/work" TIMEOUT 300)
  endforeach()
endif()
