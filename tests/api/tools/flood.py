#!/usr/bin/env python3
"""Opens N idle connections to 127.0.0.1:PORT at once and prints how many the
server answered with 503 right away ("503 on K of N"). Usage: flood.py PORT N"""
import socket
import sys
import time

port, n = int(sys.argv[1]), int(sys.argv[2])
socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
time.sleep(1.0)
refused = 0
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(64).startswith(b"HTTP/1.1 503"):
            refused += 1
    except OSError:
        pass
for s in socks:
    s.close()
print("503 on %d of %d" % (refused, n), flush=True)
