from django.dispatch import receiver

from devices.signals import device_ownership_ended
from licensing.services import sessions_end_for_devices


@receiver(device_ownership_ended, dispatch_uid="licensing_end_sessions")
def end_sessions(sender, device_ids, **kwargs):
    sessions_end_for_devices(device_ids=device_ids)
