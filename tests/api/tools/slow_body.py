#!/usr/bin/env python3
"""A token holder that sends a POST's headers at once, then its 100-byte body
one byte every GAP seconds. Prints the status line the server answered with
(or "no reply"). Usage: slow_body.py PORT TOKEN GAP"""
import socket
import sys
import time

port, token, gap = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(("POST /v1/hosts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n" % token).encode())
reply = b""
try:
    for _ in range(100):
        s.sendall(b" ")
        time.sleep(gap)
except OSError:
    pass
try:
    s.settimeout(5)
    while b"\r\n" not in reply:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
except OSError:
    pass
print(reply.split(b"\r\n")[0].decode() if reply else "no reply", flush=True)
