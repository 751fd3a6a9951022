"""The admin site: its first page is the fleet's dashboard."""

from django.contrib import admin

from config.dashboard import dashboard_context


class DeviceAdminSite(admin.AdminSite):
    site_header = "Device activation back-office"
    site_title = "Device activation"
    index_title = "Fleet"

    def index(self, request, extra_context=None):
        def may_view(model) -> bool:
            # The admin's own rule, as for the model's list: view or change permission on it.
            return self.is_registered(model) and self.get_model_admin(model).has_view_permission(request)

        context = {**dashboard_context(may_view), **(extra_context or {})}
        return super().index(request, extra_context=context)
