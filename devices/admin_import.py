"""Import from the admin: a CSV of devices to register or update, or of devices to reserve, unreserve, ban or unban.

The operator uploads a file and chooses the operation; the page shows the dry run's outcome (totals, and the first
SHOWN rows and failed rows), then applies it. Both runs are the command's own: its columns and its operation
(import_devices, reserve_devices, ban_devices), given to bulk_run with dry_run and then without, and the same
per-row report as `--report`.

The upload is kept in a storage (STORAGES["device_imports"]) under a random token recorded in the operator's
session with the file's SHA-256 and the operation chosen. Applying takes only the token from the client: it reads
the stored file again, checks its hash, and runs what the session recorded. Each run's report is written to a
temporary file as its batches end, then kept in the storage and downloaded from there as a stream; the page holds
only its first rows, whatever the file's size.
"""

import csv
import hashlib
import io
import secrets
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import storages
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from devices.admin_page_actions import staff_actor
from devices.bulk import FAILED, Row, bulk_run
from devices.errors import DomainError
from devices.management.commands import ban_devices, import_devices, reserve_devices
from devices.management.rows import BadHeader, RowsCommand, csv_rows, header_positions, report_header, report_line
from devices.management.rows import summary as run_summary
from devices.services import ban_reason_clean

# Rows of outcomes shown on the page (and failed rows, separately); the rest is in the report.
SHOWN = 100
# Imports a session keeps (their files and reports); older ones are deleted.
KEPT_PER_SESSION = 5
# Files left by imports never applied are deleted after this long.
KEPT_FOR = timedelta(days=1)
SESSION_KEY = "device_imports"
REPORTS = {"dry-run": "dry run", "applied": "applied"}


@dataclass(frozen=True)
class Choice:
    """An operation offered: the command whose columns and operation it runs, with the options it passes."""

    label: str
    command: type[RowsCommand]
    options: dict
    adds: bool = False  # registers devices: needs the add permission too


CHOICES = {
    "import": Choice("Register or update devices (as import_devices)", import_devices.Command, {}, adds=True),
    "reserve": Choice("Reserve devices (as reserve_devices)", reserve_devices.Command, {"unreserve": False}),
    "unreserve": Choice(
        "Make reserved devices available (reserve_devices --unreserve)", reserve_devices.Command, {"unreserve": True}
    ),
    "ban": Choice("Ban devices, with a reason (ban_devices --reason)", ban_devices.Command, {"unban": False}),
    "unban": Choice("Lift bans (ban_devices --unban)", ban_devices.Command, {"unban": True}),
}


def import_storage():
    return storages["device_imports"]


