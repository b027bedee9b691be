"""valgrind memcheck over 1,000 invocations of the runtime loop: every kind of handler error,
bad events, successes, streamed responses; fails on any invalid access and on any definite or indirect leak.
The headers vary as Lambda's do (tests/runtime_api.py: a new trace id every time, a client context and
identity now and then); here also sent empty, left out, or with a trace id long enough to regrow the
buffer _X_AMZN_TRACE_ID lives in.

Run from the repository root: python3 tests/valgrind_check.py
Environment: MOONRUN_BIN (default build/moonrun), VALGRIND (default valgrind),
VALGRIND_INVOCATIONS (default 1000).
"""

import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from memcheck import Memcheck  # noqa: E402
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


def headers(i):
    """Header variations on top of the server's own."""
    if i % 13 == 0:  # as Lambda Managed Instances send them when there is no value
        return {"Lambda-Runtime-Client-Context": "", "Lambda-Runtime-Cognito-Identity": "",
                "Lambda-Runtime-Trace-Id": ""}
    if i % 17 == 0:
        return {"Lambda-Runtime-Trace-Id": None}
    if i % 19 == 0:
        return {"Lambda-Runtime-Trace-Id": "Root=1-%08x-%s;Parent=%016x;Sampled=1;Lineage=%s"
                % (i, "a" * 24, i, "b" * (200 * (i % 7)))}
    return None


def main():
    count = int(os.environ.get("VALGRIND_INVOCATIONS", "1000"))
    binary = os.environ.get("MOONRUN_BIN", os.path.join(REPO, "build", "moonrun"))
    memcheck = Memcheck("valgrind")
    command = memcheck.command(binary)
    with RuntimeAPI() as api:
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api.address, _HANDLER="errors.handler",
                   LAMBDA_TASK_ROOT=os.path.join(HERE, "handlers"), MOONRUN_MEMORY_LIMIT_MB="32")
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ids = [api.push(event, headers=headers(i)) for i, event in enumerate(events(count))]
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
    errors = sum(1 for r in api.results if r.kind == "error")
    print("%d invocations (%d errors posted), valgrind exit code %d" % (count, errors, code))
    return memcheck.verdict(code)


if __name__ == "__main__":
    sys.exit(main())
