from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from devices.choices import ApiKeyScope
from devices.management.dates import parse_moment
from devices.models import ApiKey
from devices.services import api_key_create, api_key_expiry_validate


class Command(BaseCommand):
    help = (
        "Create an API key for a server-to-server client (sent as 'Authorization: Bearer <key>') and print it "
        "alone on the last line. It is shown only this once: only a hash is stored. The key opens the APIs of "
        "its scopes (--scope, repeated; billing alone by default) until --expires, or for ever. A name that "
        "already has an active key is refused (exit 1): revoke that key in the admin first. Exit 2 on usage errors."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who the key is for, e.g. billing-prod.")
        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiKeyScope.values,
            dest="scopes",
            metavar="SCOPE",
            help=(
                "An API the key opens: billing (the VMS billing API) or manage (the management API, "
                "/api/manage/). Repeat it for both. Default: billing alone."
            ),
        )
        parser.add_argument(
            "--expires",
            metavar="DATE",
            help="When the key stops working: YYYY-MM-DD (00:00 UTC) or an ISO date-time. Default: never.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check the name; create nothing.")

    def handle(self, *args, **options):
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("The name must have 1 to 100 characters.", returncode=2)
        scopes = sorted(set(options["scopes"] or [ApiKeyScope.BILLING]))
        expires_at = parse_moment(options["expires"], "--expires")
        try:
            api_key_expiry_validate(expires_at=expires_at)
        except ValidationError as exc:
            raise CommandError(f"--expires {options['expires']}: not in the future.", returncode=2) from exc
        existing = ApiKey.objects.active().filter(name=name).first()
        if existing is not None:
            raise CommandError(
                f"An active API key named {name} exists already ({existing.prefix}…); nothing changed.", returncode=1
            )
        lifetime = f"until {expires_at.isoformat()}" if expires_at else "with no expiry"
        if options["dry_run"]:
            self.stdout.write(
                f"Dry run, nothing written: an API key named {name} would be created "
                f"(scopes {', '.join(scopes)}; {lifetime})."
            )
            return
        key, secret = api_key_create(name=name, scopes=scopes, expires_at=expires_at)
        self.stdout.write(
            f"Created API key {key.name} ({key.prefix}…; scopes {', '.join(key.scopes)}; {lifetime}). "
            "It is shown only this once:"
        )
        self.stdout.write(secret)
