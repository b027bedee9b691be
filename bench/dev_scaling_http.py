"""bench/dev_scaling.sh's HTTP client: CLIENTS threads, each with its own keep-alive connection,
send GET /work to the front for SECONDS; prints requests per second and the statuses seen.

    python3 bench/dev_scaling_http.py FRONT_URL CLIENTS SECONDS
"""
import collections
import http.client
import sys
import threading
import time
import urllib.parse

url, clients, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
parts = urllib.parse.urlsplit(url)
statuses = collections.Counter()
lock = threading.Lock()
stop_at = time.monotonic() + seconds


def client():
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    seen = collections.Counter()
    while time.monotonic() < stop_at:
        conn.request("GET", "/work")
        response = conn.getresponse()
        response.read()
        seen[response.status] += 1
    conn.close()
    with lock:
        statuses.update(seen)


threads = [threading.Thread(target=client) for _ in range(clients)]
started = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - started
ok = statuses.get(200, 0)
print(f"rps={ok / elapsed:.1f} statuses={dict(statuses)}")
