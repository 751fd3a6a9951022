from django.apps import AppConfig


class MorApiConfig(AppConfig):
    name = "mor_api"
    verbose_name = "VoIP softswitch (MOR) API"
