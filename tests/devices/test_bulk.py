"""The bulk engine behind import_devices, reserve_devices and ban_devices (devices.bulk), on PostgreSQL."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from devices.models import Device, DeviceEvent, DeviceType
from tests.devices.test_commands import read_report, run, write
from tests.factories import DeviceFactory

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(autouse=True)
def _test_types_declared(request):
    """The types these tests import, declared (committed in a transactional test, for its subprocess)."""
    if request.node.get_closest_marker("django_db"):
        for name in ("bulktest", "t"):
            DeviceType.objects.get_or_create(name=name)


def devices_csv(path: Path, rows: int, *, start: int = 0) -> str:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["type", "mac", "serial_number", "name", "version"])
        for i in range(start, start + rows):
            writer.writerow(["bulktest", f"0A{i:010X}", f"BT-{i}", f"Device {i}", "1.0"])
    return str(path)


@pytest.mark.django_db
def test_a_dry_run_reports_a_device_named_again_in_a_later_batch_as_a_real_run_does(tmp_path):
    # given: lines 2 and 5 name the same device, in different batches of two rows
    devices = DeviceFactory.create_batch(3)
    named = [devices[0].uuid, devices[1].uuid, devices[2].uuid, devices[0].uuid]
    path = write(tmp_path, "uuid\n" + "\n".join(str(u) for u in named) + "\n")
    outputs = []
    for dry_run in (["--dry-run"], []):
        # when
        code, out, err = run("ban_devices", path, "--reason", "fraud", "--batch-size", "2", *dry_run)
        outputs.append((code, out.replace("Dry run, nothing written: ", ""), err))
    # then: both runs report the same, and the duplicate is named
    assert outputs[0] == outputs[1]
    code, out, err = outputs[1]
    assert code == 1
    assert out.strip() == "4 rows: 3 banned, 1 failed."
    assert "line 5: duplicate: line 2 names the same device" in err
    assert DeviceEvent.objects.filter(action="banned").count() == 3


@pytest.mark.django_db
def test_an_import_naming_a_mac_again_in_a_later_batch_fails_that_row(tmp_path):
    lines = ["t,02:00:00:00:00:01,,a,", "t,02:00:00:00:00:02,,b,", "t,020000000001,,c,"]
    path = write(tmp_path, "type,mac,serial_number,name,version\n" + "\n".join(lines) + "\n")
    code, out, err = run("import_devices", path, "--batch-size", "1", "--dry-run")
    assert (code, out.strip()) == (1, "Dry run, nothing written: 3 rows: 2 created, 1 failed.")
    assert "line 4: duplicate: line 2 names the same device" in err
    assert not Device.objects.exists()


@pytest.mark.django_db
def test_the_report_is_written_as_batches_end(tmp_path):
    # given: 2,000 good rows, then a line that is not UTF-8
    path = tmp_path / "rows.csv"
    devices_csv(path, 2000)
    with path.open("ab") as stream:
        stream.write(b"bulktest,0B0000000001,\xff\xfe,broken,1\n")
    report = tmp_path / "report.csv"
    # when
    code, _out, err = run("import_devices", str(path), "--batch-size", "500", "--report", str(report))
    # then: the run stops with a usage error, and the batches done before it are in the report and written
    assert code == 2
    assert "not UTF-8" in err
    rows = read_report(report)
    assert len(rows) >= 1000
    assert len(rows) % 500 == 0
    assert {row["outcome"] for row in rows} == {"created"}
    assert Device.objects.filter(type="bulktest").count() == len(rows)


@pytest.mark.django_db
def test_the_report_writes_a_cell_a_spreadsheet_would_run_as_text(tmp_path):
    path = write(
        tmp_path,
        'type,mac,serial_number,name,version\nmediaagent,02:00:00:00:00:01,,"=HYPERLINK(""http://x"")",-1\n',
    )
    report = tmp_path / "report.csv"
    assert run("import_devices", path, "--report", str(report))[0] == 0
    [row] = read_report(report)
    assert row["name"] == '\'=HYPERLINK("http://x")'
    assert row["version"] == "'-1"
    # the device keeps the value as given
    assert Device.objects.get().name == '=HYPERLINK("http://x")'


@pytest.mark.django_db
def test_every_change_of_every_command_has_one_event(tmp_path):
    # given
    path = devices_csv(tmp_path / "rows.csv", 30)
    # when: an import, a reserve and a ban, each in batches of 7, each run twice
    for command, options in (("import_devices", []), ("reserve_devices", []), ("ban_devices", ["--reason", "x"])):
        for _ in range(2):
            assert run(command, path, "--batch-size", "7", *options)[0] == 0
    # then: each device has exactly its three events, in order, by the commands
    events = DeviceEvent.objects.filter(device__type="bulktest").order_by("device_id", "id")
    assert events.count() == 90
    by_device: dict[int, list] = {}
    for event in events:
        by_device.setdefault(event.device_id, []).append((event.action, event.from_status, event.to_status))
    assert set(map(tuple, by_device.values())) == {
        (("registered", "", "available"), ("reserved", "available", "reserved"), ("banned", "reserved", "reserved"))
    }
    assert set(events.values_list("actor", flat=True)) == {"import_devices", "reserve_devices", "ban_devices"}


@pytest.mark.django_db(transaction=True)
def test_an_import_killed_midway_leaves_whole_batches_and_a_second_run_finishes_it(tmp_path):
    # given: 60,000 new devices, imported in batches of 500 by a process of its own
    rows, batch = 60_000, 500
    path = devices_csv(tmp_path / "rows.csv", rows)
    settings = connection.settings_dict
    url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, str(ROOT / "manage.py"), "import_devices", path, "--batch-size", str(batch)]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # when: it is killed once some batches are in
    deadline = time.monotonic() + 120
    while Device.objects.filter(type="bulktest").count() < 2 * batch and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    # then: it was killed before the end, and only whole batches are there, each device with its event
    assert process.returncode == -signal.SIGKILL
    imported = Device.objects.filter(type="bulktest").count()
    assert 0 < imported < rows
    assert imported % batch == 0
    assert DeviceEvent.objects.filter(device__type="bulktest", action="registered").count() == imported
    # when: run again
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)
    # then: it finishes the job
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == f"{rows} rows: {rows - imported} created, {imported} unchanged."
    assert Device.objects.filter(type="bulktest").count() == rows
    assert DeviceEvent.objects.filter(device__type="bulktest").count() == rows
