#!/usr/bin/env python3
"""Prints a TCP port on 127.0.0.1 that is free and claimed for this test.

Ports come from 20000-32767, below Linux's ephemeral range (32768-60999), so
no outgoing connection of a parallel test (curl, an initiator, a Ceph client)
takes the port as its source between the pick and the server's listen, as a
port picked with bind(0) can be. A claim file in /tmp/vsl-ports keeps two
tests running side by side from picking the same port; a claim older than ten
minutes is stale and is taken over.
"""
import os
import random
import socket
import time

CLAIMS = "/tmp/vsl-ports"
STALE = 600
os.makedirs(CLAIMS, exist_ok=True)
for _ in range(2000):
    port = random.randint(20000, 32767)
    claim = os.path.join(CLAIMS, str(port))
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        os.close(fd)
    except FileExistsError:
        try:
            if time.time() - os.stat(claim).st_mtime < STALE:
                continue
            os.utime(claim)
        except FileNotFoundError:
            continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("free_port: no free port in 20000-32767")
