"""`make serve`: the production stack on one host, in the foreground.

nginx (Debian's package) listens on PORT in front of gunicorn, which runs the production settings on a unix
socket. First the settings are loaded, as gunicorn will load them (they refuse to start without DATABASE_URL
and DJANGO_SECRET_KEY), then `migrate` and `collectstatic` run. Everything the stack writes is under the
runtime directory (var/serve/ by default): nginx's configuration rendered from deploy/nginx/serve.conf.in,
its pid file, temporary files and logs, and gunicorn's socket. nginx's system-wide configuration is neither
read nor changed.

Beside them, `manage.py deliver_webhooks` makes the webhook deliveries.

SIGTERM stops the stack gracefully (nginx finishes the requests it holds, then gunicorn, then the delivery in
flight), SIGINT (Ctrl-C) at once; either way nothing of it is left running. If nginx or gunicorn exits by itself,
the others are stopped and this exits with 1, for whatever supervises it to start it again; deliver_webhooks is
started again (its deliveries wait in the database).

    python deploy/serve.py --port 8080 [--host 127.0.0.1] [--dir var/serve] [--nginx /usr/sbin/nginx]
"""

import argparse
import contextlib
import ctypes
import fcntl
import grp
import importlib
import ipaddress
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF_DIR = ROOT / "deploy" / "nginx"
TEMPLATE = NGINX_CONF_DIR / "serve.conf.in"
# nginx reads paths unquoted, and some of its path directives take $variables: keep them plain.
PLAIN_PATH = re.compile(r"^[\w./+-]+$")
GRACEFUL_SECONDS = 40  # nginx's proxy_read_timeout (35 s), and gunicorn's graceful_timeout (30 s), with a margin


class Stop(Exception):
    """A signal asked the stack to stop while it was starting."""


def say(message: str) -> None:
    print(f"make serve: {message}", flush=True)


def load_settings(env: dict):
    """The production settings as gunicorn will load them; their refusal to start is make serve's."""
    env["DJANGO_SETTINGS_MODULE"] = os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    sys.path.insert(0, str(ROOT))
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings = importlib.import_module("config.settings.production")
    except ImproperlyConfigured as exc:
        raise SystemExit(f"make serve: {exc}") from None
    env.update(os.environ)  # with what the settings read from .env, for gunicorn and manage.py
    return settings


def worker_user() -> tuple[str, int] | None:
    """(nginx's `user` line, its group id) when started as root: nginx's workers then run as nobody."""
    if os.geteuid() != 0:
        return None
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    return f"user nobody {group};", nobody.pw_gid


def listen_lines(host: str, port: int) -> list[str]:
    if host:
        return [f"listen {'[' + host + ']' if ':' in host else host}:{port};"]
    lines = [f"listen {port};"]
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        lines.append(f"listen [::]:{port} ipv6only=on;")
    except OSError:
        pass  # no IPv6 on this host
    return lines


def render_nginx_conf(
    *,
    runtime: Path,
    socket_path: Path,
    port: int,
    host: str = "",
    body_limit: int | None,
    trusted_proxies: list[str],
    worker_processes: str = "auto",
) -> str:
    """nginx.conf for the stack, from deploy/nginx/serve.conf.in."""
    for path in (runtime, socket_path, NGINX_CONF_DIR):
        if not PLAIN_PATH.match(str(path)):
            raise SystemExit(f"make serve: {path}: use a path of letters, digits and ./_+- only (nginx reads it)")
    try:
        networks = [ipaddress.ip_network(proxy.strip(), strict=False) for proxy in trusted_proxies if proxy.strip()]
    except ValueError as exc:
        raise SystemExit(f"make serve: TRUSTED_PROXIES: {exc}") from None
    user = worker_user()
    fields = {
        "runtime": str(runtime),
        "deploy": str(NGINX_CONF_DIR),
        "socket": str(socket_path),
        "user": user[0] if user else "# not started as root: the workers run as the user that started nginx",
        "worker_processes": worker_processes,
        "listen": "\n".join(f"        {line}" for line in listen_lines(host, port)),
        "body_limit": str(body_limit or 0),  # None: Django reads any size, and so nginx passes any (0)
        "set_real_ip_from": "\n".join(f"    set_real_ip_from {network};" for network in networks),
        "trusted_proxies": "\n".join(f"        {network} 1;" for network in networks),
    }
    text = TEMPLATE.read_text()
    for name, value in fields.items():
        text = text.replace(f"@{name}@", value)
    left = re.search(r"@\w+@", text)
    if left:
        raise RuntimeError(f"{TEMPLATE}: {left.group()} has no value")
    return text


