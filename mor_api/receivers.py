from django.dispatch import receiver

from devices.signals import device_ownership_ended
from mor_api.models import MorDevice


@receiver(device_ownership_ended, dispatch_uid="mor_clear_sip_data")
def clear_sip_data(sender, device_ids, **kwargs):
    """A device that left its user keeps no SIP login, pin or caller id."""
    MorDevice.objects.filter(device_id__in=device_ids).delete()
