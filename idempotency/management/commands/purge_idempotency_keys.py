from django.core.management.base import BaseCommand, CommandError

from idempotency.services import records_purge


class Command(BaseCommand):
    help = (
        "Delete the Idempotency-Key records older than 24 hours (requests ignore them already). Safe to run at "
        "any time, e.g. beside process_transitions from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=10_000, help="Records per DELETE (default 10000).")

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        deleted = records_purge(batch_size=options["batch_size"])
        self.stdout.write(f"Deleted {deleted} idempotency record(s) older than 24 hours.")
