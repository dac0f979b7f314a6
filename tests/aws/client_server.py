#!/usr/bin/env python3
"""Loopback capture server for the AWS client tests.

Usage: client_server.py DIR

Listens on 127.0.0.1 on a free port and writes the port to DIR/port once it
accepts connections. Every request is appended as one JSON line to
DIR/requests.jsonl (method, path, headers in order, body, client port)
before the response is sent. Responses come from DIR/script.json, a JSON list of
responses used in order; the list is reloaded, from its start, whenever the
file is replaced (tests write a temporary file and rename it). A response
is {"status": 200, "headers": {...}, "body": "...", "delay": seconds,
"drop": true}; "drop" closes the connection without answering. When the
script is used up, the answer is a minimal valid response: for a JSON
protocol request (X-Amz-Target header) "{}", otherwise the query protocol's
<ActionResponse> envelope with an empty result.
"""
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = sys.argv[1]
LOCK = threading.Lock()
STATE = {"inode": None, "queue": []}


def next_response():
    path = os.path.join(DIR, "script.json")
    with LOCK:
        try:
            stat = os.stat(path)
            inode = (stat.st_ino, stat.st_mtime_ns)
        except FileNotFoundError:
            inode = None
        if inode != STATE["inode"]:
            STATE["inode"] = inode
            STATE["queue"] = []
            if inode is not None:
                with open(path) as f:
                    STATE["queue"] = json.load(f)
        if STATE["queue"]:
            return STATE["queue"].pop(0)
    return None


def default_response(headers, body):
    if "X-Amz-Target" in headers:
        return {"status": 200, "headers": {"Content-Type": "application/x-amz-json-1.1",
                                           "x-amzn-RequestId": "req-json-1"}, "body": "{}"}
    form = urllib.parse.parse_qs(body)
    action = form.get("Action", ["Unknown"])[0]
    xml = ("<{0}Response><{0}Result></{0}Result><ResponseMetadata><RequestId>req-query-1"
           "</RequestId></ResponseMetadata></{0}Response>").format(action)
    return {"status": 200, "headers": {"Content-Type": "text/xml"}, "body": xml}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        entry = {"method": self.command, "path": self.path, "headers": list(self.headers.items()),
                 "body": body, "client_port": self.client_address[1], "time": time.time()}
        with LOCK:
            with open(os.path.join(DIR, "requests.jsonl"), "a") as f:
                f.write(json.dumps(entry) + "\n")
        response = next_response() or default_response(self.headers, body)
        if response.get("delay"):
            time.sleep(response["delay"])
        if response.get("drop"):
            self.close_connection = True
            return
        payload = response.get("body", "").encode("utf-8")
        self.send_response(response.get("status", 200))
        for name, value in response.get("headers", {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = os.path.join(DIR, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, os.path.join(DIR, "port"))
    server.serve_forever()


if __name__ == "__main__":
    main()
