from django.apps import AppConfig


class ManageApiConfig(AppConfig):
    name = "manage_api"
    verbose_name = "Management API"
