#!/usr/bin/env python3
"""A stand-in for vsl serve that accepts PUT /v1/images/NAME, reads and drops
the body, and answers 201 with a SHA-256 that is not the body's: the CLI must
notice. Prints its port on stdout, serves until killed. Usage: lying_server.py"""
import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        left = int(self.headers.get("Content-Length", "0"))
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
        body = json.dumps({"request": {"id": 1}, "result": {"image": 1, "volume": 1, "size": 1,
                                                            "sha256": "0" * 64}}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
