"""Loopback HTTP server for the http primitive tests.

Listens on 127.0.0.1 on a free port and prints "PORT PID" on its first
output line. Routes:
  /status/CODE           responds with status CODE and body "status CODE"
  /headers               echoes the request headers as JSON, sets X-Test
  /echo                  echoes method, body and Content-Type as JSON
  /json, /badjson        a valid and an invalid JSON body
  /redirect              302 to /json
  /slow-headers?delay=S  waits S seconds before responding
  /hang                  never responds (sleeps an hour)
  /slow-body?delay=S     sends half the body, waits S seconds, sends the rest
  /large?bytes=N         N bytes of body
  /health?name=X&after=N 503 for the first N polls of X, then one
                         {"status":"starting"}, then {"status":"ok"}
  /count?name=X          how many requests /echo?name=X received
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

COUNTS = {}
LOCK = threading.Lock()


def bump(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def send(self, status, body, content_type="text/plain", extra=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def route(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = url.path
        if path.startswith("/status/"):
            code = int(path.split("/")[2])
            return self.send(code, "status %d" % code)
        if path == "/headers":
            headers = {k.lower(): v for k, v in self.headers.items()}
            return self.send(200, json.dumps(headers), "application/json", {"X-Test": "yes"})
        if path == "/echo":
            bump("echo:" + query.get("name", ""))
            reply = {"method": self.command, "body": body.decode("utf-8", "replace"),
                     "content_type": self.headers.get("Content-Type")}
            return self.send(200, json.dumps(reply), "application/json")
        if path == "/count":
            with LOCK:
                n = COUNTS.get("echo:" + query.get("name", ""), 0)
            return self.send(200, json.dumps({"count": n}), "application/json")
        if path == "/json":
            return self.send(200, '{"status": "ok", "n": 1, "list": [1, 2]}', "application/json")
        if path == "/badjson":
            return self.send(200, '{"status": "ok", ', "application/json")
        if path == "/redirect":
            return self.send(302, "", extra={"Location": "/json"})
        if path == "/hang":
            time.sleep(3600)
            return self.send(200, "too late")
        if path == "/slow-headers":
            time.sleep(float(query.get("delay", "2")))
            return self.send(200, "late")
        if path == "/slow-body":
            data = b"x" * 1000
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:500])
            self.wfile.flush()
            time.sleep(float(query.get("delay", "2")))
            self.wfile.write(data[500:])
            return None
        if path == "/large":
            n = int(query.get("bytes", "0"))
            return self.send(200, b"a" * n, "application/octet-stream")
        if path == "/health":
            polls = bump("health:" + query.get("name", ""))
            after = int(query.get("after", "3"))
            if polls <= after:
                return self.send(503, "warming up")
            if polls == after + 1:
                return self.send(200, '{"status": "starting"}', "application/json")
            return self.send(200, '{"status": "ok", "version": "1.2"}', "application/json")
        return self.send(404, "no route " + path)

    def handle_one(self):
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def handle(self):
        # Clients that time out close their end mid-request; that is expected.
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = handle_one


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("%d %d" % (server.server_address[1], os.getpid()), flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
