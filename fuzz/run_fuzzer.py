#!/usr/bin/env python3
"""Runs one libFuzzer target as a test: first every input under fuzz/regressions/TARGET (crashes
found before, which must stay fixed), then fuzzing for SECONDS from the seed corpus in
fuzz/corpus/TARGET. Fails on a crash, a leak, a timeout (5 s per input) or an input that
breaks an invariant the target checks. New inputs go to a scratch corpus (FUZZ_WORK_DIR), never
into the source tree; a failing input is saved there too, named in the output.

usage: run_fuzzer.py FUZZER TARGET SECONDS [extra libFuzzer options]"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Leaks fail the run; a huge allocation is an out-of-memory failure, not an ASan abort, so the
# code's own "out of memory" paths are what the fuzzer sees.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:allocator_may_return_null=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    fuzzer, target, seconds, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if not os.access(fuzzer, os.X_OK):
        sys.exit(f"run_fuzzer.py: no fuzzer at {fuzzer}: build with clang installed")
    work = os.path.join(os.environ.get("FUZZ_WORK_DIR", "/tmp/moonrun-fuzz"), target)
    scratch = os.path.join(work, "corpus")
    os.makedirs(scratch, exist_ok=True)
    env = dict(os.environ, **SANITIZER_ENV)
    options = ["-timeout=5", "-rss_limit_mb=2048", "-print_final_stats=1",
               f"-artifact_prefix={work}/"]
    dictionary = os.path.join(HERE, "dictionaries", target + ".dict")
    if os.path.exists(dictionary):
        options.append(f"-dict={dictionary}")

    regressions = os.path.join(HERE, "regressions", target)
    inputs = sorted(os.path.join(regressions, name) for name in os.listdir(regressions)) \
        if os.path.isdir(regressions) else []
    if inputs:
        print(f"{target}: {len(inputs)} regression inputs", flush=True)
        run = subprocess.run([fuzzer, *options, *extra, *inputs], env=env)
        if run.returncode != 0:
            sys.exit(f"{target}: a regression input fails again (exit status {run.returncode})")

    corpus = os.path.join(HERE, "corpus", target)
    command = [fuzzer, *options, f"-max_total_time={seconds}", *extra, scratch, corpus]
    print(" ".join(command), flush=True)
    run = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True, errors="replace")
    sys.stderr.write(run.stderr)
    executions = re.search(r"stat::number_of_executed_units:\s*(\d+)", run.stderr)
    if executions:
        print(f"{target}: {executions.group(1)} executions in {seconds} s")
    if run.returncode != 0:
        sys.exit(f"{target}: the fuzzer failed (exit status {run.returncode}); the input is "
                 f"saved under {work}/ (crash-*, leak-*, timeout-*): commit it under "
                 f"fuzz/regressions/{target}/ with the fix")


if __name__ == "__main__":
    main()
