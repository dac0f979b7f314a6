#!/usr/bin/env python3
"""Loopback server that stores the exact bytes of each request head.

Usage: raw_head_server.py DIR

Listens on 127.0.0.1 on a free port and writes the port to DIR/port. For
each connection it reads up to the blank line that ends the request head,
writes those bytes to DIR/head-N (N counts from 1), sends "200 ok" and
closes the connection. Unlike http.server it has no 64 KiB line limit, so
header lines of any size arrive whole. It exits after 120 seconds without
a connection, so a test that dies cannot leave it running for long.
"""
import os
import socket
import sys

DIR = sys.argv[1]
IDLE_SECONDS = 120


def main():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(IDLE_SECONDS)
    with open(os.path.join(DIR, "port.tmp"), "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            return
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                head += chunk
            count += 1
            with open(os.path.join(DIR, "head-%d" % count), "wb") as f:
                f.write(head)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


if __name__ == "__main__":
    main()
