"""The shared machinery of the CSV bulk commands (SPEC section 7).

A command reads CSV rows (a file or `-` for standard input), handles them in
batches of set-based SQL with one transaction per batch, reports each row's
outcome (`--report FILE`), prints a summary line, and exits 0 when every row
succeeded, 1 when some failed and 2 on usage errors. `--dry-run` runs every
batch and rolls it back, so it reports exactly what a real run would do.
"""

import csv
import io
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from django.db.models import Q
from tqdm import tqdm

from devices.choices import EventSource
from devices.macs import InvalidMac, normalize_mac
from devices.models import Device
from devices.services import Actor
from devices.spreadsheet import spreadsheet_safe

FAILED = "failed"
UNCHANGED = "unchanged"


@dataclass
class Row:
    line: int
    values: dict[str, str]
    outcome: str = ""
    message: str = ""

    def fail(self, message: str) -> None:
        self.outcome, self.message = FAILED, message


class _DryRunRollback(Exception):
    pass


class RowsCommand(BaseCommand):
    """Base of the commands that take CSV rows. Subclasses set `columns` and implement `process_batch`."""

    #: Column sets the header must contain one of, e.g. (("uuid",), ("type",)).
    required_columns: tuple[tuple[str, ...], ...] = ()
    #: Columns the command reads; others are ignored.
    columns: tuple[str, ...] = ()
    default_batch_size = 1000

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header row, or - for standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; write nothing.")
        parser.add_argument("--report", metavar="FILE", help="Write one CSV row per input row with its outcome.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=self.default_batch_size,
            help=f"Rows per transaction (default {self.default_batch_size}).",
        )
        self.add_command_arguments(parser)

    def add_command_arguments(self, parser):
        pass

    # -- subclass API -----------------------------------------------------------------

    def process_batch(self, rows: list[Row], options: dict) -> None:
        """Set each row's outcome; runs inside the batch's transaction."""
        raise NotImplementedError

    def actor(self) -> Actor:
        return Actor(source=EventSource.COMMAND, name=self.command_name())

    def command_name(self) -> str:
        return self.__module__.rsplit(".", 1)[-1]

    # -- the run ----------------------------------------------------------------------

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        stream = self._open(options["file"])
        try:
            reader = csv.DictReader(stream)
            header = self._check_header(reader.fieldnames)
            rows = self._rows(reader, header)
            results = self._run(rows, options)
        except csv.Error as exc:
            raise CommandError(f"{options['file']}: not a readable CSV file: {exc}", returncode=2) from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{options['file']}: not UTF-8 text.", returncode=2) from exc
        finally:
            if stream is not sys.stdin:
                stream.close()
        if options["report"]:
            self._write_report(options["report"], results)
        return self._summarise(results, options)

    def _open(self, path: str):
        if path == "-":
            return sys.stdin
        try:
            return open(path, newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}", returncode=2) from exc

    @staticmethod
    def _count_lines(path: str) -> int | None:
        if path == "-":
            return None
        with open(path, "rb") as stream:
            return max(sum(1 for _ in stream) - 1, 0)

    def _check_header(self, fieldnames) -> dict[str, str]:
        if not fieldnames:
            raise CommandError("The file is empty: it needs a header row.", returncode=2)
        header = {name.strip().lower(): name for name in fieldnames if name}
        if not any(all(col in header for col in required) for required in self.required_columns):
            wanted = " or ".join(",".join(cols) for cols in self.required_columns)
            raise CommandError(
                f"The header row must name the columns {wanted} (found: {','.join(fieldnames)}).", returncode=2
            )
        return header

    def _rows(self, reader: csv.DictReader, header: dict[str, str]) -> Iterator[Row]:
        for values in reader:
            row = {col: (values.get(header[col]) or "").strip() for col in self.columns if col in header}
            if not any(row.values()) and not any(values.get(k) for k in values if k):
                continue  # blank line
            yield Row(line=reader.line_num, values=row)

    def _run(self, rows: Iterator[Row], options: dict) -> list[Row]:
        results: list[Row] = []
        interactive = self.stdout.isatty() and sys.stderr.isatty()
        total = self._count_lines(options["file"]) if interactive else None
        with tqdm(total=total, unit="row", disable=not interactive, file=sys.stderr) as progress:
            while batch := list(islice(rows, options["batch_size"])):
                self._run_batch(batch, options)
                results.extend(batch)
                progress.update(len(batch))
        return results

    def _run_batch(self, batch: list[Row], options: dict) -> None:
        try:
            with transaction.atomic():
                self.process_batch(batch, options)
                if options["dry_run"]:
                    raise _DryRunRollback
        except _DryRunRollback:
            pass
        except IntegrityError:
            # A concurrent change took a MAC or serial number this batch wanted: nothing of it was written.
            for row in batch:
                if row.outcome != FAILED:
                    row.fail("conflicts with a concurrent change; nothing in this batch was written, run again")

    def _write_report(self, path: str, results: list[Row]) -> None:
        columns = list(self.columns)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["line", *columns, "outcome", "message"])
        for row in results:
            cells = [row.line, *(row.values.get(c, "") for c in columns), row.outcome, row.message]
            writer.writerow([spreadsheet_safe(cell) for cell in cells])
        try:
            with open(path, "w", newline="", encoding="utf-8") as stream:
                stream.write(buffer.getvalue())
        except OSError as exc:
            raise CommandError(f"--report {path}: {exc.strerror}", returncode=2) from exc

    def _summarise(self, results: list[Row], options: dict) -> None:
        counts = Counter(row.outcome for row in results)
        for row in results:
            if row.outcome == FAILED:
                self.stderr.write(f"line {row.line}: {row.message}")
        parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        changed = sum(n for outcome, n in counts.items() if outcome not in (FAILED, UNCHANGED))
        prefix = "Dry run, nothing written: " if options["dry_run"] else ""
        summary = f"{prefix}{len(results)} rows: {parts or 'none'}."
        if not changed:
            summary += " Nothing to change."
        self.stdout.write(summary)
        if counts[FAILED]:
            raise CommandError(f"{counts[FAILED]} of {len(results)} rows failed.", returncode=1)


