"""make serve's stack for the tests: started on a free port against a database of its own, and raw HTTP.

The stack is the real one (`make serve`: deploy/serve.py, nginx from Debian's package, gunicorn with the
production settings on a unix socket); its runtime directory is a temporary one, so a developer's own
`make serve` in var/serve/ is left alone.
"""

import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"]))

requires_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed: `make test` installs it as root (apt-get install nginx)"
)

# The protocols, each by one of its paths.
PATHS = {
    "billing": "/api/v1/billing/devices/activate",
    "registry": "/api/v2/device",
    "licensing": "/api/v2/device/license/activate",
    "mor": "/billing/api/device_create",
    "manage": "/api/manage/devices/",
}
# A second source address on loopback, the stack's one trusted proxy (TRUSTED_PROXIES).
TRUSTED_PROXY = "127.0.0.2"
# The variables of the project that the tests' own environment must not pass to the stack.
PROJECT_VARIABLES = ("DJANGO_", "DATABASE_URL", "MOR_", "TRUSTED_PROXIES", "THROTTLE_", "REDIS_URL", "GUNICORN_")
PROJECT_NAMES = {"WEB_CONCURRENCY", "BIND", "PORT", "SERVE_DIR", "SERVE_HOST", "NGINX", "MAKEFLAGS", "MAKELEVEL"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# Every runtime directory the tests made, removed when the session ends (tests/serving/conftest.py).
RUNTIME_DIRECTORIES: list[Path] = []


def runtime_directory() -> Path:
    """A fresh runtime directory that nginx's workers (nobody, when root runs the tests) can traverse."""
    folder = Path(tempfile.mkdtemp(prefix="serving-"))
    folder.chmod(0o755)
    RUNTIME_DIRECTORIES.append(folder)
    return folder


def stack_environment(database_url: str, **extra: str) -> dict:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(PROJECT_VARIABLES) and k not in PROJECT_NAMES
    }
    environment.update(
        DATABASE_URL=database_url,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        # Plain HTTP in the tests; HSTS on an answer still tells whether the app took the request for HTTPS.
        DJANGO_SECURE_SSL_REDIRECT="false",
        MOR_API_SECRET_KEY="serving-tests",
        THROTTLE_PUBLIC_RATE="",
        THROTTLE_BILLING_RATE="",
        TRUSTED_PROXIES=TRUSTED_PROXY,
        WEB_CONCURRENCY="2",
        DJANGO_LOG_LEVEL="WARNING",
        GUNICORN_ACCESS_LOG="",
    )
    environment.update(extra)
    return environment


# -- processes ----------------------------------------------------------------------------------------------


def children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Stack:
    """A running `make serve`."""

    process: subprocess.Popen
    port: int
    runtime: Path
    log: Path
    database_url: str
    stopped: bool = field(default=False)

    @property
    def socket_path(self) -> Path:
        return self.runtime / "run" / "gunicorn.sock"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def descendants(self) -> list[int]:
        tree, found, todo = children(), [], [self.process.pid]
        while todo:
            for child in tree.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    def gunicorn_master(self) -> int:
        return self._started_by_serve("gunicorn")

    def webhook_sender(self) -> int:
        return self._started_by_serve("deliver_webhooks")

    def _started_by_serve(self, name: str) -> int:
        tree = children()
        supervisor = next(pid for pid in tree.get(self.process.pid, []) if "deploy/serve.py" in command_line(pid))
        return next(pid for pid in tree.get(supervisor, []) if name in command_line(pid))

    def gunicorn_workers(self) -> list[int]:
        return sorted(children().get(self.gunicorn_master(), []))

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        if not self.stopped:
            self.stopped = True
            if self.process.poll() is None:
                os.kill(self.process.pid, signum)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def start_stack(database_url: str, *, runtime: Path | None = None, **extra_env: str) -> Stack:
    """`make serve` on a free port of 127.0.0.1; returns once it says it is serving."""
    runtime = runtime or runtime_directory()
    port = free_port()
    log = runtime / "make-serve.log"
    command = ["make", "-s", "--no-print-directory", "serve", f"PORT={port}", f"SERVE_DIR={runtime}"]
    command += ["SERVE_HOST=127.0.0.1", f"NGINX={NGINX}"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=stack_environment(database_url, **extra_env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # as from a terminal: make and deploy/serve.py share a process group
        )
    stack = Stack(process=process, port=port, runtime=runtime, log=log, database_url=database_url)
    deadline = time.monotonic() + 180
    while "make serve: serving" not in stack.output():
        if process.poll() is not None or time.monotonic() > deadline:
            stack.stop(signal.SIGKILL)
            raise AssertionError(f"make serve did not start:\n{stack.output()}")
        time.sleep(0.1)
    return stack


# -- HTTP -----------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


def connect(port: int, *, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def read_answer(sock: socket.socket) -> Answer:
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    return Answer(response.status, response.headers, body)


def exchange(port: int, raw: bytes, *, source: str = "127.0.0.1", timeout: float = 10) -> Answer:
    """Send `raw` bytes as they are (whatever a client could send) and read the one answer."""
    with connect(port, source=source, timeout=timeout) as sock:
        # nginx may answer and close before it has read all of it: the answer is still there to read
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        return read_answer(sock)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    **options,
) -> Answer:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    return exchange(port, head.encode() + b"\r\n" + body, **options)
