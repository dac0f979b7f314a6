#!/usr/bin/env python3
"""Loopback HTTP server that records each request and sends a minimal reply.

Usage: capture_server.py PORT_FILE LOG_FILE

Listens on 127.0.0.1 on a free port, writes the port to PORT_FILE, and for
every POST appends one JSON line {method, path, headers, body} to LOG_FILE.
It replies to a form-encoded (query protocol) request with an empty
<ActionResponse> XML document and to any other request with "{}", which
the AWS CLI accepts as a successful call. It exits after 120 seconds without a
request, so a test that dies cannot leave it running for long.
"""
import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

IDLE_SECONDS = 120


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        record = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8"),
        }
        with open(self.server.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = urllib.parse.parse_qs(body.decode("utf-8"))
            action = form.get("Action", ["Unknown"])[0]
            reply = (
                f"<{action}Response><{action}Result></{action}Result>"
                "<ResponseMetadata><RequestId>capture-1</RequestId>"
                f"</ResponseMetadata></{action}Response>"
            ).encode()
            reply_type = "text/xml"
        else:
            reply = b"{}"
            reply_type = "application/x-amz-json-1.1"
        self.send_response(200)
        self.send_header("Content-Type", reply_type)
        self.send_header("Content-Length", str(len(reply)))
        self.send_header("x-amzn-RequestId", "capture-1")
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


class CaptureServer(HTTPServer):
    idle = False

    def handle_timeout(self):
        self.idle = True


def main():
    port_file, log_path = sys.argv[1], sys.argv[2]
    server = CaptureServer(("127.0.0.1", 0), Handler)
    server.log_path = log_path
    server.timeout = IDLE_SECONDS
    with open(port_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    while not server.idle:
        server.handle_request()


if __name__ == "__main__":
    main()
