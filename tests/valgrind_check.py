"""valgrind memcheck over 1,000 invocations of the runtime loop: every kind of handler error,
bad events, successes, streamed responses; fails on any invalid access and on any definite or indirect leak.

Run from the repository root: python3 tests/valgrind_check.py
Environment: MOONRUN_BIN (default build/moonrun), VALGRIND (default valgrind),
VALGRIND_INVOCATIONS (default 1000).
"""

import os
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from runtime_api import RuntimeAPI  # noqa: E402

REPO = os.path.dirname(HERE)
KINDS = ["ok", "error", "assert", "index_nil", "table", "code", "bad_type", "tostring",
         "tostring_raises", "number", "nil", "oom_rep", "marshal_function",
         "cycle", "nan", "inf", "invalid_utf8", "float_key", "bool_key", "table_key",
         "userdata", "ok", "ok", "stream_ok", "stream_error", "stream_bad_write", "stream_http"]


def events(count):
    """The mix of events: mostly the kinds above, a few that are not JSON or not UTF-8."""
    for i in range(count):
        if i % 97 == 0:
            yield b'{"kind": "ok", "broken": '            # invalid JSON
        elif i % 89 == 0:
            yield b'{"kind": "ok", "text": "\xff"}'       # invalid UTF-8
        elif i % 500 == 250:                             # slow under valgrind: a few
            yield {"kind": "recursion"}
        elif i % 100 == 50:
            yield {"kind": "oom_table"}
        else:
            yield {"kind": KINDS[i % len(KINDS)], "i": i, "payload": ["x" * 50, {"n": i}]}


def main():
    count = int(os.environ.get("VALGRIND_INVOCATIONS", "1000"))
    binary = os.environ.get("MOONRUN_BIN", os.path.join(REPO, "build", "moonrun"))
    log = tempfile.NamedTemporaryFile(prefix="moonrun-valgrind-", suffix=".log", delete=False).name
    command = [os.environ.get("VALGRIND", "valgrind"), "--quiet", "--error-exitcode=99",
               "--leak-check=full", "--show-leak-kinds=definite,indirect",
               "--errors-for-leak-kinds=definite,indirect", "--log-file=" + log, binary]
    with RuntimeAPI() as api:
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api.address, _HANDLER="errors.handler",
                   LAMBDA_TASK_ROOT=os.path.join(HERE, "handlers"), MOONRUN_MEMORY_LIMIT_MB="32")
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ids = [api.push(event) for event in events(count)]
            api.wait_results(len(ids), timeout=600, alive=lambda: proc.poll() is None)
            answered = {r.request_id for r in api.results}
            missing = [i for i in ids if i not in answered]
            if missing:
                print("FAIL: %d invocations were not answered" % len(missing))
                return 1
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    report = open(log, encoding="utf-8", errors="replace").read()
    errors = sum(1 for r in api.results if r.kind == "error")
    print("%d invocations (%d errors posted), valgrind exit code %d" % (count, errors, code))
    if code != 0 or report.strip():
        print("FAIL: valgrind reported problems (log %s):\n%s" % (log, report[-20000:]))
        return 1
    os.unlink(log)
    print("OK: no invalid accesses, no leaks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
