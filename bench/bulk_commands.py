"""Benchmark: the bulk commands on PostgreSQL, run as an operator runs them.

For each size (default 10,000 and 100,000 rows) it writes a CSV of new
devices, then times `manage.py import_devices`, `reserve_devices` and
`ban_devices` over it (each a separate process, start-up included), and a
second `import_devices` run, which must change nothing. The devices it made are
deleted afterwards. Prints a Markdown table and the 100k/10k ratios.

    make bench-bulk
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TYPE = "benchbulk"  # devices of this type belong to the benchmark and are removed after it


def manage(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], capture_output=True, text=True, env=os.environ, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout.strip().splitlines()[-1]


def write_csv(path: Path, rows: int, offset: int) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["type", "mac", "serial_number", "name", "version"])
        for i in range(offset, offset + rows):
            mac = f"BE{i:010X}"
            writer.writerow(
                [TYPE, ":".join(mac[j : j + 2] for j in range(0, 12, 2)), f"BULK-{i:09d}", f"Bulk {i}", "1.0"]
            )


def cleanup() -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "DELETE FROM devices_deviceevent WHERE device_id IN (SELECT id FROM devices_device WHERE type = %s)", [TYPE]
        )
        conn.execute("DELETE FROM devices_device WHERE type = %s", [TYPE])


def ensure_schema() -> None:
    manage("migrate", "--noinput")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/devices_bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DJANGO_DEBUG"] = "false"  # DEBUG keeps every query in memory

    sys.path.insert(0, str(ROOT / "bench"))
    import django
    from admin_list import ensure_database

    sys.path.insert(0, str(ROOT))
    django.setup()
    ensure_database()
    ensure_schema()
    cleanup()

    results: dict[int, dict[str, float]] = {}
    lines = [
        "| rows | import_devices s | second import s | reserve_devices s | ban_devices s |",
        "|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for offset, size in enumerate(args.sizes):
            path = Path(folder) / f"devices-{size}.csv"
            write_csv(path, size, offset * 10_000_000)
            timings = {}
            timings["import"], summary = manage("import_devices", str(path))
            assert summary == f"{size} rows: {size} created.", summary
            timings["again"], summary = manage("import_devices", str(path))
            assert summary.endswith("Nothing to change."), summary
            timings["reserve"], summary = manage("reserve_devices", str(path))
            assert summary == f"{size} rows: {size} reserved.", summary
            timings["ban"], summary = manage("ban_devices", str(path), "--reason", "benchmark")
            assert summary == f"{size} rows: {size} banned.", summary
            results[size] = timings
            lines.append(
                f"| {size:,} | {timings['import']:.1f} | {timings['again']:.1f} | {timings['reserve']:.1f} "
                f"| {timings['ban']:.1f} |"
            )
            cleanup()
    print("\n".join(lines))
    if len(args.sizes) >= 2:
        small, large = args.sizes[0], args.sizes[-1]
        ratios = {name: results[large][name] / results[small][name] for name in results[small]}
        print(f"\n{large:,} / {small:,} rows, time ratio: " + ", ".join(f"{k} {v:.1f}x" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
