"""Loopback HTTP/1.1 server for tests/wire/test_curl.lua.

Usage: python3 http_server.py PORT_FILE [LIFETIME_SECONDS [CERT KEY]]

Binds 127.0.0.1 on a free port, writes the port number to PORT_FILE and
serves until killed, or until LIFETIME_SECONDS (default 300) have passed so
a test that dies early leaves no server behind. With CERT and KEY (PEM
files) it serves HTTPS. Routes:

  /status/N         status N, body "status N"
  /echo             JSON: method, path, headers ([name, value] list),
                    body, client_port
  /delay/SECONDS    waits, then responds 200 "late"
  /slow/CHUNKS      CHUNKS chunks of "chunk\\n", 0.1 s apart (chunked)
  /big/BYTES        BYTES bytes of "x"
  /drop             closes the connection without sending a response
  /headers          a repeated Set-Cookie header and X-Custom
  /redirect/N       302 to /redirect/N-1, and /redirect/0 to /echo
"""

import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def send_body(self, status, body, content_type="text/plain", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = self.path.split("?")[0].strip("/").split("/")
        route, arg = parts[0], parts[1] if len(parts) > 1 else ""
        if route == "status":
            self.send_body(int(arg), ("status " + arg).encode())
        elif route == "echo":
            doc = {
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode("latin-1"),
                "client_port": self.client_address[1],
            }
            self.send_body(200, json.dumps(doc).encode(), "application/json")
        elif route == "delay":
            time.sleep(float(arg))
            self.send_body(200, b"late")
        elif route == "slow":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(int(arg)):
                self.wfile.write(b"6\r\nchunk\n\r\n")
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"0\r\n\r\n")
        elif route == "big":
            self.send_body(200, b"x" * int(arg))
        elif route == "drop":
            self.close_connection = True
            self.connection.close()
        elif route == "headers":
            extra = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Custom", "  padded  ")]
            self.send_body(200, b"ok", extra=extra)
        elif route == "redirect":
            n = int(arg)
            target = "/echo" if n <= 0 else "/redirect/%d" % (n - 1)
            self.send_body(302, b"", extra=[("Location", target)])
        else:
            self.send_body(404, b"no such route")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if len(sys.argv) > 4:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 300
    threading.Timer(lifetime, lambda: os._exit(0)).start()
    # Written under another name and renamed, so a reader never sees a
    # partial port number.
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
