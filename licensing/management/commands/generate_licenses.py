import csv
import sys
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from devices.management.rows import spreadsheet_safe
from devices.models import Account
from licensing.models import License
from licensing.services import licenses_generate

COLUMNS = ["key", "max_activations", "account", "expires_at", "reference"]


class Command(BaseCommand):
    help = (
        "Generate license keys and write them as CSV (a header row, then one row per key: key,max_activations,"
        "account,expires_at,reference) to --output or standard output. With --reference the run is safe to "
        "repeat: keys already generated under that reference count towards --count, and every key of the "
        "reference is written. Exit 2 on usage errors."
    )

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="How many keys the batch should have.")
        parser.add_argument("--account", metavar="LOGIN", help="The account whose pool the keys join.")
        parser.add_argument("--max-activations", type=int, default=1, help="Devices per key (default 1).")
        parser.add_argument(
            "--expires", metavar="DATE", help="When the keys expire: YYYY-MM-DD (00:00 UTC) or an ISO date-time."
        )
        parser.add_argument("--reference", default="", help="Name of the batch, e.g. an order number.")
        parser.add_argument("--output", metavar="FILE", help="Write the CSV here instead of standard output.")
        parser.add_argument("--dry-run", action="store_true", help="Say what would be generated; write nothing.")
        parser.add_argument("--batch-size", type=int, default=1000, help="Keys per transaction (default 1000).")

    def handle(self, *args, **options):
        count, max_activations, batch_size = options["count"], options["max_activations"], options["batch_size"]
        if count < 1 or max_activations < 1 or batch_size < 1:
            raise CommandError("--count, --max-activations and --batch-size must be at least 1.", returncode=2)
        account = self._account(options["account"])
        expires_at = self._expiry(options["expires"])
        reference = options["reference"].strip()
        if len(reference) > 100:
            raise CommandError("--reference has at most 100 characters.", returncode=2)

        existing = (
            list(License.objects.filter(reference=reference).select_related("account").order_by("pk"))
            if reference
            else []
        )
        missing = max(count - len(existing), 0)
        # A summary must not mix with CSV written to standard output.
        report = self.stdout if options["output"] else self.stderr
        if options["dry_run"]:
            report.write(f"Dry run, nothing written: {missing} key(s) would be generated.")
            return
        created: list[License] = []
        interactive = sys.stderr.isatty()
        with tqdm(total=missing, unit="key", disable=not interactive or not missing, file=sys.stderr) as progress:
            while len(created) < missing:
                size = min(batch_size, missing - len(created))
                with transaction.atomic():
                    created += licenses_generate(
                        count=size,
                        account=account,
                        max_activations=max_activations,
                        expires_at=expires_at,
                        reference=reference,
                    )
                progress.update(size)
        self._write(options["output"], existing + created)
        summary = f"Generated {len(created)} license key(s)"
        if existing:
            summary += f"; {len(existing)} of reference {reference!r} existed already"
        summary += "." if created else ". Nothing to change."
        report.write(summary)

    @staticmethod
    def _account(login: str | None) -> Account | None:
        if not login:
            return None
        account = Account.objects.with_login(login).first()
        if account is None:
            raise CommandError(f"--account {login}: no such account.", returncode=2)
        return account

    @staticmethod
    def _expiry(value: str | None) -> datetime | None:
        if not value:
            return None
        try:
            moment = parse_datetime(value)
            if moment is None and (day := parse_date(value)) is not None:
                moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        except ValueError:
            moment = None
        if moment is None:
            raise CommandError(f"--expires {value}: not a date (YYYY-MM-DD) or ISO date-time.", returncode=2)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def _write(self, path: str | None, licenses: list[License]) -> None:
        try:
            stream = open(path, "w", newline="", encoding="utf-8") if path else self.stdout  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"--output {path}: {exc.strerror}", returncode=2) from exc
        try:
            writer = csv.writer(stream)
            writer.writerow(COLUMNS)
            for license in licenses:
                owner = license.account.login if license.account else ""
                expires = license.expires_at.isoformat() if license.expires_at else ""
                row = [license.key, license.max_activations, owner, expires, license.reference]
                writer.writerow([spreadsheet_safe(cell) for cell in row])
        finally:
            if path:
                stream.close()
