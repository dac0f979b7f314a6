"""A loopback HTTP server for the rehearsal tests: /away redirects to
192.0.2.1 (TEST-NET-1, an address reserved for documentation that is never
routed), every other path returns 200 "ok". Writes its port to argv[1]."""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/away":
            self.send_response(302); self.send_header("Location", "http://192.0.2.1/x"); self.send_header("Content-Length", "0"); self.end_headers()
        else:
            b = b"ok"; self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
