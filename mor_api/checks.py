from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def secret_key_set(app_configs, **kwargs):
    if settings.MOR_API_SECRET_KEY:
        return []
    return [
        checks.Warning(
            "MOR_API_SECRET_KEY is not set: every MOR API request will be refused with 'Incorrect hash'.",
            id="mor_api.W001",
        )
    ]