def prepare_runtime(runtime: Path) -> Path:
    """The runtime directory and its parts; returns the directory that holds gunicorn's socket.

    Only nginx may connect to the socket: gunicorn believes X-Forwarded-Proto from any unix-socket peer, and
    gunicorn.conf.py takes its X-Forwarded-For as the client. The socket's directory is the user's own, or,
    when root starts nginx, shared with the group of nginx's workers only.
    """
    for part in ("logs", "tmp"):
        (runtime / part).mkdir(parents=True, exist_ok=True)
    sockets = runtime / "run"
    sockets.mkdir(exist_ok=True)
    user = worker_user()
    if user:
        os.chown(sockets, 0, user[1])
        sockets.chmod(0o750)
    else:
        sockets.chmod(0o700)
    return sockets


def lock(runtime: Path):
    """One stack per runtime directory: a second one would take the first one's socket."""
    handle = (runtime / "serve.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"make serve: another make serve is running with {runtime}") from None
    return handle


def _die_with_parent() -> None:
    """In the child: SIGTERM when this supervisor dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def start(command: list[str], env: dict) -> subprocess.Popen:
    """A long-running child in its own session: a terminal's Ctrl-C reaches this supervisor only, which then
    stops the children in order."""
    return subprocess.Popen(  # noqa: S603 - our own commands
        command,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def nginx_command(nginx: str, runtime: Path) -> list[str]:
    # -e: nginx's log before it has read its configuration, which otherwise is the system-wide one.
    return [nginx, "-p", f"{runtime}/", "-c", str(runtime / "nginx.conf"), "-e", str(runtime / "logs" / "error.log")]


def gunicorn_answers(socket_path: Path, host: str) -> bool:
    """Any HTTP answer from /healthz over the socket: a worker is up."""
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(5)
            client.connect(str(socket_path))
            client.sendall(f"GET /healthz HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            return client.recv(5) == b"HTTP/"
    except OSError:
        return False


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(ready, processes: dict[str, subprocess.Popen], stopping, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        for name, process in processes.items():
            if process.poll() is not None:
                raise SystemExit(f"make serve: {name} exited with {process.returncode} while starting")
        if stopping():
            raise Stop
        if time.monotonic() > deadline:
            raise SystemExit(f"make serve: {what} did not start within {seconds:.0f} s")
        time.sleep(0.1)


def stop(processes: dict[str, subprocess.Popen], *, graceful: bool) -> None:
    """nginx first, then gunicorn, then the webhook deliveries; anything left in their process groups is killed."""
    signals = {
        # nginx: QUIT stops accepting and finishes the requests it holds (they need gunicorn); TERM is at once.
        "nginx": signal.SIGQUIT if graceful else signal.SIGTERM,
        # gunicorn: TERM lets each worker finish its request (graceful_timeout); INT is at once.
        "gunicorn": signal.SIGTERM if graceful else signal.SIGINT,
        # deliver_webhooks: either finishes the delivery in flight (WEBHOOK_TIMEOUT_SECONDS at most).
        "webhooks": signal.SIGTERM,
    }
    for name in ("nginx", "gunicorn", "webhooks"):
        process = processes.get(name)
        if process is None:
            continue
        if process.poll() is None:
            process.send_signal(signals[name])
            try:
                process.wait(timeout=GRACEFUL_SECONDS if graceful else 10)
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in time: killed")
        # What is left of it (a master that hung, workers whose master is gone) is killed, and waited for.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 5
        with contextlib.suppress(ProcessLookupError):
            while time.monotonic() < deadline:
                os.killpg(process.pid, 0)
                time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="", help="the address nginx listens on (default: every address)")
    parser.add_argument("--dir", default=str(ROOT / "var" / "serve"), help="the runtime directory")
    parser.add_argument("--nginx", default="/usr/sbin/nginx")
    args = parser.parse_args()

    env = dict(os.environ)
    settings = load_settings(env)
    if not Path(args.nginx).is_file():
        raise SystemExit(f"make serve: {args.nginx} is missing: apt-get install nginx (make serve does it as root)")
    runtime = Path(args.dir).resolve()
    runtime.mkdir(parents=True, exist_ok=True)
    _lock = lock(runtime)
    socket_path = prepare_runtime(runtime) / "gunicorn.sock"
    (runtime / "nginx.conf").write_text(
        render_nginx_conf(
            runtime=runtime,
            socket_path=socket_path,
            port=args.port,
            host=args.host,
            body_limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            trusted_proxies=settings.TRUSTED_PROXIES,
        )
    )

    stopping: list[int] = []

    def on_signal(signum, frame):
        stopping.append(signum)
        if not processes:
            raise Stop  # still preparing: subprocess.run stops its child on the way out

    processes: dict[str, subprocess.Popen] = {}
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    manage = [sys.executable, str(ROOT / "manage.py")]
    try:
        say("migrate")
        subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True)  # noqa: S603
        say("collectstatic")
        subprocess.run(  # noqa: S603 - our own commands
            [*manage, "collectstatic", "--noinput", "--verbosity", "0"], cwd=ROOT, env=env, check=True
        )
        gunicorn = [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            # gunicornc's socket beside the other, not one per user that every gunicorn on the machine shares
            f"--control-socket={socket_path.parent / 'gunicorn.ctl'}",
        ]
        processes["gunicorn"] = start(gunicorn, {**env, "BIND": f"unix:{socket_path}"})
        # A Host the app serves, so that the probe leaves no DisallowedHost error in the log.
        host = next((name for name in settings.ALLOWED_HOSTS if name[:1] not in ("", ".", "*")), "localhost")
        wait_until(lambda: gunicorn_answers(socket_path, host), processes, lambda: stopping, 60, "gunicorn")
        processes["nginx"] = start(nginx_command(args.nginx, runtime), env)
        wait_until(lambda: port_open(args.host, args.port), processes, lambda: stopping, 10, "nginx")
        processes["webhooks"] = start([*manage, "deliver_webhooks"], env)
    except subprocess.CalledProcessError as exc:
        stop(processes, graceful=False)
        say(f"{' '.join(map(str, exc.cmd[1:]))} failed ({exc.returncode})")
        return 1
    except Stop:
        stop(processes, graceful=False)
        return 0
    except BaseException:
        stop(processes, graceful=False)
        raise

    say(
        f"serving http://{args.host or '0.0.0.0'}:{args.port}/ (nginx in front of gunicorn on {socket_path}, "  # noqa: S104 - the address nginx listens on
        "and deliver_webhooks); "
        f"nginx's logs in {runtime / 'logs'}; Ctrl-C stops"
    )
    while not stopping:
        for name, process in processes.items():
            if process.poll() is None:
                continue
            if name == "webhooks":
                # Deliveries wait in the database: the site goes on, and the sender is started again.
                say(f"deliver_webhooks exited with {process.returncode}: starting it again in 5 s")
                time.sleep(5)
                processes[name] = start([*manage, "deliver_webhooks"], env)
                break
            say(f"{name} exited with {process.returncode}: stopping")
            stop(processes, graceful=False)
            return 1
        time.sleep(0.2)
    graceful = stopping[0] != signal.SIGINT
    say("stopping" + (" gracefully" if graceful else ""))
    stop(processes, graceful=graceful)
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
