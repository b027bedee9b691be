"""bench/dev_stream_ttfb.sh's client: N GETs of one URL over raw sockets (one connection each,
as a browser's first request), timing the first byte of the body and the end of the response.
Prints one line: ttfb_p50_ms=... ttfb_p99_ms=... total_p50_ms=... total_p99_ms=... bytes=...

usage: python3 bench/dev_stream_ttfb.py URL N
"""
import socket
import sys
import time
import urllib.parse


def one(url):
    parts = urllib.parse.urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    start = time.monotonic()
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
    data, first_body = b"", None
    while True:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
        if first_body is None:
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep and rest:
                first_body = time.monotonic() - start
    sock.close()
    end = time.monotonic() - start
    if not data.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"dev_stream_ttfb.py: {url} answered {data[:200]!r}")
    return first_body, end, len(data)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    url, n = sys.argv[1], int(sys.argv[2])
    one(url)  # warm: the first invocation of an instance is not what is measured
    firsts, ends, size = [], [], 0
    for _ in range(n):
        first, end, size = one(url)
        firsts.append(first * 1000)
        ends.append(end * 1000)
    print(f"ttfb_p50_ms={percentile(firsts, 50):.2f} ttfb_p99_ms={percentile(firsts, 99):.2f} "
          f"total_p50_ms={percentile(ends, 50):.2f} total_p99_ms={percentile(ends, 99):.2f} bytes={size}")


main()
