from django.contrib import admin

from devices.admin import AccountAdmin, DeviceAdmin
from mor_api.models import DeviceGroup, MorDevice, MorPermissions


@admin.register(DeviceGroup)
class DeviceGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "is_primary", "created_at")
    list_filter = ("is_primary",)
    search_fields = ("name", "account__login")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)


class MorDeviceInline(admin.StackedInline):
    model = MorDevice
    extra = 0
    max_num = 1
    can_delete = False
    fields = (
        "username",
        "secret",
        "pin",
        "caller_id",
        "callerid_name",
        "description",
        "group",
        "authentication",
        "host",
        "port",
        "extension",
        "call_limit",
        "hidden",
        "comment",
        "created_at",
    )
    raw_id_fields = ("group",)
    readonly_fields = ("username", "secret", "created_at")
    verbose_name = "SIP line (MOR)"

    def has_add_permission(self, request, obj=None):
        # SIP lines are made through the MOR API, which checks pins, groups and permissions.
        return False

    # The SIP secret is a phone's credential: shown to staff who may change SIP lines (to set a phone up), not to
    # view-only staff, as the management API withholds it from integrators.
    def get_fields(self, request, obj=None):
        return [self._shown(name, request, obj) for name in super().get_fields(request, obj)]

    def get_readonly_fields(self, request, obj=None):
        return [self._shown(name, request, obj) for name in super().get_readonly_fields(request, obj)]

    def _shown(self, name: str, request, obj) -> str:
        return "secret_withheld" if name == "secret" and not self.has_change_permission(request, obj) else name

    @admin.display(description="Secret")
    def secret_withheld(self, line: MorDevice) -> str:
        return "Shown to staff who may change SIP lines."


class MorPermissionsInline(admin.StackedInline):
    model = MorPermissions
    extra = 0
    max_num = 1
    can_delete = False
    verbose_name = "MOR API permissions (accountants)"


DeviceAdmin.inlines = [*DeviceAdmin.inlines, MorDeviceInline]
AccountAdmin.inlines = [*getattr(AccountAdmin, "inlines", []), MorPermissionsInline]
