"""Slow clients hold nginx, not gunicorn's workers."""

import socket
import threading
import time

from tests.serving.stack import request, requires_nginx

pytestmark = requires_nginx

SECONDS = 20


class Tricklers(threading.Thread):
    """`count` clients each sending its request a line a second: headers (or, with `body`, the body a byte a
    second) for as long as the test runs; a client the server drops starts again."""

    def __init__(self, connect, count: int, *, body: bool = False):
        super().__init__(daemon=True)
        self.connect, self.count, self.body = connect, count, body
        self.stopping = threading.Event()
        self.connections = self.dropped = 0

    def open(self) -> socket.socket:
        sock = self.connect()
        if self.body:
            sock.sendall(b"POST /api/v2/device HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{")
        else:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        self.connections += 1
        return sock

    def run(self) -> None:
        clients = [self.open() for _ in range(self.count)]
        tick = 0
        while not self.stopping.wait(1):
            tick += 1
            for i, sock in enumerate(clients):
                try:
                    sock.sendall(b" " if self.body else b"X-Trickle-%d: %d\r\n" % (tick, tick))
                except OSError:
                    self.dropped += 1
                    sock.close()
                    clients[i] = self.open()
        for sock in clients:
            sock.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


def probe_for(port: int, seconds: float) -> list[tuple[int | None, float]]:
    """/healthz every 0.2 s, each with 2 s to answer: (status or None, seconds taken)."""
    probes, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            status = request(port, "GET", "/healthz", timeout=2).status
        except OSError:
            status = None
        probes.append((status, round(time.monotonic() - started, 3)))
        time.sleep(0.2)
    return probes


def test_a_hundred_clients_trickling_headers_for_20_s_leave_every_probe_answered_within_2_s(stack):
    # given: 100 clients trickling headers, 20 more trickling bodies
    headers = Tricklers(lambda: socket.create_connection(("127.0.0.1", stack.port), timeout=5), 100)
    bodies = Tricklers(lambda: socket.create_connection(("127.0.0.1", stack.port), timeout=5), 20, body=True)
    headers.start()
    bodies.start()
    try:
        # when
        probes = probe_for(stack.port, SECONDS)
    finally:
        headers.stop()
        bodies.stop()
    # then: every probe answered in time
    failed = [probe for probe in probes if probe[0] != 200 or probe[1] >= 2]
    assert len(probes) >= 50 and not failed, failed
    # and the tricklers were there all along: nginx dropped each header trickler after client_header_timeout
    # (10 s) and it started again; the body tricklers, sending a byte a second, were never dropped
    assert headers.dropped >= 100
    assert bodies.dropped == 0


def test_two_clients_trickling_headers_straight_to_gunicorn_stop_it(stack):
    """What nginx is for: without it, two slow clients hold both sync workers and the service stops."""

    def to_gunicorn() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(5)
        sock.connect(str(stack.socket_path))
        return sock

    def probe() -> bool:
        with to_gunicorn() as sock:
            sock.settimeout(2)
            sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            try:
                return b" 200 " in sock.recv(64)
            except TimeoutError:
                return False

    assert probe()
    tricklers = Tricklers(to_gunicorn, 2)
    tricklers.start()
    try:
        time.sleep(0.5)
        assert not probe()
    finally:
        tricklers.stop()
    # and once they are gone the workers serve again
    deadline = time.monotonic() + 30
    while not probe():
        assert time.monotonic() < deadline
