"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1 that records what it is sent."""

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    started: float
    ended: float = 0.0

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers `status` after `delay` seconds; while `hold` is set, each request waits for `release`."""

    port: int = 0
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)  # sent with each answer
    delay: float = 0.0
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def reserve_port(self) -> "Receiver":
        """A port nothing listens on yet: the receiver is down until start()."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        return self

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                record = Received({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                with receiver.lock:
                    receiver.received.append(record)
                receiver.arrived.set()
                if receiver.hold:
                    receiver.release.wait(30)
                time.sleep(receiver.delay)
                record.ended = time.monotonic()
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received]
