"""Benchmark: the admin device list on PostgreSQL with many devices.

Fills the database at DATABASE_URL (created when missing) up to --devices
devices with one INSERT ... SELECT over generate_series, then times the
admin's device list through Django's request handling: unfiltered, filtered
and searched. Prints a Markdown table of the median and worst of --repeat runs.

    make bench-admin            # 200,000 devices
    DATABASE_URL=... .venv/bin/python bench/admin_list.py --devices 1000000
"""

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/devices_bench")


def ensure_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def fill(target: int) -> None:
    from django.db import connection

    from devices.models import Account, Device

    have = Device.objects.count()
    if have >= target:
        print(f"{have} devices present")
        return
    if not Account.objects.exists():
        Account.objects.bulk_create(
            Account(login=f"customer{i}@example.com", name=f"Customer {i}") for i in range(1000)
        )
    first_account = Account.objects.order_by("pk").values_list("pk", flat=True).first()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Statuses spread like a live fleet: most available, a share active with owners, some reserved,
        # a few transient; one device in fifty banned; types mixed.
        cursor.execute(
            """
            INSERT INTO devices_device (uuid, type, mac, serial_number, name, version, is_online, status,
                status_until, leave_reserved, account_id, activated_at, is_banned, ban_reason, banned_by,
                created_at, updated_at)
            SELECT gen_random_uuid(),
                   (ARRAY['mediaagent', 'Mobile', 'SIP', 'flecs'])[1 + i %% 4],
                   upper(lpad(to_hex(i), 12, '0')),
                   'SN-' || lpad(i::text, 9, '0'),
                   'Device ' || i,
                   '1.' || (i %% 7),
                   i %% 3 = 0,
                   (ARRAY['available', 'available', 'available', 'active', 'active', 'reserved',
                          'available', 'active', 'deactivating', 'initializing'])[1 + i %% 10],
                   CASE WHEN i %% 10 IN (8, 9) THEN now() + interval '1 hour' END,
                   false,
                   CASE WHEN i %% 10 IN (3, 4, 7, 8) THEN %s + (i %% 1000) END,
                   CASE WHEN i %% 10 IN (3, 4, 7, 8) THEN now() END,
                   i %% 50 = 0,
                   CASE WHEN i %% 50 = 0 THEN 'benchmark' ELSE '' END,
                   '',
                   now(), now()
            FROM generate_series(%s, %s) AS i
            """,
            [first_account, have + 1, target],
        )
        cursor.execute("ANALYZE devices_device")
    print(f"inserted {target - have} devices in {time.perf_counter() - started:.1f} s")


def measure(repeat: int) -> list[tuple[str, float, float, int]]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from devices.models import Device

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first() or user_model.objects.create_superuser(
        "bench", "bench@example.com", "bench-password"
    )
    client = Client()
    client.force_login(user)
    some = Device.objects.order_by("pk")[Device.objects.count() // 2]
    colon_mac = ":".join(some.mac[i : i + 2] for i in range(0, 12, 2)).lower()
    cases = [
        ("dashboard (admin index)", "/admin/"),
        ("device list, first page", "/admin/devices/device/"),
        ("device list, page 100", "/admin/devices/device/?p=100"),
        ("filter status=reserved", "/admin/devices/device/?status__exact=reserved"),
        ("filter type=SIP, banned", "/admin/devices/device/?type=SIP&is_banned__exact=1"),
        (f"search MAC {colon_mac}", f"/admin/devices/device/?q={colon_mac}"),
        (f"search MAC start {colon_mac[:14]}", f"/admin/devices/device/?q={colon_mac[:14]}"),
        (f"search MAC start {colon_mac[:8]} (every device)", f"/admin/devices/device/?q={colon_mac[:8]}"),
        (f"search UUID start {str(some.uuid)[:8]}", f"/admin/devices/device/?q={str(some.uuid)[:8]}"),
        ("search serial number", f"/admin/devices/device/?q={some.serial_number}"),
        ("search serial part, lower case", f"/admin/devices/device/?q={some.serial_number[-7:].lower()}"),
        ("search name part", "/admin/devices/device/?q=Device%20123456"),
        ("search name part, no match", "/admin/devices/device/?q=nothing-like-it"),
        ("search name part of every device", "/admin/devices/device/?q=device"),
        ("search login part", "/admin/devices/device/?q=customer123%40"),
        ("device page", f"/admin/devices/device/{some.pk}/change/"),
        ("events of one device", f"/admin/devices/deviceevent/?q={colon_mac}"),
        ("export status=reserved (CSV)", "/admin/devices/device/export.csv?status__exact=reserved"),
        ("export every device (CSV)", "/admin/devices/device/export.csv"),
    ]
    results = []
    for label, url in cases:
        exports = "export.csv" in url
        if not exports:
            client.get(url)  # warm the cache and the connection
        timings = []
        for _ in range(min(repeat, 2) if exports else repeat):
            started = time.perf_counter()
            response = client.get(url)
            lines = sum(chunk.count(b"\n") for chunk in response.streaming_content) if response.streaming else 0
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        if exports:
            rows = lines - 1  # the header
        elif "cl" in response.context:
            rows = len(response.context["cl"].result_list)
        else:  # the device page has no change list
            rows = 1
        results.append((label, statistics.median(timings), max(timings), rows))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=200_000, help="Devices in the table (default 200,000).")
    parser.add_argument("--repeat", type=int, default=7, help="Timed requests per case (default 7).")
    args = parser.parse_args()

    import django

    django.setup()
    ensure_database()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client then sees each response's template context
    call_command("migrate", verbosity=0)
    fill(args.devices)
    from devices.models import Device

    total = Device.objects.count()
    results = measure(args.repeat)
    print(f"\n{total:,} devices, PostgreSQL {connection.pg_version // 10000}, {os.cpu_count()} cores\n")
    print("| request | median ms | worst ms | rows |")
    print("|---|---:|---:|---:|")
    for label, median, worst, rows in results:
        print(f"| {label} | {median:.0f} | {worst:.0f} | {rows} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak memory of this process, the exports included: {peak:.0f} MB")


if __name__ == "__main__":
    main()
