# The bench tools (bench/*.c), built with the tests so that every CI build compiles them with the
# project's warnings, as errors under MOONRUN_WERROR. The benchmarks themselves build their own
# copies (bench/common.sh), with the compiler and flags a run asks for; these are not run.
foreach(tool fake_runtime_api floor_client canned_sqs)
  add_executable(bench_${tool} bench/${tool}.c)
  set_target_properties(bench_${tool} PROPERTIES OUTPUT_NAME ${tool}
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
  target_compile_options(bench_${tool} PRIVATE -Wall -Wextra -Wshadow -Wstrict-prototypes)
  if(MOONRUN_WERROR)
    target_compile_options(bench_${tool} PRIVATE -Werror)
  endif()
  target_link_libraries(bench_${tool} PRIVATE Threads::Threads)
endforeach()
