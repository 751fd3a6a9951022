"""Benchmark: throughput over real HTTP, each protocol's main path against the server's own floor.

Starts the service under gunicorn (production settings) against a fresh
PostgreSQL database filled with realistic data (100,000 media agents, 20,000
registry devices, 1,000 accounts, license keys), then drives concurrent
keep-alive clients on loopback at each endpoint in turn, for a bounded time
and number of requests, and reports requests per second, p50 and p99 latency,
errors, and each endpoint's throughput as a ratio to `/readyz` (one database
round trip: the floor) measured in the same run: each endpoint's time is cut
in slices, each right after a slice of `/readyz` as long, so a machine whose
speed drifts during the run moves both sides of a ratio together. Every request is one that
must succeed (a free device to reserve, an unused key to activate, ...), so
any error counts.

    make bench-http            # figures into bench/README.md
    make bench-http-bound      # billing activate beside bare views doing its database work (bench/probe.py)
    make bench-http BENCH_NGINX=1   # each endpoint direct to gunicorn and through make serve's nginx (--nginx)
"""

import argparse
import asyncio
import hashlib
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "bench" / "README.md"
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
NGINX_PORT = 8766  # --nginx: make serve's stack (deploy/serve.py), its own gunicorn behind nginx
NGINX_BASE = f"http://127.0.0.1:{NGINX_PORT}"
MOR_SECRET = "bench-mor-secret"  # noqa: S105 - signs the benchmark's own requests
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/devices_bench_http"

MEDIA_AGENTS = 150_000
# Each of reserve and the four activations (plain, with an Idempotency-Key, without the webhook fan-out, with
# webhooks of other event types) takes its own range of free media agents.
PER_CASE = MEDIA_AGENTS // 5
REGISTRY_DEVICES = 20_000
ACCOUNTS = 1_000
LICENSE_KEYS = 60_000


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    first_error: str = ""
    client_cpu: float = 0.0  # seconds of this process's CPU: the load generator's own share of the machine
    server_cpu: float = 0.0  # seconds of CPU of the server's processes (--nginx: gunicorn's and nginx's)
    nginx_cpu: float = 0.0  # of which nginx's

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


