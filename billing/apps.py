from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "VMS billing"

    def ready(self):
        from billing import receivers  # noqa: F401 - connects the signal receivers
