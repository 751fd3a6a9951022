from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from webhooks.services import deliveries_purge


class Command(BaseCommand):
    help = (
        "Delete the webhook deliveries delivered or failed more than --days ago (30 by default): pending and paused "
        "ones stay. Safe to run at any time, e.g. beside process_transitions from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="Keep what was last tried within this many days.")
        parser.add_argument("--batch-size", type=int, default=10_000, help="Deliveries per DELETE (default 10000).")

    def handle(self, *args, **options):
        if options["days"] < 0:
            raise CommandError("--days must be 0 or more.", returncode=2)
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        deleted = deliveries_purge(older_than=timedelta(days=options["days"]), batch_size=options["batch_size"])
        self.stdout.write(f"Deleted {deleted} webhook delivery(ies) done with more than {options['days']} day(s) ago.")
