from django.contrib import admin

from billing.models import Camera, Storage
from devices.admin import DeviceAdmin


class StorageInline(admin.TabularInline):
    model = Storage
    extra = 0
    for_types = ["mediaagent"]  # offered on a media agent's page only (DeviceAdmin.get_inline_instances)
    fields = ("path", "usage", "capacity")


class CameraInline(admin.TabularInline):
    model = Camera
    extra = 0
    for_types = ["mediaagent"]
    fields = ("name", "created_at")
    readonly_fields = ("created_at",)


# A media agent's storages and cameras are edited on its device page.
DeviceAdmin.inlines = [*DeviceAdmin.inlines, StorageInline, CameraInline]
