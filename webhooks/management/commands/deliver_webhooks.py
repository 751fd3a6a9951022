import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from webhooks.models import DeliveryStatus
from webhooks.services import delivery_make_next

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Deliver the pending webhook deliveries, signed, in order per device, retrying failures with exponential "
        "backoff for a day; runs until stopped. SIGTERM or SIGINT stop it once the delivery in flight is done. "
        "Any number may run at once, on any hosts: each delivery is made by one of them at a time."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            action="store_true",
            help="Deliver what is due now, then exit (for cron, or to drain the queue by hand).",
        )
        parser.add_argument(
            "--poll",
            type=float,
            default=settings.WEBHOOK_POLL_SECONDS,
            metavar="SECONDS",
            help="How long to wait when nothing is due before looking again (default WEBHOOK_POLL_SECONDS, 1).",
        )

    def handle(self, *args, **options):
        if options["poll"] <= 0:
            raise CommandError("--poll must be more than 0 seconds.", returncode=2)
        stopping = threading.Event()

        def stop(signum, frame):
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        delivered = failed = 0
        while not stopping.is_set():
            close_old_connections()  # a connection the database dropped meanwhile is opened again
            try:
                delivery = delivery_make_next()
            except DatabaseError as exc:  # the database away: nothing was recorded, so nothing is lost
                self.stderr.write(f"The database is unavailable ({exc}); trying again.")
                stopping.wait(options["poll"] * 5)
                continue
            except Exception:  # nothing was recorded: the delivery is tried again, and the others go on
                logger.exception("A delivery failed unexpectedly; trying again")
                stopping.wait(options["poll"] * 5)
                continue
            if delivery is None:
                if options["once"]:
                    break
                stopping.wait(options["poll"])
            elif delivery.status == DeliveryStatus.DELIVERED:
                delivered += 1
            else:
                failed += 1
                self.stderr.write(f"{delivery.message_id}: {delivery.last_error}; will be retried or marked failed.")
        self.stdout.write(f"{delivered} delivered, {failed} failed attempt(s).")
