from django.core.management.base import BaseCommand, CommandError

from devices.models import ApiKey
from devices.services import api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key for a server-to-server client (sent as 'Authorization: Bearer <key>') and print it "
        "alone on the last line. It is shown only this once: only a hash is stored. A name that already has an "
        "active key is refused (exit 1): revoke that key in the admin first."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who the key is for, e.g. billing-prod.")
        parser.add_argument("--dry-run", action="store_true", help="Check the name; create nothing.")

    def handle(self, *args, **options):
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("The name must have 1 to 100 characters.", returncode=2)
        existing = ApiKey.objects.active().filter(name=name).first()
        if existing is not None:
            raise CommandError(
                f"An active API key named {name} exists already ({existing.prefix}…); nothing changed.", returncode=1
            )
        if options["dry_run"]:
            self.stdout.write(f"Dry run, nothing written: an API key named {name} would be created.")
            return
        key, secret = api_key_create(name=name)
        self.stdout.write(f"Created API key {key.name} ({key.prefix}…). It is shown only this once:")
        self.stdout.write(secret)
