from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from devices.choices import AccountRole
from devices.models import Account
from devices.services import account_create, account_password_validate


class Command(BaseCommand):
    help = (
        "Create an account (a customer that owns devices and licenses) and print its id alone on the last line. "
        "If the login exists already, nothing changes and its id is printed. Exit 2 on usage errors."
    )

    def add_arguments(self, parser):
        parser.add_argument("login", help="Unique, case-insensitive; usually an e-mail.")
        parser.add_argument("--name", default="", help="Display name.")
        parser.add_argument(
            "--password",
            help="Password for the licensing login (hashed before it is stored); Django's password validators apply.",
        )
        parser.add_argument("--type", default="user", help="Account type shown to the billing API (default user).")
        parser.add_argument("--role", default=AccountRole.USER, choices=AccountRole.values, help="Default user.")
        parser.add_argument("--owner", metavar="LOGIN", help="The reseller or admin account that manages it.")
        parser.add_argument("--vendor", action="store_true", help="May register device licenses.")
        parser.add_argument("--dry-run", action="store_true", help="Check everything; create nothing.")

    def handle(self, *args, **options):
        login = options["login"].strip()
        existing = Account.objects.with_login(login).first()
        if existing is not None:
            self.stdout.write(f"Account {existing.login} already exists; nothing changed.")
            self.stdout.write(str(existing.pk))
            return
        owner = None
        if options["owner"]:
            owner = Account.objects.with_login(options["owner"]).first()
            if owner is None:
                raise CommandError(f"--owner {options['owner']}: no such account.", returncode=2)
        try:
            if options["password"] and options["dry_run"]:
                account_password_validate(
                    password=options["password"], account=Account(login=login, name=options["name"])
                )
            if options["dry_run"]:
                self.stdout.write(f"Dry run, nothing written: account {login} would be created.")
                return
            account = account_create(
                login=login,
                name=options["name"],
                password=options["password"],
                type=options["type"],
                role=options["role"],
                owner=owner,
                is_vendor=options["vendor"],
            )
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(problems, returncode=2) from exc
        self.stdout.write(f"Created account {account.login} ({account.role}).")
        self.stdout.write(str(account.pk))
