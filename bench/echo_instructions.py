"""Instructions per invocation of the echo handler (valgrind's callgrind) on the small and the SQS
event, for this build and, given BASE=another moonrun build, that one: figures that a machine
shared with other work cannot blur, unlike run.sh's rates.

Each measurement serves N_LOW and then N_HIGH invocations (on the Runtime API server of
tests/runtime_api.py, which sends every per-invocation header new each time) under callgrind;
the difference of the totals over N_HIGH - N_LOW is one invocation's cost, start-up and shutdown
cancelling out. The runtime's own system calls count as one instruction each here, so this
measures the user-space work (JSON, Lua, HTTP parsing), not the kernel's.

Run from the repository root: python3 bench/echo_instructions.py
Environment: MOONRUN (default build/moonrun), BASE (optional), VALGRIND (default valgrind),
N_LOW (100), N_HIGH (600), EVENTS (default "small sqs").
"""

import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
import logging_instructions  # noqa: E402  (its callgrind harness, with another event)


def per_invocation(binary, event):
    logging_instructions.EVENT = open(os.path.join(BENCH, "events", event + ".json"), "rb").read()
    low, high = int(os.environ.get("N_LOW", "100")), int(os.environ.get("N_HIGH", "600"))
    a = logging_instructions.instructions(binary, "echo.handler", "Text", low)
    b = logging_instructions.instructions(binary, "echo.handler", "Text", high)
    return (b - a) / (high - low)


def main():
    builds = [("this build", os.path.abspath(os.environ.get("MOONRUN", os.path.join(REPO, "build", "moonrun"))))]
    if os.environ.get("BASE"):
        builds.insert(0, ("BASE", os.path.abspath(os.environ["BASE"])))
    print("%-11s %-6s %14s" % ("build", "event", "instr/invoke"))
    got = {}
    for event in os.environ.get("EVENTS", "small sqs").split():
        for label, binary in builds:
            got[label, event] = n = per_invocation(binary, event)
            print("%-11s %-6s %14.0f" % (label, event, n), flush=True)
        if ("BASE", event) in got:
            old, new = got["BASE", event], got["this build", event]
            print("%-6s this build / BASE: %.3f (%+.0f instructions)" % (event, new / old, new - old))


if __name__ == "__main__":
    main()
