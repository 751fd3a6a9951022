import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from devices.management.dates import parse_moment
from devices.models import Account
from licensing.key_files import write_keys
from licensing.models import License
from licensing.services import licenses_generate


class Command(BaseCommand):
    help = (
        "Generate license keys and write them as CSV (a header row, then one row per key: key,max_activations,"
        "account,expires_at,reference) to --output or standard output. With --reference the run is safe to "
        "repeat: keys already generated under that reference count towards --count, and every key of the "
        "reference is written; keys under it made with another account, --max-activations or --expires are a "
        "usage error. Exit 2 on usage errors."
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
        expires_at = parse_moment(options["expires"], "--expires")
        reference = options["reference"].strip()
        if len(reference) > 100:
            raise CommandError("--reference has at most 100 characters.", returncode=2)

        existing = (
            list(License.objects.filter(reference=reference).select_related("account").order_by("pk"))
            if reference
            else []
        )
        self._same_terms(reference, existing, account=account, max_activations=max_activations, expires_at=expires_at)
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
    def _same_terms(reference: str, existing: list[License], **terms) -> None:
        """A repeated run completes its batch: keys made under the reference with other terms are a usage error."""
        shown = {
            "account": lambda value: value.login if value else "none",
            "max_activations": str,
            "expires_at": lambda value: value.isoformat() if value else "never",
        }
        differing = {
            f"{name.replace('_', '-')} {shown[name](getattr(license, name))}"
            for license in existing
            for name, value in terms.items()
            if getattr(license, name) != value
        }
        if differing:
            raise CommandError(
                f"--reference {reference}: keys under it have {', '.join(sorted(differing))}, not what this run asks "
                "for. Run again with their options to complete the batch, or choose another reference.",
                returncode=2,
            )

    @staticmethod
    def _account(login: str | None) -> Account | None:
        if not login:
            return None
        account = Account.objects.with_login(login).first()
        if account is None:
            raise CommandError(f"--account {login}: no such account.", returncode=2)
        return account

    def _write(self, path: str | None, licenses: list[License]) -> None:
        try:
            stream = open(path, "w", newline="", encoding="utf-8") if path else self.stdout  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"--output {path}: {exc.strerror}", returncode=2) from exc
        try:
            write_keys(stream, licenses)
        finally:
            if path:
                stream.close()
