"""The admin's device import in a real browser: upload, the dry run's outcome per row, apply, the report."""

import csv
import io
from pathlib import Path

import pytest

from devices.models import Device, DeviceType
from tests.browser.conftest import screenshot
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_upload_see_the_dry_run_apply_and_download_the_report(operator, tmp_path):
    # given: declared types (a transactional test starts from empty tables), a SIP phone, and a spreadsheet's
    # file: a new media agent, a typo of a type, a row that would change the phone's type
    for name in ("mediaagent", "SIP"):
        DeviceType.objects.get_or_create(name=name)
    DeviceFactory(type="SIP", mac="020000000009", serial_number=None)
    upload = tmp_path / "devices.csv"
    upload.write_text(
        "\ufefftype,mac,serial_number,name,version\n"
        "mediaagent,02:00:00:00:00:01,SN-1,Hall camera recorder,1.0\n"
        "mediaegent,02:00:00:00:00:02,SN-2,Typo,1.0\n"
        "mediaagent,02:00:00:00:00:09,,Was a phone,1.0\n",
        encoding="utf-8",
    )
    # when: Import CSV from the device list, the file chosen, the dry run
    operator.goto("/admin/devices/device/")
    operator.click("#import-csv")
    operator.check("input[name=operation][value=import]")
    operator.set_input_files("input[name=file]", str(upload))
    operator.click("#dry-run")
    operator.wait_for_selector("#import-summary")
    # then: each row's outcome, nothing written yet
    assert operator.inner_text("#import-summary") == "Dry run, nothing written: 3 rows: 1 created, 2 failed."
    outcomes = operator.locator("#import-rows tbody tr td:nth-last-child(2)").all_inner_texts()
    assert outcomes == ["created", "failed", "failed"]
    messages = operator.locator("#import-rows tbody tr td:last-child").all_inner_texts()
    assert messages[1].startswith('unknown device type "mediaegent" (declared: ')
    assert "a type changes only when asked" in messages[2]
    assert not Device.objects.filter(mac="020000000001").exists()
    screenshot(operator, "device-import.png", tmp_path)
    # when: applied
    operator.click("#apply")
    operator.wait_for_selector("#import-summary")
    # then
    assert operator.inner_text("#import-summary") == "3 rows: 1 created, 2 failed."
    assert Device.objects.get(mac="020000000001").name == "Hall camera recorder"
    assert Device.objects.get(mac="020000000009").type == "SIP"
    # and the report downloads, one row per line of the file
    with operator.expect_download() as download:
        operator.click("#download-report")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [(row["line"], row["outcome"]) for row in rows] == [("2", "created"), ("3", "failed"), ("4", "failed")]
    assert download.value.suggested_filename == "devices-applied-report.csv"