class DeviceImportForm(forms.Form):
    operation = forms.ChoiceField(widget=forms.RadioSelect)
    file = forms.FileField(
        label="CSV file",
        help_text="A header row, then one row per device. To register or update: type,mac,serial_number,name,"
        "version[,status]. Otherwise: uuid, or type with mac and/or serial_number. UTF-8, with or without a "
        "byte-order mark.",
    )
    reason = forms.CharField(
        required=False, max_length=255, label="Ban reason", help_text="Required to ban; kept with each ban."
    )
    change_type = forms.BooleanField(
        required=False,
        label="Change the type of a device a row names with another type (--change-type)",
        help_text="Without it, such a row fails and the device keeps its type.",
    )

    def __init__(self, *args, may_add: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["operation"].choices = [
            (key, choice.label) for key, choice in CHOICES.items() if may_add or not choice.adds
        ]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("operation") == "ban":
            try:
                cleaned["reason"] = ban_reason_clean(cleaned.get("reason", ""))
            except DomainError as error:
                self.add_error("reason", error.message)
        return cleaned

    def options(self) -> dict:
        """The command's options for the operation chosen."""
        key = self.cleaned_data["operation"]
        options = dict(CHOICES[key].options)
        if key == "import":
            options["change_type"] = self.cleaned_data["change_type"]
        if key == "ban":
            options["reason"] = self.cleaned_data["reason"]
        return options


@dataclass
class Outcome:
    """What a run of the file did: totals, its first rows and failed rows, its report's name in the storage."""

    counts: Counter = field(default_factory=Counter)
    shown: list[Row] = field(default_factory=list)
    failures: list[Row] = field(default_factory=list)
    ignored: str = ""
    error: str = ""
    summary: str = ""
    report: str = ""


def _sha256(storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.open(name, "rb") as stored:
        for chunk in stored.chunks():
            digest.update(chunk)
    return digest.hexdigest()


def run_file(*, record: dict, actor, dry_run: bool) -> Outcome:
    """Run the stored file of `record` through bulk_run, as its command does; write the report into the storage."""
    storage = import_storage()
    choice = CHOICES[record["operation"]]
    command = choice.command()
    outcome = Outcome()
    with storage.open(record["file"], "rb") as stored, tempfile.TemporaryFile() as report_file:
        text = io.TextIOWrapper(stored, encoding="utf-8-sig", newline="")
        report = io.TextIOWrapper(report_file, encoding="utf-8", newline="")
        reader = csv.reader(text)
        writer = csv.writer(report)
        writer.writerow(report_header(command.columns))
        try:
            positions, outcome.ignored = header_positions(next(reader, None), command.required_columns, command.columns)

            def done(batch: list[Row]) -> None:
                for row in batch:
                    outcome.counts[row.outcome] += 1
                    if len(outcome.shown) < SHOWN:
                        outcome.shown.append(row)
                    if row.outcome == FAILED and len(outcome.failures) < SHOWN:
                        outcome.failures.append(row)
                writer.writerows(report_line(row, command.columns) for row in batch)

            bulk_run(
                command.operation(record["options"]),
                csv_rows(reader, positions),
                actor=actor,
                batch_size=command.default_batch_size,
                dry_run=dry_run,
                done=done,
            )
        except BadHeader as error:
            outcome.error = str(error)
        except csv.Error as error:
            outcome.error = f"Not a readable CSV file: {error}"
        except UnicodeDecodeError:
            outcome.error = "Not UTF-8 text."
        text.detach()  # the stored file is closed by its own `with`
        report.flush()
        report.detach()
        outcome.summary = run_summary(outcome.counts, dry_run=dry_run)
        report_file.seek(0)
        kind = "dry-run" if dry_run else "applied"
        outcome.report = storage.save(f"{record['token']}.{kind}.csv", File(report_file))
    return outcome


class DeviceImportMixin:
    """An "Import CSV" button on the device list, for staff who may change devices (and add them, to register)."""

    import_template = "admin/devices/device/import.html"

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}_import"
        urls = [
            path("import/", self.admin_site.admin_view(self.import_view), name=name),
            path("import/<str:token>/apply/", self.admin_site.admin_view(self.import_apply_view), name=f"{name}_apply"),
            path(
                "import/<str:token>/<str:kind>.csv",
                self.admin_site.admin_view(self.import_report_view),
                name=f"{name}_report",
            ),
        ]
        return [*urls, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        context = dict(extra_context or {})
        if self.has_change_permission(request):
            context["import_url"] = reverse("admin:devices_device_import")
        return super().changelist_view(request, extra_context=context)

    # -- the views ----------------------------------------------------------------------------------------------

    def import_view(self, request):
        """The form; posted, the file is stored and its dry run shown."""
        self._check_may_import(request)
        may_add = self.has_add_permission(request)
        if request.method == "POST":
            form = DeviceImportForm(request.POST, request.FILES, may_add=may_add)
            if form.is_valid():
                record = self._store(request, form)
                outcome = run_file(record=record, actor=staff_actor(request), dry_run=True)
                record.update(dry_run=outcome.summary, dry_run_report=outcome.report, failed=bool(outcome.error))
                self._remember(request, record)
                return self._render(request, record=record, outcome=outcome, dry_run=True)
        else:
            form = DeviceImportForm(may_add=may_add, initial={"operation": "import" if may_add else "reserve"})
        return self._render(request, form=form)

    def import_apply_view(self, request, token: str):
        """Apply the dry run of `token`'s file: the stored file, if unchanged, with the operation recorded."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._check_may_import(request)
        record = self._record(request, token)
        if CHOICES[record["operation"]].adds and not self.has_add_permission(request):
            raise PermissionDenied
        if record.get("failed"):
            self.message_user(request, "This file could not be read: upload a corrected one.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:devices_device_import"))
        if record.get("applied"):
            self.message_user(request, "This file was applied already; upload it again to run it again.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:devices_device_import"))
        storage = import_storage()
        if not storage.exists(record["file"]) or _sha256(storage, record["file"]) != record["sha256"]:
            self.message_user(request, "The uploaded file is gone or changed: upload it again.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:devices_device_import"))
        outcome = run_file(record=record, actor=staff_actor(request), dry_run=False)
        storage.delete(record["file"])
        record.update(applied=outcome.summary, applied_report=outcome.report)
        self._remember(request, record)
        level = messages.WARNING if outcome.counts[FAILED] or outcome.error else messages.SUCCESS
        self.message_user(request, f"Applied: {outcome.summary}", level)
        return self._render(request, record=record, outcome=outcome, dry_run=False)

    def import_report_view(self, request, token: str, kind: str):
        """A run's per-row report, streamed from the storage."""
        self._check_may_import(request)
        record = self._record(request, token)
        name = record.get("dry_run_report" if kind == "dry-run" else "applied_report") if kind in REPORTS else None
        storage = import_storage()
        if not name or not storage.exists(name):
            raise Http404("No such report.")
        stem = record["name"].rsplit(".", 1)[0] or "devices"
        return FileResponse(
            storage.open(name, "rb"), as_attachment=True, filename=f"{stem}-{kind}-report.csv", content_type="text/csv"
        )

    # -- helpers ------------------------------------------------------------------------------------------------

    def _check_may_import(self, request) -> None:
        if not self.has_change_permission(request):
            raise PermissionDenied

    def _store(self, request, form: DeviceImportForm) -> dict:
        """Keep the upload under a new token; the record of what it is and what to do with it."""
        upload = form.cleaned_data["file"]
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        token = secrets.token_urlsafe(18)
        storage = import_storage()
        self._forget_stale(storage)
        upload.seek(0)
        stored = storage.save(f"{token}.upload.csv", upload)
        return {
            "token": token,
            "file": stored,
            "name": upload.name,
            "sha256": digest.hexdigest(),
            "operation": form.cleaned_data["operation"],
            "options": form.options(),
            "at": timezone.now().isoformat(),
        }

    @staticmethod
    def _forget_stale(storage) -> None:
        """Delete what imports left over a day ago (never applied, or reports not fetched)."""
        try:
            _folders, files = storage.listdir("")
        except FileNotFoundError:
            return
        limit = timezone.now() - KEPT_FOR
        for name in files:
            try:
                if storage.get_modified_time(name) < limit:
                    storage.delete(name)
            except FileNotFoundError:
                continue  # another request deleted it

    def _remember(self, request, record: dict) -> None:
        kept = [r for r in request.session.get(SESSION_KEY, []) if r["token"] != record["token"]]
        kept.append(record)
        storage = import_storage()
        for old in kept[:-KEPT_PER_SESSION]:
            for name in (old.get("file"), old.get("dry_run_report"), old.get("applied_report")):
                if name:
                    storage.delete(name)
        request.session[SESSION_KEY] = kept[-KEPT_PER_SESSION:]

    @staticmethod
    def _record(request, token: str) -> dict:
        for record in request.session.get(SESSION_KEY, []):
            if secrets.compare_digest(record["token"], token):
                return record
        raise Http404("No such import in this session.")

    def _render(self, request, *, form=None, record=None, outcome=None, dry_run=True):
        choice = CHOICES[record["operation"]] if record else None
        columns = choice.command.columns if choice else ()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import devices from CSV",
            "form": form,
            "record": record,
            "choice": choice,
            "outcome": outcome,
            "dry_run": dry_run,
            "columns": columns,
            "shown": SHOWN,
            "rows": [_cells(row, columns) for row in outcome.shown] if outcome else [],
            "failures": [_cells(row, columns) for row in outcome.failures] if outcome else [],
            # Failed rows past the first ones shown get a table of their own.
            "failures_beyond": bool(outcome)
            and outcome.counts[FAILED] > sum(row.outcome == FAILED for row in outcome.shown),
            "totals": sorted(outcome.counts.items()) if outcome else [],
        }
        return TemplateResponse(request, self.import_template, context)


def _cells(row: Row, columns: tuple[str, ...]) -> dict:
    return {
        "line": row.line,
        "values": [row.values.get(c, "") for c in columns],
        "outcome": row.outcome,
        "message": row.message,
    }
