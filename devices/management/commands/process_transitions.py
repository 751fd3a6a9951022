import csv

from django.core.management.base import BaseCommand, CommandError

from devices.bulk import transitions_process
from devices.choices import EventSource
from devices.services import Actor


class Command(BaseCommand):
    help = (
        "Complete the initializations and deactivations whose time has passed (a device touched by a request "
        "completes its own). Safe to run at any time, e.g. every minute from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Say what would be completed; write nothing.")
        parser.add_argument("--batch-size", type=int, default=1000, help="Devices per transaction (default 1000).")
        parser.add_argument("--report", metavar="FILE", help="Write one CSV row per device completed.")

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        actor = Actor(source=EventSource.COMMAND, name="process_transitions")
        done = transitions_process(actor=actor, batch_size=options["batch_size"], dry_run=options["dry_run"])
        if options["report"]:
            try:
                with open(options["report"], "w", newline="", encoding="utf-8") as stream:
                    writer = csv.writer(stream)
                    writer.writerow(["id", "uuid", "from_status", "to_status"])
                    writer.writerows(done)
            except OSError as exc:
                raise CommandError(f"--report {options['report']}: {exc.strerror}", returncode=2) from exc
        initialized = sum(1 for t in done if t[2] == "initializing")
        deactivated = len(done) - initialized
        prefix = "Dry run, nothing written: would complete" if options["dry_run"] else "Completed"
        summary = f"{prefix} {initialized} initialization(s) and {deactivated} deactivation(s)."
        if not done:
            summary += " Nothing to change."
        self.stdout.write(summary)
