#!/usr/bin/env python3
"""What a runtime reads from disk before it asks for its first event.

    startup_bytes.py [--env K=V]... -- COMMAND [ARGS...]

Starts COMMAND against the test Runtime API server (tests/runtime_api.py) with no event queued,
waits for its first GET /next and, at that moment, sums:
  mapped    the sizes of the distinct files it has mapped (/proc/PID/maps): executable, shared
            libraries, whatever else it mmaps
  read      the bytes it has read with read() and friends (/proc/PID/io rchar): Lua files, ...
  resident  the file-backed pages actually in its memory (/proc/PID/smaps), the part of the
            mapped files that was paged in
and prints one line: mapped_bytes=... read_bytes=... total_bytes=... resident_file_kb=...
zip_mapped_bytes=... (the mapped files under the command's folder, i.e. not the base image's
glibc) and the mapped files themselves.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from runtime_api import NEXT_PATH, RuntimeAPI  # noqa: E402


def main(argv):
    if "--" not in argv:
        sys.exit("usage: startup_bytes.py [--env K=V]... -- COMMAND [ARGS...]")
    split = argv.index("--")
    options, command = argv[1:split], argv[split + 1:]
    env = dict(os.environ)
    while options:
        if options[0] != "--env" or len(options) < 2 or "=" not in options[1]:
            sys.exit("startup_bytes.py: expected --env K=V, got %r" % options[0])
        key, value = options[1].split("=", 1)
        env[key] = value
        options = options[2:]
    api = RuntimeAPI()
    api.start()
    env["AWS_LAMBDA_RUNTIME_API"] = api.address
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        api.wait_for(lambda: api.requests_matching("GET", NEXT_PATH), 60, "the first GET /next",
                     alive=lambda: process.poll() is None)
        pid = process.pid
        with open(f"/proc/{pid}/maps") as f:
            files = sorted({line.split(None, 5)[5].strip() for line in f
                            if len(line.split(None, 5)) == 6 and line.split(None, 5)[5].startswith("/")})
        with open(f"/proc/{pid}/io") as f:
            read_bytes = int(next(line for line in f if line.startswith("rchar:")).split()[1])
        resident_kb, current = 0, None
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                fields = line.split()
                if "-" in fields[0] and len(fields) >= 5:
                    current = fields[5] if len(fields) >= 6 and fields[5].startswith("/") else None
                elif fields[0] == "Rss:" and current:
                    resident_kb += int(fields[1])
    finally:
        process.kill()
        _, err = process.communicate()
        api.stop()
    if process.returncode not in (0, -9):
        sys.exit("startup_bytes.py: the runtime failed:\n" + err.decode(errors="replace"))
    home = os.path.dirname(os.path.realpath(command[0]))
    mapped = sum(os.stat(p).st_size for p in files)
    zip_mapped = sum(os.stat(p).st_size for p in files if os.path.realpath(p).startswith(home + "/"))
    print(f"mapped_bytes={mapped} read_bytes={read_bytes} total_bytes={mapped + read_bytes} "
          f"resident_file_kb={resident_kb} zip_mapped_bytes={zip_mapped}")
    for p in files:
        print(f"  {os.stat(p).st_size:>9} {p}")


if __name__ == "__main__":
    main(sys.argv)
