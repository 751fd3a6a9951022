"""The shared machinery of the CSV bulk commands (SPEC section 7).

A command reads CSV rows (a file or `-` for standard input), hands them to
the bulk engine (devices.bulk.bulk_run) in batches, one transaction per
batch, reports each row's outcome (`--report FILE`) and each failure (on
standard error) as its batch ends, prints a summary line, and exits 0 when
every row succeeded, 1 when some failed and 2 on usage errors. `--dry-run`
runs every batch and rolls it back, so it reports exactly what a real run
would do.

The admin's import (devices/admin_import.py) reads its uploads with the same
functions (header_positions, csv_rows, report_line, summary) and runs the
commands' own operations.
"""

import csv
import sys
from collections import Counter
from collections.abc import Iterator

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from devices.bulk import FAILED, UNCHANGED, Operation, Row, bulk_run
from devices.choices import EventSource
from devices.services import Actor
from devices.spreadsheet import spreadsheet_safe


class BadHeader(ValueError):
    """A header row that lacks the columns an operation needs (a usage error)."""


def header_positions(
    fieldnames: list[str] | None, required_columns: tuple[tuple[str, ...], ...], columns: tuple[str, ...]
) -> tuple[dict[str, int], str]:
    """The position of each column read, from the header row, and a note naming the columns ignored ("" when
    none). Raises BadHeader."""
    if not fieldnames:
        raise BadHeader("The file is empty: it needs a header row.")
    positions: dict[str, int] = {}
    for index, name in enumerate(fieldnames):
        # A spreadsheet's UTF-8 starts with a byte-order mark; a file opened here drops it, standard input not.
        positions.setdefault(name.strip().lstrip("\ufeff").strip().lower(), index)
    if not any(all(col in positions for col in required) for required in required_columns):
        wanted = " or ".join(",".join(cols) for cols in required_columns)
        raise BadHeader(f"The header row must name the columns {wanted} (found: {','.join(fieldnames)}).")
    unknown = [name for name in positions if name and name not in columns]
    ignored = ""
    if unknown:
        ignored = f"Ignored column(s) this command does not read: {', '.join(unknown)} (it reads {', '.join(columns)})."
    return {col: positions[col] for col in columns if col in positions}, ignored


def csv_rows(reader, positions: dict[str, int]) -> Iterator[Row]:
    """The rows of a csv.reader past its header, blank lines skipped, each cell stripped."""
    for cells in reader:
        if not any(cells):
            continue  # blank line
        width = len(cells)
        values = {col: cells[i].strip() if i < width else "" for col, i in positions.items()}
        yield Row(line=reader.line_num, values=values)


def report_header(columns: tuple[str, ...]) -> list[str]:
    return ["line", *columns, "outcome", "message"]


def report_line(row: Row, columns: tuple[str, ...]) -> list:
    """A row of the per-row report (`--report`), its cells safe to open in a spreadsheet."""
    cells = (spreadsheet_safe(row.values.get(c, "")) for c in columns)
    return [row.line, *cells, row.outcome, spreadsheet_safe(row.message)]


def summary(counts: Counter, *, dry_run: bool) -> str:
    """The summary line of a run: `12 rows: 10 created, 2 failed.`"""
    total = sum(counts.values())
    parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    changed = sum(n for outcome, n in counts.items() if outcome not in (FAILED, UNCHANGED))
    prefix = "Dry run, nothing written: " if dry_run else ""
    line = f"{prefix}{total} {'row' if total == 1 else 'rows'}: {parts or 'none'}."
    if not changed:
        line += " Nothing to change."
    return line


class RowsCommand(BaseCommand):
    """Base of the commands that take CSV rows. Subclasses set `columns` and implement `operation`."""

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

    def operation(self, options: dict) -> Operation:
        """What the engine does with the rows (devices.bulk.DeviceRows, Import)."""
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
        report = self._open_report(options["report"]) if options["report"] else None
        counts: Counter = Counter()
        try:
            reader = csv.reader(stream)
            positions = self._check_header(next(reader, None))
            if report is not None:
                report.writerow(report_header(self.columns))
            self._run(self._rows(reader, positions), options, counts, report)
        except csv.Error as exc:
            raise CommandError(f"{options['file']}: not a readable CSV file: {exc}", returncode=2) from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{options['file']}: not UTF-8 text.", returncode=2) from exc
        finally:
            if stream is not sys.stdin:
                stream.close()
            if report is not None:
                self._report_file.close()
        return self._summarise(counts, options)

    def _open(self, path: str):
        if path == "-":
            return sys.stdin
        try:
            return open(path, newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}", returncode=2) from exc

    def _open_report(self, path: str):
        try:
            self._report_file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in handle()
        except OSError as exc:
            raise CommandError(f"--report {path}: {exc.strerror}", returncode=2) from exc
        return csv.writer(self._report_file)

    @staticmethod
    def _count_lines(path: str) -> int | None:
        if path == "-":
            return None
        with open(path, "rb") as stream:
            return max(sum(1 for _ in stream) - 1, 0)

    def _check_header(self, fieldnames: list[str] | None) -> dict[str, int]:
        """The position of each column the command reads, from the header row."""
        try:
            positions, ignored = header_positions(fieldnames, self.required_columns, self.columns)
        except BadHeader as error:
            raise CommandError(str(error), returncode=2) from error
        if ignored:
            self.stderr.write(ignored)
        return positions

    _rows = staticmethod(csv_rows)

    def _run(self, rows: Iterator[Row], options: dict, counts: Counter, report) -> None:
        interactive = self.stdout.isatty() and sys.stderr.isatty()
        total = self._count_lines(options["file"]) if interactive else None
        columns = self.columns

        with tqdm(total=total, unit="row", disable=not interactive, file=sys.stderr) as progress:

            def done(batch: list[Row]) -> None:
                for row in batch:
                    counts[row.outcome] += 1
                    if row.outcome == FAILED:
                        self.stderr.write(f"line {row.line}: {row.message}")
                if report is not None:
                    report.writerows(report_line(row, columns) for row in batch)
                progress.update(len(batch))

            bulk_run(
                self.operation(options),
                rows,
                actor=self.actor(),
                batch_size=options["batch_size"],
                dry_run=options["dry_run"],
                done=done,
            )

    def _summarise(self, counts: Counter, options: dict) -> None:
        total = sum(counts.values())
        self.stdout.write(summary(counts, dry_run=options["dry_run"]))
        if counts[FAILED]:
            raise CommandError(f"{counts[FAILED]} of {total} {'row' if total == 1 else 'rows'} failed.", returncode=1)


class DeviceRowsCommand(RowsCommand):
    """Rows that name existing devices: a `uuid`, or a `type` with a `mac` and/or `serial_number`."""

    required_columns = (("uuid",), ("type", "mac"), ("type", "serial_number"))
    columns = ("uuid", "type", "mac", "serial_number")
