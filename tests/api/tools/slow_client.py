#!/usr/bin/env python3
"""Slow-header clients: N connections to 127.0.0.1:PORT that send a request
line, then one header line every GAP seconds, LINES times, never the blank
line that ends the headers. Prints how many the server closed before the
end ("closed N of M"). Usage: slow_client.py PORT N GAP LINES"""
import socket
import sys
import time

port, n, gap, lines = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /v1/hosts HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    socks.append(s)
closed = set()
for k in range(lines):
    time.sleep(gap)
    for i, s in enumerate(socks):
        if i in closed:
            continue
        try:
            s.sendall(b"X-Slow-%d: %d\r\n" % (k, k))
        except OSError:
            closed.add(i)
print("closed %d of %d" % (len(closed), n), flush=True)