# -- data ---------------------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def seed() -> dict:
    """Fill the database; return what the clients need (an API key, logins, keys)."""
    from django.core.management import call_command
    from django.db import connection

    from devices.choices import AccountRole
    from devices.services import account_create, api_key_create
    from licensing.services import licenses_generate

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO devices_account (login, name, type, status, password, role, billing_properties,
                can_update_password, is_vendor, created_at, updated_at)
            SELECT 'customer' || i || '@example.com', 'Customer ' || i, 'user', 'active', '', 'user', '[]',
                   true, false, now(), now()
            FROM generate_series(1, %s) AS i
            """,
            [ACCOUNTS],
        )
        cursor.execute(
            """
            INSERT INTO devices_device (uuid, type, mac, serial_number, name, version, is_online, status,
                leave_reserved, is_banned, ban_reason, banned_by, created_at, updated_at)
            SELECT gen_random_uuid(), 'mediaagent', 'AA' || lpad(upper(to_hex(i)), 10, '0'),
                   'MA-' || lpad(i::text, 9, '0'), '', '1.0', false, 'available', false, false, '', '',
                   now(), now()
            FROM generate_series(1, %s) AS i
            """,
            [MEDIA_AGENTS],
        )
        cursor.execute(
            """
            INSERT INTO devices_device (uuid, type, mac, name, version, is_online, status, leave_reserved,
                is_banned, ban_reason, banned_by, created_at, updated_at, last_seen_at)
            SELECT gen_random_uuid(), 'Mobile', 'BB' || lpad(upper(to_hex(i)), 10, '0'), '', '14.5', true,
                   'available', false, false, '', '', now(), now(), now()
            FROM generate_series(1, %s) AS i
            """,
            [REGISTRY_DEVICES],
        )
        cursor.execute(
            """
            INSERT INTO devices_clientappinfo (device_id, device_os, device_version, app_name, app_version, ip,
                updated_at)
            SELECT id, 'iOS', '14.5', 'MyApp', '2.0', '127.0.0.1', now() FROM devices_device WHERE type = 'Mobile'
            """
        )
        cursor.execute("ANALYZE")
    _key, api_key = api_key_create(name="bench")
    account_create(login="moradmin", role=AccountRole.ADMIN)
    mor_user = account_create(login="sipuser@example.com")
    keys = []
    for _ in range(LICENSE_KEYS // 1000):
        keys += [license.key for license in licenses_generate(count=1000)]
    return {"api_key": api_key, "mor_user": mor_user.pk, "license_keys": keys}


# -- the server ---------------------------------------------------------------------------------


def server_environment(url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "benchmark-only-secret-key-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_LOG_LEVEL": "ERROR",
        "MOR_API_SECRET_KEY": MOR_SECRET,
        "THROTTLE_PUBLIC_RATE": "",
        "THROTTLE_BILLING_RATE": "",
        "GUNICORN_ACCESS_LOG": "",
    }


def wait_for_healthz(base: str, server: subprocess.Popen, seconds: float = 60) -> bool:
    import urllib.request

    deadline = time.time() + seconds
    while time.time() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def start_server(url: str, workers: int, threads: int, *, probes: bool = False) -> subprocess.Popen:
    env = server_environment(url)
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        *(["--pythonpath", str(ROOT / "bench"), "probe:application"] if probes else ["config.wsgi"]),
        "--bind",
        f"127.0.0.1:{PORT}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--no-control-socket",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    if not wait_for_healthz(BASE, server, 30):
        stop_server(server)
        raise SystemExit("gunicorn did not start")
    return server


def start_nginx_stack(url: str, workers: int) -> subprocess.Popen:
    """make serve's stack (deploy/serve.py): nginx on NGINX_PORT, gunicorn with `workers` sync workers behind it on
    a unix socket, the production settings; its runtime directory is var/bench-serve/."""
    env = {**server_environment(url), "WEB_CONCURRENCY": str(workers)}
    command = [sys.executable, str(ROOT / "deploy" / "serve.py"), "--port", str(NGINX_PORT), "--host", "127.0.0.1"]
    command += ["--dir", str(ROOT / "var" / "bench-serve")]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    if not wait_for_healthz(NGINX_BASE, server, 120):
        stop_server(server)
        raise SystemExit("make serve's stack did not start")
    return server


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


# -- the clients --------------------------------------------------------------------------------


def sign(*values: str) -> str:
    return hashlib.sha1(("".join(values) + MOR_SECRET).encode()).hexdigest()  # noqa: S324 - the protocol's


def request_makers(data: dict, *, probes: bool = False) -> dict:
    """For each endpoint, a function of a request number giving (method, path, kwargs, expected status).

    With `probes`, the bare views of bench/probe.py too, after billing activate.
    """
    bearer = {"Authorization": f"Bearer {data['api_key']}"}
    keys = data["license_keys"]
    sessions = data.setdefault("sessions", [])

    def mac(prefix: str, i: int) -> str:
        return f"{prefix}{i:010X}"

    def activation(i: int, path: str, first_device: int, headers: dict | None = None) -> tuple:
        body = {
            "login": f"customer{i % ACCOUNTS + 1}@example.com",
            "name": f"Camera {i}",
            "type": "mediaagent",
            "mac": mac("AA", first_device + i),
        }
        return "POST", path, {"json": body, "headers": headers or bearer}, 201

    probe_makers = {
        # The first range of media agents: reserve isn't run with the probes.
        "probe: activate's statement alone": lambda i: activation(i, "/probe/activate", 1),
        "probe: a POST and one query": lambda i: activation(i, "/probe/echo", 1),
    }
    return {
        "/readyz": lambda i: ("GET", "/readyz", {}, 200),
        "registry POST /api/v2/device": lambda i: (
            "POST",
            "/api/v2/device",
            {
                "json": {
                    "mac_address": mac("BB", i % REGISTRY_DEVICES + 1),
                    "device_os": "iOS",
                    "device_version": "14.5",
                    "device_type": "Mobile",
                    "app_version": "2.0",
                    "app_name": "MyApp",
                }
            },
            200,
        ),
        # A MAC no device has yet: each request is the device's first registration.
        "registry first registration": lambda i: (
            "POST",
            "/api/v2/device",
            {
                "json": {
                    "mac_address": mac("CC", i + 1),
                    "device_os": "Android",
                    "device_version": "14",
                    "device_type": "Mobile",
                    "app_version": "2.0",
                    "app_name": "MyApp",
                }
            },
            200,
        ),
        "billing reserve": lambda i: (
            "POST",
            "/api/v1/billing/devices/reserve",
            {"json": {"type": "mediaagent", "mac": mac("AA", i + 1)}, "headers": bearer},
            200,
        ),
        "billing activate": lambda i: activation(i, "/api/v1/billing/devices/activate", PER_CASE + 1),
        # Beside it, the same with the webhook fan-out off, and with webhooks that take other events (SETUPS).
        FAN_OUT_OFF: lambda i: activation(i, "/api/v1/billing/devices/activate", 3 * PER_CASE + 1),
        FAN_OUT_ELSEWHERE: lambda i: activation(i, "/api/v1/billing/devices/activate", 4 * PER_CASE + 1),
        # A new key with each request, as a billing system sends it: the first answer, stored (not a replay).
        "billing activate, Idempotency-Key": lambda i: activation(
            i,
            "/api/v1/billing/devices/activate",
            2 * PER_CASE + 1,
            {**bearer, "Idempotency-Key": f"bench-{i:08d}-7d1c2f0e-4b3a-4e9d-9c8b-1a2b3c4d5e6f"},
        ),
        **(probe_makers if probes else {}),
        "licensing activate": lambda i: (
            "POST",
            "/api/v2/device/license/activate",
            {"json": {"licenseKey": keys[i]}},
            200,
        ),
        "licensing validate": lambda i: (
            "POST",
            "/api/v2/device/license/validate",
            {"headers": {"X-Session-Id": sessions[i % len(sessions)]}},
            200,
        ),
        "MOR device_create": lambda i: (
            "POST",
            "/billing/api/device_create",
            {
                "data": {
                    "u": "moradmin",
                    "user_id": str(data["mor_user"]),
                    "pin": str(100000 + i),
                    "hash": sign(str(data["mor_user"]), str(100000 + i)),
                }
            },
            200,
        ),
    }


FAN_OUT_OFF = "billing activate, webhook fan-out trigger disabled"
FAN_OUT_ELSEWHERE = "billing activate, 5 webhooks of other event types"


def _fan_out_trigger(enabled: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        state = "ENABLE" if enabled else "DISABLE"
        cursor.execute(f"ALTER TABLE devices_deviceevent {state} TRIGGER webhooks_fan_out")


def _webhooks_elsewhere(present: bool) -> None:
    from webhooks.models import Webhook
    from webhooks.services import new_secret

    if not present:
        Webhook.objects.all().delete()
        return
    for n in range(5):
        Webhook.objects.create(url=f"https://crm{n}.example.com/h", events=["device.banned"], secret=new_secret())


# What a case changes in the database before it runs (in the bench's process), and puts back after.
SETUPS = {
    FAN_OUT_OFF: (lambda: _fan_out_trigger(False), lambda: _fan_out_trigger(True)),
    FAN_OUT_ELSEWHERE: (lambda: _webhooks_elsewhere(True), lambda: _webhooks_elsewhere(False)),
}


async def drive(result: Result, make, counter, *, concurrency, seconds, collect=None, base: str = BASE) -> None:
    """Send requests numbered from `counter` for `seconds` (or until it runs out) to the server at `base`; add them
    to `result`."""
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)

    async def client(session: aiohttp.ClientSession) -> None:
        for i in counter:
            if time.perf_counter() > deadline:
                return
            method, path, kwargs, expected = make(i)
            started = time.perf_counter()
            try:
                async with session.request(method, base + path, **kwargs) as answer:
                    body = await answer.read()
                    ok = answer.status == expected and b"<error>" not in body
                    if ok and collect is not None:
                        collect(answer, body)
            except aiohttp.ClientError as exc:
                ok, body = False, repr(exc).encode()
            if ok:
                result.latencies.append(time.perf_counter() - started)
            else:
                result.errors += 1
                result.first_error = result.first_error or body[:200].decode(errors="replace")

    async with aiohttp.ClientSession(connector=connector) as session:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        result.elapsed += time.perf_counter() - started
        result.client_cpu += time.process_time() - cpu


# Requests an endpoint can make before it runs out of what its requests need (free devices, unused keys).
LIMITS = {
    "billing reserve": PER_CASE,
    "billing activate": PER_CASE,
    "billing activate, Idempotency-Key": PER_CASE,
    FAN_OUT_OFF: PER_CASE,
    FAN_OUT_ELSEWHERE: PER_CASE,
    "probe: activate's statement alone": PER_CASE,
    "licensing activate": LICENSE_KEYS,
}


@dataclass
class Measured:
    endpoint: Result
    floor: Result  # /readyz, in the slices between the endpoint's

    @property
    def ratio(self) -> float:
        return self.endpoint.rps / self.floor.rps if self.floor.rps else 0.0


async def run_all(
    data: dict, concurrency: int, seconds: float, slices: int, only: list[str] | None = None, probes: bool = False
) -> tuple[Result, list[Measured]]:
    """Each endpoint in `slices` slices, each after a slice of /readyz as long: a machine whose speed drifts
    during the run moves an endpoint and the floor it is compared with together."""
    makers = request_makers(data, probes=probes)
    import json

    def keep_session(answer, body):
        data["sessions"].append(json.loads(body)["data"]["sessionId"]["id"])

    floor_counter = iter(range(10**9))
    # Warm every worker's connection and code paths on the floor first.
    await drive(Result("warm-up"), makers["/readyz"], floor_counter, concurrency=concurrency, seconds=2)
    every_floor, measured = Result("/readyz"), []
    for name, make in makers.items():
        if name == "/readyz" or (only and not any(word in name for word in only)):
            continue
        if name == "licensing validate" and not data["sessions"]:
            continue  # its sessions come from the licensing activations
        collect = keep_session if name == "licensing activate" else None
        counter = iter(range(LIMITS.get(name, 10**6)))
        pair = Measured(Result(name), Result(f"/readyz beside {name}"))
        setup, teardown = SETUPS.get(name, (None, None))
        if setup:
            await asyncio.to_thread(_in_django, setup)
        try:
            for _ in range(slices):
                await drive(
                    pair.floor, makers["/readyz"], floor_counter, concurrency=concurrency, seconds=seconds / slices
                )
                await drive(
                    pair.endpoint, make, counter, concurrency=concurrency, seconds=seconds / slices, collect=collect
                )
        finally:
            if teardown:
                await asyncio.to_thread(_in_django, teardown)
        measured.append(pair)
    for pair in measured:
        every_floor.latencies += pair.floor.latencies
        every_floor.errors += pair.floor.errors
        every_floor.elapsed += pair.floor.elapsed
    return every_floor, measured


def _in_django(work) -> None:
    from django.db import connections

    try:
        work()
    finally:
        connections.close_all()


def server_cpu(root: int) -> tuple[float, float]:
    """CPU seconds used so far by the processes under `root` (a server): (all of them, nginx's)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                tree.setdefault(int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]), []).append(
                    int(entry.name)
                )
            except OSError:
                continue
    total = nginx = 0.0
    todo = [root]
    while todo:
        pid = todo.pop()
        todo += tree.get(pid, [])
        try:
            stat = (Path("/proc") / str(pid) / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        total += seconds
        if "(nginx)" in stat:
            nginx += seconds
    return total, nginx


@dataclass
class SideBySide:
    direct: Result  # straight to gunicorn on TCP
    nginx: Result  # through make serve's nginx, gunicorn on a unix socket behind it

    @property
    def ratio(self) -> float:
        return self.nginx.rps / self.direct.rps if self.direct.rps else 0.0


async def run_side_by_side(
    data: dict, servers: dict[str, int], concurrency: int, seconds: float, slices: int, only: list[str] | None = None
) -> list[SideBySide]:
    """Each endpoint, /readyz included, for `seconds` each way in `slices` alternating slices, direct to gunicorn
    and through nginx: a machine whose speed drifts moves both sides of a ratio together."""
    makers = request_makers(data)
    import json

    def keep_session(answer, body):
        data["sessions"].append(json.loads(body)["data"]["sessionId"]["id"])

    warm = iter(range(10**9))
    for base in (BASE, NGINX_BASE):
        await drive(Result("warm-up"), makers["/readyz"], warm, concurrency=concurrency, seconds=2, base=base)
    measured = []
    for name, make in makers.items():
        if only and name != "/readyz" and not any(word in name for word in only):
            continue
        if name == "licensing validate" and not data["sessions"]:
            continue  # its sessions come from the licensing activations
        collect = keep_session if name == "licensing activate" else None
        counter = iter(range(LIMITS.get(name, 10**6)))
        pair = SideBySide(Result(name), Result(name))
        for i in range(slices):
            sides = [(pair.direct, BASE), (pair.nginx, NGINX_BASE)]
            for result, base in sides if i % 2 == 0 else sides[::-1]:
                cpu = server_cpu(servers[base])
                await drive(
                    result, make, counter, concurrency=concurrency, seconds=seconds / slices, collect=collect, base=base
                )
                total, nginx = server_cpu(servers[base])
                result.server_cpu += total - cpu[0]
                result.nginx_cpu += nginx - cpu[1]
        measured.append(pair)
    return measured


# -- the report ---------------------------------------------------------------------------------


def machine() -> str:
    """The processor's model name where Linux gives it, else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(
    floor: Result, measured: list[Measured], workers: int, threads: int, concurrency: int, seconds: float, slices: int
) -> str:
    lines = [
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({machine()}), "
        f"PostgreSQL and the load generator on the same machine; gunicorn {workers} worker(s) x {threads} "
        f"thread(s); {concurrency} concurrent keep-alive clients; each endpoint {seconds:.0f} s in {slices} slices, "
        f"each after a slice of /readyz as long.",
        "",
        "| endpoint | requests | req/s | p50 ms | p99 ms | p99/p50 | errors | /readyz req/s beside it | vs /readyz |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [(floor, floor.rps, None), *((m.endpoint, m.floor.rps, m.ratio) for m in measured)]
    for r, floor_rps, ratio in rows:
        p50, p99 = r.percentile(0.50), r.percentile(0.99)
        lines.append(
            f"| {r.name} | {len(r.latencies)} | {r.rps:.0f} | {p50:.1f} | {p99:.1f} | {p99 / p50 if p50 else 0:.1f} "
            f"| {r.errors} | {floor_rps:.0f} | {'1.00' if ratio is None else f'{ratio:.2f}'} |"
        )
    by_name = {m.endpoint.name: m for m in measured}
    plain, keyed = by_name.get("billing activate"), by_name.get("billing activate, Idempotency-Key")
    if plain and keyed and plain.ratio:
        kept = keyed.ratio / plain.ratio
        lines += [
            "",
            f"An Idempotency-Key keeps {kept:.0%} of billing activate's throughput ({keyed.ratio:.2f} against "
            f"{plain.ratio:.2f} of /readyz; the issue's bound: at least 80%).",
        ]
    off, elsewhere = by_name.get(FAN_OUT_OFF), by_name.get(FAN_OUT_ELSEWHERE)
    if plain and off and elsewhere and off.ratio:
        lines += [
            "",
            f"Webhooks: against billing activate with the fan-out trigger disabled ({off.ratio:.2f} of /readyz), "
            f"activate with no webhook keeps {plain.ratio / off.ratio:.0%} ({plain.ratio:.2f}), and with 5 webhooks "
            f"subscribed to other event types {elsewhere.ratio / off.ratio:.0%} ({elsewhere.ratio:.2f}).",
        ]
    return "\n".join(lines)


def side_by_side_table(measured: list[SideBySide], workers: int, concurrency: int, seconds: float, slices: int) -> str:
    lines = [
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({machine()}), PostgreSQL, nginx and the load generator "
        f"on the same machine; gunicorn {workers} sync worker(s) each way: direct on TCP (it closes every connection "
        f"after its answer) and behind make serve's nginx (deploy/) on a unix socket; {concurrency} concurrent "
        f"keep-alive clients; each endpoint {seconds:.0f} s each way, in {slices} alternating slices.",
        "",
        "| endpoint | direct req/s | p50 ms | p99 ms | via nginx req/s | p50 ms | p99 ms | nginx / direct | errors "
        "| server CPU µs/request: direct, via nginx (nginx's part) | client CPU µs/request: direct, via nginx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def per_request(result: Result, seconds: float) -> str:
        return f"{seconds / len(result.latencies) * 1e6:.0f}" if result.latencies else "-"

    for pair in measured:
        d, n = pair.direct, pair.nginx
        lines.append(
            f"| {d.name} | {d.rps:.0f} | {d.percentile(0.50):.1f} | {d.percentile(0.99):.1f} | {n.rps:.0f} "
            f"| {n.percentile(0.50):.1f} | {n.percentile(0.99):.1f} | {pair.ratio:.2f} | {d.errors + n.errors} "
            f"| {per_request(d, d.server_cpu)}, {per_request(n, n.server_cpu)} ({per_request(n, n.nginx_cpu)}) "
            f"| {per_request(d, d.client_cpu)}, {per_request(n, n.client_cpu)} |"
        )
    return "\n".join(lines)


def write_readme(report: str, block: str = "bench-http") -> None:
    text = README.read_text()
    start, end = f"<!-- {block}:start -->", f"<!-- {block}:end -->"
    block = f"{start}\n{report}\n{end}"
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), block, text, flags=re.S)
    README.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (default 1: sync workers)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--seconds", type=float, default=8, help="seconds per endpoint (default 8)")
    parser.add_argument(
        "--slices", type=int, default=4, help="slices each endpoint's time is cut in, each after /readyz (default 4)"
    )
    parser.add_argument("--no-readme", action="store_true", help="print only; leave bench/README.md alone")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="WORD",
        help="only the endpoints whose name has one of these words (implies --no-readme)",
    )
    parser.add_argument(
        "--bound",
        action="store_true",
        help="billing activate beside the bare views of bench/probe.py: how close a write path can get (implies "
        "--no-readme)",
    )
    parser.add_argument(
        "--nginx",
        action="store_true",
        help="each endpoint direct to gunicorn and through make serve's nginx (deploy/serve.py), in alternate "
        "slices; sync workers only",
    )
    args = parser.parse_args()
    if args.nginx and (args.bound or args.threads != 1):
        parser.error("--nginx measures the production stack: sync workers, no --bound")
    if args.bound:
        args.only = ["billing activate", "probe"]
    if args.only:
        args.no_readme = True

    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    sys.path.insert(0, str(ROOT))
    recreate_database(url)
    import django

    django.setup()
    print("seeding ...", flush=True)
    data = seed()
    from django.db import connections

    connections.close_all()
    if args.nginx:
        return side_by_side(url, data, args)
    server = start_server(url, args.workers, args.threads, probes=args.bound)
    try:
        floor, measured = asyncio.run(
            run_all(data, args.concurrency, args.seconds, args.slices, args.only, probes=args.bound)
        )
    finally:
        stop_server(server)
    for r in [floor, *(m.endpoint for m in measured)]:
        if r.errors:
            print(f"{r.name}: {r.errors} errors, first: {r.first_error}")
    report = table(floor, measured, args.workers, args.threads, args.concurrency, args.seconds, args.slices)
    print(report)
    if not args.no_readme:
        write_readme(report)


def side_by_side(url: str, data: dict, args) -> None:
    servers = [start_server(url, args.workers, 1), start_nginx_stack(url, args.workers)]
    pids = {BASE: servers[0].pid, NGINX_BASE: servers[1].pid}
    try:
        measured = asyncio.run(run_side_by_side(data, pids, args.concurrency, args.seconds, args.slices, args.only))
    finally:
        for server in servers:
            stop_server(server)
    for result in (r for pair in measured for r in (pair.direct, pair.nginx)):
        if result.errors:
            print(f"{result.name}: {result.errors} errors, first: {result.first_error}")
    report = side_by_side_table(measured, args.workers, args.concurrency, args.seconds, args.slices)
    print(report)
    if not args.no_readme:
        write_readme(report, "bench-http-nginx")


if __name__ == "__main__":
    main()
