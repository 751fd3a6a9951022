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


@checks.register(checks.Tags.security)
def allowed_ips_valid(app_configs, **kwargs):
    """MOR_API_ALLOWED_IPS: each entry an address or a network; anything else would refuse every caller."""
    from mor_api.auth import allowed_networks

    errors = []
    for entry in settings.MOR_API_ALLOWED_IPS:
        try:
            allowed_networks((entry,))
        except ValueError:
            errors.append(
                checks.Error(
                    f"MOR_API_ALLOWED_IPS: {entry!r} is neither an IP address nor a network "
                    "(192.0.2.10, 192.0.2.0/24).",
                    id="mor_api.E001",
                )
            )
    return errors
