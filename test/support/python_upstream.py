"""A non-Node upstream for the integration tests: records each request and echoes it as JSON.

GET /__requests returns what it has recorded, so a test can read what really arrived.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORDED = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        if self.path == "/__requests":
            body = json.dumps(RECORDED).encode()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            entry = {
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_len": len(data),
            }
            RECORDED.append(entry)
            body = json.dumps({"server": "python", **entry}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)
