#!/usr/bin/env python3
"""Opens N idle connections to 127.0.0.1:PORT and prints how many the server
answered with 503 right away ("503 on K of N"). The first FIRST of them (0
unless given) go a second ahead of the rest, so that the server's workers
have taken them off its queue before the others arrive: the count of 503s
then does not depend on how soon those threads ran.
Usage: flood.py PORT N [FIRST]"""
import socket
import sys
import time

port, n = int(sys.argv[1]), int(sys.argv[2])
first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
connect = lambda: socket.create_connection(("127.0.0.1", port), timeout=5)
socks = [connect() for _ in range(first)]
if first:
    time.sleep(1.0)
socks += [connect() for _ in range(n - first)]
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
