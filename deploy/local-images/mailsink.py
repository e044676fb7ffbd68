"""SMTP sink with a read API shaped like mailpit's (the subset the smoke test
reads): SMTP on :1025 keeps every message in memory; HTTP on :8025 answers
GET /api/v1/messages (newest first) and GET /readyz."""

import json
import signal
import sys
import threading
import time
import uuid
from email import message_from_bytes, policy
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

MESSAGES: list[dict] = []
LOCK = threading.Lock()


class Handler:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        msg = message_from_bytes(envelope.content, policy=policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else ""
        entry = {
            "ID": uuid.uuid4().hex,
            "From": {"Name": "", "Address": envelope.mail_from},
            "To": [
                {"Name": name, "Address": addr}
                for name, addr in getaddresses(msg.get_all("To", []))
            ],
            "Subject": str(msg.get("Subject", "")),
            "Created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "Size": len(envelope.content),
            "Snippet": " ".join(text.split())[:200],
        }
        with LOCK:
            MESSAGES.append(entry)
        return "250 Message accepted for delivery"


class Api(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        if self.path.startswith("/api/v1/messages"):
            with LOCK:
                messages = list(reversed(MESSAGES))
            n = len(messages)
            body = {"total": n, "count": n, "messages": messages}
            self._send(200, json.dumps(body).encode())
        elif self.path == "/readyz":
            self._send(200, b"ok")
        else:
            self._send(404, b'{"error": "not found"}')

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    # PID 1 of a container: without a handler SIGTERM would be ignored
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    controller = Controller(Handler(), hostname="0.0.0.0", port=1025)  # noqa: S104
    controller.start()
    print("SMTP on :1025, API on :8025", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8025), Api).serve_forever()  # noqa: S104
