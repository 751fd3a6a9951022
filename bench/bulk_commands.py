"""Benchmark: the bulk commands on a freshly migrated PostgreSQL database, run as an operator runs them.

For each size (default 100,000 and 1,000,000 rows) it drops and creates the
database at BENCH_BULK_DATABASE_URL, migrates it (no ANALYZE by hand: the
statistics are what the commands leave), writes a CSV of new devices, then
runs `manage.py import_devices`, `reserve_devices` and `ban_devices` over it,
each twice (the second run must report every row unchanged), each a separate
process under `/usr/bin/time -v` (wall time and peak memory, start-up
included). Prints a Markdown table with the per-row cost ratio of the largest
size to the smallest; `--readme` also writes it, with the machine, into
bench/README.md between the bench-bulk markers.

    make bench-bulk
"""

import argparse
import csv
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "bench" / "README.md"
START, END = "<!-- bench-bulk:start -->", "<!-- bench-bulk:end -->"
TYPE = "mediaagent"  # a declared type (DeviceType): an import refuses others
COMMANDS = (
    ("import", "import_devices", (), "created"),
    ("reserve", "reserve_devices", (), "reserved"),
    ("ban", "ban_devices", ("--reason", "benchmark"), "banned"),
)


def manage(*args: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and the summary line of one manage.py run."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing:
        done = subprocess.run(
            ["/usr/bin/time", "-v", "-o", timing.name, sys.executable, str(ROOT / "manage.py"), *args],
            capture_output=True,
            text=True,
            env=os.environ,
            check=False,
        )
        report = timing.read()
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.+)", report).group(1)
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    rss_mb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report).group(1)) / 1024
    return seconds, rss_mb, done.stdout.strip().splitlines()[-1]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["type", "mac", "serial_number", "name", "version"])
        for i in range(rows):
            mac = f"BE{i:010X}"
            writer.writerow(
                [TYPE, ":".join(mac[j : j + 2] for j in range(0, 12, 2)), f"BULK-{i:09d}", f"Bulk {i}", "1.0"]
            )


def fresh_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    admin = urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate = [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"]
    subprocess.run(migrate, env=os.environ, check=True)


def machine(url: str) -> str:
    import psycopg

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
    cpu = models[0] if models else platform.processor()
    kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]
    return (
        f"{os.cpu_count()} cores ({cpu}), {kb / 1024 / 1024:.1f} GiB of memory, PostgreSQL {version} on the same "
        f"machine (autovacuum {autovacuum}), Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--readme", action="store_true", help="Write the table into bench/README.md.")
    args = parser.parse_args()
    url = os.environ.get("BENCH_BULK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/devices_bench_bulk")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DJANGO_DEBUG"] = "false"  # DEBUG keeps every query in memory

    results: dict[int, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            fresh_database(url)
            path = Path(folder) / f"devices-{size}.csv"
            write_csv(path, size)
            timings = results[size] = {}
            for name, command, options, label in COMMANDS:
                seconds, rss, summary = manage(command, str(path), *options)
                assert summary == f"{size} rows: {size} {label}.", summary
                timings[name] = (seconds, rss)
                seconds, rss, summary = manage(command, str(path), *options)
                assert summary == f"{size} rows: {size} unchanged. Nothing to change.", summary
                timings[f"{name} again"] = (seconds, rss)
                print(f"{size:,} {name}: {timings[name][0]:.1f} s, again {seconds:.1f} s", file=sys.stderr)
            os.unlink(path)
    table = render(results, args.sizes)
    print(table)
    if args.readme:
        text = README.read_text()
        body = f"{START}\nMeasured {_today()} on {machine(url)}.\n\n{table}\n{END}"
        README.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: body, text, flags=re.S))


def _today() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%d")


def render(results: dict, sizes: list[int]) -> str:
    names = [name for name, *_ in COMMANDS for name in (name, f"{name} again")]
    lines = [
        "| run | " + " | ".join(f"{size:,} rows: s (peak MB)" for size in sizes) + " | per-row cost ratio |",
        "|---|" + "---:|" * len(sizes) + "---:|",
    ]
    small, large = sizes[0], sizes[-1]
    for name in names:
        cells = [f"{results[size][name][0]:.1f} ({results[size][name][1]:.0f})" for size in sizes]
        ratio = (results[large][name][0] / large) / (results[small][name][0] / small)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
