"""The admin site: its first page is the fleet's dashboard."""

from django.contrib import admin

from config.dashboard import dashboard_context


class DeviceAdminSite(admin.AdminSite):
    site_header = "Device activation back-office"
    site_title = "Device activation"
    index_title = "Fleet"

    def index(self, request, extra_context=None):
        context = {**dashboard_context(), **(extra_context or {})}
        return super().index(request, extra_context=context)
