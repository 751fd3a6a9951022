from django.apps import AppConfig


class MorApiConfig(AppConfig):
    name = "mor_api"
    verbose_name = "VoIP softswitch (MOR) API"

    def ready(self):
        from mor_api import checks, receivers  # noqa: F401 - registers the checks and signal receivers
