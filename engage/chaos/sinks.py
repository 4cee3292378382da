"""The receiving ends the fault schedule gives engage's other sinks: a webhook that answers
slowly and records what it got, and an SMTP server that takes every message to its end
and then refuses it for now (451), so each e-mail is retried and finally dead-lettered.

Both run in threads of the process that runs the schedule, on free loopback ports, and
need nothing beyond the standard library.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engage.processes import free_port


class SlowWebhook:
    """Answers every POST 200 after `delay_s`, and keeps what it was sent."""

    def __init__(self, delay_s: float = 0.3) -> None:
        self.delay_s = delay_s
        self.port = free_port()
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                time.sleep(owner.delay_s)
                with owner._lock:
                    owner.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        class Server(ThreadingHTTPServer):
            # socketserver listens with a backlog of 5: a sink's batch of concurrent
            # posts would be refused, which is not the slowness this server stands for.
            request_queue_size = 256
            daemon_threads = True

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/actions"

    def start(self) -> SlowWebhook:
        self._thread.start()
        return self

    def received(self, prefix: str) -> list[dict[str, Any]]:
        with self._lock:
            return [b for b in self.bodies if str(b.get("customer_id", "")).startswith(prefix)]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class RefusingSmtp:
    """An SMTP server that reads each message whole, then answers 451 (try later)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.refused = 0
        owner = self

        class Session(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"220 refusing.example ESMTP\r\n")
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    verb = line[:4].upper()
                    if verb in (b"EHLO", b"HELO"):
                        self.wfile.write(b"250 refusing.example\r\n")
                    elif verb == b"DATA":
                        self.wfile.write(b"354 go ahead\r\n")
                        while self.rfile.readline() not in (b".\r\n", b".\n", b""):
                            pass
                        owner.refused += 1
                        self.wfile.write(b"451 4.3.0 try again later\r\n")
                    elif verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:  # MAIL, RCPT, RSET, NOOP
                        self.wfile.write(b"250 OK\r\n")

        class Server(socketserver.ThreadingTCPServer):
            request_queue_size = 256
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", self.port), Session)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> RefusingSmtp:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
