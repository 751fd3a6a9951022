import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from devices.choices import EventSource
from devices.models import Account, ApiKey, Device
from devices.services import Actor, account_create, api_key_create, device_activate, device_register, device_reserve

CREDENTIALS_FILE = settings.BASE_DIR / "var" / "demo-credentials.txt"


class Command(BaseCommand):
    help = (
        "Load demo data into an empty database: an admin login, an API key, accounts and devices in every state. "
        "Prints the admin login and the API key; later runs print them again from var/demo-credentials.txt "
        "and change nothing. For local development only."
    )

    def handle(self, *args, **options):
        user_model = get_user_model()
        if user_model.objects.filter(username="admin").exists() or Device.objects.exists():
            self.stdout.write("Demo data is present already; nothing changed.")
            if CREDENTIALS_FILE.exists():
                self.stdout.write(CREDENTIALS_FILE.read_text())
            return
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user_model.objects.create_superuser("admin", "admin@example.com", password)
            _key, api_key = api_key_create(name="demo-billing")
            actor = Actor(source=EventSource.COMMAND, name="seed_demo")
            # In this order, so that the MOR seed's example (u=admin, user_id=2) works on a fresh demo.
            account_create(login="admin", name="MOR admin", role="admin")
            customer = account_create(login="user@mail.com", name="user", type="special", password=password)
            account_create(login="reseller@example.com", name="Reseller", role="reseller")
            for n in range(1, 6):
                device_register(
                    type="mediaagent",
                    mac=f"00AABBCC000{n}",
                    serial_number=f"MA-{n:04d}",
                    actor=actor,
                    version="1.1.1.1",
                )
            device_register(type="Mobile", mac="A1B2C3D4E5F7", actor=actor, version="14.5")
            media = list(Device.objects.filter(type="mediaagent").order_by("pk"))
            device_reserve(device=media[1], actor=actor)
            device_activate(device=media[2], account=customer, name="Front door", actor=actor)
            license_key = self._demo_licenses(customer)
        text = (
            "Admin:   http://127.0.0.1:8000/admin/  login admin  password " + password + "\n"
            "API key: " + api_key + "\n"
            "Account: user@mail.com (same password, for the licensing login; 3 license keys in its pool)\n"
            "License key: " + license_key + "\n"
            "MOR API: account admin signs with MOR_API_SECRET_KEY=secret; user@mail.com has user_id "
            + str(customer.pk)
            + "\n"
        )
        CREDENTIALS_FILE.parent.mkdir(exist_ok=True)
        CREDENTIALS_FILE.write_text(text)
        CREDENTIALS_FILE.chmod(0o600)
        self.stdout.write(
            "Demo data loaded. "
            + str(Account.objects.count())
            + " accounts, "
            + str(Device.objects.count())
            + " devices, "
            + str(ApiKey.objects.count())
            + " API key."
        )
        self.stdout.write(text)

    @staticmethod
    def _demo_licenses(customer) -> str:
        # Licensing lives in its own app; the demo only uses its service.
        from licensing.services import licenses_generate

        licenses_generate(count=3, account=customer, reference="demo-pool")
        return licenses_generate(count=1, max_activations=5, reference="demo")[0].key
