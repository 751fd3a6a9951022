"""The admin site: its first page is the fleet's dashboard; a locked-out login gets the admin's own page."""

from axes.helpers import get_cool_off
from django.contrib import admin
from django.template.response import TemplateResponse

from config.dashboard import dashboard_context


class DeviceAdminSite(admin.AdminSite):
    site_header = "Device activation back-office"
    site_title = "Device activation"
    index_title = "Fleet"
    # The lists get the window's width (a 1400 px screen shows every column); the breadcrumbs lead back home.
    enable_nav_sidebar = False

    def index(self, request, extra_context=None):
        def may_view(model) -> bool:
            # The admin's own rule, as for the model's list: view or change permission on it.
            return self.is_registered(model) and self.get_model_admin(model).has_view_permission(request)

        context = {**dashboard_context(may_view), **(extra_context or {})}
        return super().index(request, extra_context=context)


def login_locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a login while locked out (AXES_LOCKOUT_CALLABLE): 429, in the admin's look.

    It says nothing about whether the username exists or the password was right.
    """
    seconds = int(get_cool_off(request).total_seconds())
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "minutes": -(-seconds // 60),
    }
    response = TemplateResponse(request, "admin/login_locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response.render()
