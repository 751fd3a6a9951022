from django.dispatch import receiver

from billing.models import Camera, Storage
from devices.signals import device_ownership_ended


@receiver(device_ownership_ended, dispatch_uid="billing_clear_ownership_data")
def clear_ownership_data(sender, device_ids, **kwargs):
    """Storages and cameras belonged to the owner that just let the device go."""
    Storage.objects.filter(device_id__in=device_ids).delete()
    Camera.objects.filter(device_id__in=device_ids).delete()