def parse_mac(row: Row) -> str | None:
    """The row's canonical MAC or None; fails the row on a bad one."""
    raw = row.values.get("mac", "")
    if not raw:
        return None
    try:
        return normalize_mac(raw)
    except InvalidMac as exc:
        row.fail(f"invalid mac {raw!r}: {exc}")
        return None


class DeviceRowsCommand(RowsCommand):
    """Rows that name existing devices: a `uuid`, or a `type` with a `mac` and/or `serial_number`."""

    required_columns = (("uuid",), ("type", "mac"), ("type", "serial_number"))
    columns = ("uuid", "type", "mac", "serial_number")

    def handle(self, *args, **options):
        self._seen: dict[int, int] = {}  # device pk -> the line that named it first
        return super().handle(*args, **options)

    def resolve(self, rows: list[Row]) -> dict[int, Device]:
        """Map each good row's line to its device with one query; fail the rest."""
        refs: dict[int, tuple] = {}
        for row in rows:
            ref = self._parse_ref(row)
            if ref is not None:
                refs[row.line] = ref
        uuids = [ref[1] for ref in refs.values() if ref[0] == "uuid"]
        macs = [ref[2] for ref in refs.values() if ref[0] == "type" and ref[2]]
        serials = [ref[3] for ref in refs.values() if ref[0] == "type" and ref[3]]
        found = list(
            Device.objects.filter(Q(uuid__in=uuids) | Q(mac__in=macs) | Q(serial_number__in=serials)).only(
                "pk", "uuid", "type", "mac", "serial_number"
            )
        )
        by_uuid = {d.uuid: d for d in found}
        by_mac = {d.mac: d for d in found if d.mac}
        by_serial = {(d.type, d.serial_number): d for d in found if d.serial_number}

        resolved: dict[int, Device] = {}
        for row in rows:
            ref = refs.get(row.line)
            if ref is None:
                continue
            if ref[0] == "uuid":
                device = by_uuid.get(ref[1])
            else:
                _, type_, mac, serial = ref
                by_m = by_mac.get(mac) if mac else None
                if by_m is not None and by_m.type != type_:
                    by_m = None
                by_s = by_serial.get((type_, serial)) if serial else None
                if by_m is not None and by_s is not None and by_m.pk != by_s.pk:
                    row.fail("mac and serial_number name two different devices")
                    continue
                # When both are given, both must find the device.
                device = by_m if mac else by_s
                if mac and serial and by_s is None:
                    device = None
            if device is None:
                row.fail("device not found")
                continue
            first = self._seen.setdefault(device.pk, row.line)
            if first != row.line:
                row.fail(f"duplicate: line {first} names the same device")
                continue
            resolved[row.line] = device
        return resolved

    @staticmethod
    def _parse_ref(row: Row) -> tuple | None:
        raw_uuid = row.values.get("uuid", "")
        if raw_uuid:
            try:
                return ("uuid", uuid.UUID(raw_uuid))
            except ValueError:
                row.fail(f"invalid uuid {raw_uuid!r}")
                return None
        type_ = row.values.get("type", "")
        serial = row.values.get("serial_number", "") or None
        mac = parse_mac(row)
        if row.outcome == FAILED:
            return None
        if not type_ or not (mac or serial):
            row.fail("a row needs a uuid, or a type with a mac and/or serial_number")
            return None
        return ("type", type_, mac, serial)

    def apply_outcome(self, rows: list[Row], resolved: dict[int, Device], outcome, changed_label: str) -> None:
        changed = {d.pk for d in outcome.changed}
        for row in rows:
            device = resolved.get(row.line)
            if device is None:
                continue
            if device.pk in outcome.failed:
                row.fail(outcome.failed[device.pk].message)
            elif device.pk in changed:
                row.outcome = changed_label
            else:
                row.outcome = UNCHANGED
