"""What the VMS billing API keeps about a media agent while it belongs to an account."""

from django.db import models

from devices.models import Device


class Storage(models.Model):
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="storages")
    path = models.CharField(max_length=255)
    usage = models.FloatField(default=0, help_text="Space used, in the unit of capacity.")
    capacity = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.path


class Camera(models.Model):
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="cameras")
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
