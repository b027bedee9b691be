"""Instructions per invocation (valgrind's callgrind), for figures a busy machine cannot blur:
text mode against JSON mode for a handler printing one line, and, given BASE=another moonrun
build, this build's text mode against that one's (the fast path must not have grown).

Each measurement serves N_LOW and then N_HIGH invocations (on the real Runtime API server of
tests/runtime_api.py) under callgrind; the difference of the totals over N_HIGH - N_LOW is the
cost of one invocation, start-up and shutdown cancelling out.

Run from the repository root: python3 bench/logging_instructions.py
Environment: MOONRUN (default build/moonrun), BASE (optional), VALGRIND (default valgrind),
N_LOW (200), N_HIGH (1200).
"""

import os
import re
import signal
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(REPO, "tests"))
from runtime_api import RuntimeAPI  # noqa: E402

EVENT = open(os.path.join(BENCH, "events", "small.json"), "rb").read()


def instructions(binary, handler, log_format, count):
    out = tempfile.NamedTemporaryFile(prefix="moonrun-callgrind-", delete=False).name
    with RuntimeAPI() as api:
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api.address, _HANDLER=handler,
                   LAMBDA_TASK_ROOT=BENCH, AWS_LAMBDA_LOG_FORMAT=log_format)
        proc = subprocess.Popen([os.environ.get("VALGRIND", "valgrind"), "--tool=callgrind",
                                 "--callgrind-out-file=" + out, binary], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ids = [api.push(EVENT) for _ in range(count)]
        for rid in ids:
            api.wait_result(rid, 300)
        api.wait_idle(60)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    text = open(out).read()
    os.unlink(out)
    match = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    if proc.returncode != 0 or not match:
        raise SystemExit("callgrind run failed (%s): %s" % (proc.returncode, err.decode()[-2000:]))
    return int(match.group(1))


def per_invocation(binary, handler, log_format):
    low, high = int(os.environ.get("N_LOW", "200")), int(os.environ.get("N_HIGH", "1200"))
    a = instructions(binary, handler, log_format, low)
    b = instructions(binary, handler, log_format, high)
    return (b - a) / (high - low)


def main():
    moonrun = os.path.abspath(os.environ.get("MOONRUN", os.path.join(REPO, "build", "moonrun")))
    rows = [("this build", moonrun, "echo.handler", "Text"),
            ("this build", moonrun, "print_line.handler", "Text"),
            ("this build", moonrun, "print_line.handler", "JSON")]
    base = os.environ.get("BASE")
    if base:
        rows[:0] = [("BASE", os.path.abspath(base), "echo.handler", "Text"),
                    ("BASE", os.path.abspath(base), "print_line.handler", "Text")]
    got = {}
    print("%-11s %-20s %-5s %14s" % ("build", "handler", "format", "instr/invoke"))
    for label, binary, handler, log_format in rows:
        got[label, handler, log_format] = n = per_invocation(binary, handler, log_format)
        print("%-11s %-20s %-5s %14.0f" % (label, handler, log_format, n))
    text, json_ = got["this build", "print_line.handler", "Text"], got["this build", "print_line.handler", "JSON"]
    print("\nJSON over text, one print: %+.0f instructions per invocation (%+.1f%%)"
          % (json_ - text, (json_ / text - 1) * 100))
    if base:
        for handler in ("echo.handler", "print_line.handler"):
            old, new = got["BASE", handler, "Text"], got["this build", handler, "Text"]
            print("text mode, %s, this build over BASE: %+.0f instructions (%+.2f%%)"
                  % (handler, new - old, (new / old - 1) * 100))


if __name__ == "__main__":
    main()
