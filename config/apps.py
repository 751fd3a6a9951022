from django.contrib.admin.apps import AdminConfig


class DeviceAdminConfig(AdminConfig):
    default_site = "config.admin.DeviceAdminSite"
