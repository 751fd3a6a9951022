from django.apps import AppConfig


class LicensingConfig(AppConfig):
    name = "licensing"
    verbose_name = "Edge-device licensing"

    def ready(self):
        from licensing import receivers  # noqa: F401 - connects the signal receivers
