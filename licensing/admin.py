from datetime import UTC, datetime
from urllib.parse import quote

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from devices.admin import AccountAdmin, DeviceAdmin
from devices.admin_export import CsvExportMixin
from devices.models import Account
from licensing.key_files import keys_csv
from licensing.models import DeviceLicense, DeviceLicenseStatus, License, LicenseKind, LicenseSession
from licensing.services import licenses_generate, licenses_revoke

MAX_GENERATED = 10_000


def _device_link(session: LicenseSession):
    """The session's device by its MAC, serial number or UUID (select_related("device") where it is listed)."""
    url = reverse("admin:devices_device_change", args=[session.device_id])
    return format_html('<a href="{}">{}</a>', url, session.device)


def _account_by_login(login: str) -> Account | None:
    return Account.objects.with_login(login).first()


class SessionInline(admin.TabularInline):
    model = LicenseSession
    extra = 0
    can_delete = False
    fields = ("id", "device_link", "created_at", "ended_at", "last_validated_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    verbose_name_plural = "Activations (sessions)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("device")

    @admin.display(description="device")
    def device_link(self, obj):
        return _device_link(obj)

    def has_add_permission(self, request, obj=None):
        return False


class LicenseActionForm(ActionForm):
    account_login = forms.CharField(required=False, label="Account login (for assign)")


class GenerateForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=MAX_GENERATED, initial=10, help_text="How many keys.")
    account_login = forms.CharField(
        required=False, label="Account login", help_text="The account whose pool the keys join (optional)."
    )
    max_activations = forms.IntegerField(min_value=1, initial=1, help_text="Devices per key.")
    expires_on = forms.DateField(
        required=False,
        label="Expires on",
        widget=AdminDateWidget,
        help_text="The keys expire at 00:00 UTC that day, as generate_licenses --expires does. Empty: never.",
    )
    reference = forms.CharField(required=False, max_length=100, help_text="E.g. the order the keys are for.")

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day is not None and day <= timezone.now().date():
            raise forms.ValidationError("This day has begun or passed: the keys would be expired already.")
        return day

    def expires_at(self) -> datetime | None:
        day = self.cleaned_data["expires_on"]
        return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None

    def clean_account_login(self):
        login = self.cleaned_data["account_login"]
        if not login:
            return None
        account = _account_by_login(login)
        if account is None:
            raise forms.ValidationError("No account has this login.")
        return account


@admin.register(License)
class LicenseAdmin(CsvExportMixin, admin.ModelAdmin):
    action_form = LicenseActionForm
    export_columns = (
        ("key", "key"),
        ("kind", "kind"),
        ("account", "account__login"),
        ("max_activations", "max_activations"),
        ("activations_count", "activations_count"),
        ("expires_at", "expires_at"),
        ("revoked_at", "revoked_at"),
        ("reference", "reference"),
        ("created_at", "created_at"),
    )
    change_list_template = "admin/licensing/license/change_list.html"
    list_display = ("key_display", "account", "activations", "expires_at", "reference", "created_at")
    list_filter = ("kind", ("revoked_at", admin.EmptyFieldListFilter), ("expires_at", admin.EmptyFieldListFilter))
    search_fields = ("=key", "=reference", "account__login")
    list_select_related = ("account",)
    show_full_result_count = False
    autocomplete_fields = ("account",)
    readonly_fields = ("kind", "activations_count", "created_at")
    inlines = [SessionInline]
    actions = ("revoke", "unrevoke", "assign_to_account")

    class Media:
        css = {"all": ["devices/admin.css"]}

    def has_delete_permission(self, request, obj=None):
        # Revoke instead: a key keeps its activations' history, and a deleted key could be typed in again.
        return False

    @admin.display(description="key", ordering="key")
    def key_display(self, obj):
        """On one line; a revoked key struck through and marked, a device license's key named as one."""
        kind = "" if obj.kind == LicenseKind.KEY else f" ({obj.get_kind_display().lower()})"
        if obj.revoked_at:
            return format_html(
                '<span class="revoked" title="Revoked {}"><span class="key">{}</span>{}'
                '<span class="badge-revoked">revoked</span></span>',
                obj.revoked_at.strftime("%Y-%m-%d %H:%M"),
                obj.key,
                kind,
            )
        return format_html('<span class="key">{}</span>{}', obj.key, kind)

    @admin.display(description="activations", ordering="activations_count")
    def activations(self, obj):
        return f"{obj.activations_count} / {obj.max_activations}"

    def get_readonly_fields(self, request, obj=None):
        # A key is typed only when created; afterwards devices depend on it.
        return (*self.readonly_fields, "key") if obj else self.readonly_fields

    def get_urls(self):
        generate = path("generate/", self.admin_site.admin_view(self.generate_view), name="licensing_license_generate")
        return [generate, *super().get_urls()]

    def generate_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = GenerateForm(request.POST or None)
        keys, keys_file = [], ""
        if request.method == "POST" and form.is_valid():
            values = form.cleaned_data
            with transaction.atomic():
                created = licenses_generate(
                    count=values["count"],
                    account=values["account_login"],
                    max_activations=values["max_activations"],
                    expires_at=form.expires_at(),
                    reference=values["reference"],
                )
            keys = [license.key for license in created]
            self.message_user(request, f"{len(keys)} license key(s) generated.", messages.SUCCESS)
            # The answer carries the file itself: the keys are shown once here, nothing is stored for a download.
            keys_file = "data:text/csv;charset=utf-8," + quote(keys_csv(created))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Generate license keys",
            "form": form,
            "media": self.media + form.media,
            "keys": keys,
            "keys_file": keys_file,
            "keys_file_name": f"license-keys-{timezone.now():%Y%m%d-%H%M%S}.csv",
        }
        return TemplateResponse(request, "admin/licensing/generate.html", context)

    @admin.action(description="Revoke selected license keys", permissions=["change"])
    def revoke(self, request, queryset):
        count = licenses_revoke(license_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} license key(s) revoked.", messages.SUCCESS)

    @admin.action(description="Lift the revocation of selected license keys", permissions=["change"])
    def unrevoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=False).update(revoked_at=None)
        self.message_user(request, f"{count} license key(s) usable again.", messages.SUCCESS)

    @admin.action(description="Assign selected license keys to an account (type its login)", permissions=["change"])
    def assign_to_account(self, request, queryset):
        login = request.POST.get("account_login", "")
        account = _account_by_login(login) if login.strip() else None
        if account is None:
            self.message_user(request, "Type the login of an existing account: nothing was assigned.", messages.ERROR)
            return
        count = queryset.update(account=account)
        self.message_user(request, f"{count} license key(s) assigned to {account.login}.", messages.SUCCESS)


@admin.register(DeviceLicense)
class DeviceLicenseAdmin(admin.ModelAdmin):
    list_display = (
        "serial_number",
        "vendor",
        "manufacturer_name",
        "model",
        "manufacture_date",
        "created_at",
        "status_display",
    )
    search_fields = ("=serial_number", "manufacturer_name", "model", "vendor__login")
    list_select_related = ("vendor", "license")
    readonly_fields = ("license", "created_at", "status_display")
    show_full_result_count = False
    actions = ("revoke",)

    def get_readonly_fields(self, request, obj=None):
        # The serial number is its license's key: changed here alone, the old serial would still activate.
        return (*self.readonly_fields, "serial_number") if obj else self.readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).with_status()

    def has_delete_permission(self, request, obj=None):
        # Deleting the registration would leave its license, so the serial number would still activate:
        # operators revoke it, and the registration keeps who registered it.
        return False

    @admin.action(description="Revoke selected device licenses", permissions=["change"])
    def revoke(self, request, queryset):
        count = licenses_revoke(license_ids=list(queryset.values_list("license_id", flat=True)))
        self.message_user(request, f"{count} device license(s) revoked.", messages.SUCCESS)

    @admin.display(description="status")
    def status_display(self, obj):
        # The API's integer and its meaning, e.g. "0 (registered)".
        status = DeviceLicenseStatus(obj.status)
        return f"{status.value} ({status.label})"


@admin.register(LicenseSession)
class LicenseSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "license", "device_link", "created_at", "ended_at", "last_validated_at")
    list_filter = (("ended_at", admin.EmptyFieldListFilter),)
    search_fields = ("=id", "=license__key")
    list_select_related = ("license", "device")
    show_full_result_count = False
    readonly_fields = ("id", "license", "device", "created_at", "ended_at", "last_validated_at")

    @admin.display(description="device")
    def device_link(self, obj):
        return _device_link(obj)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DeviceSessionInline(admin.StackedInline):
    """On a device's page: the license session it activated with."""

    model = LicenseSession
    fk_name = "device"
    extra = 0
    can_delete = False
    fields = ("id", "license_link", "created_at", "ended_at", "last_validated_at")
    readonly_fields = fields
    verbose_name = "license session"

    @admin.display(description="license key")
    def license_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:licensing_license_change", args=[obj.license_id]), obj.license
        )

    def has_add_permission(self, request, obj=None):
        return False  # a session is made by an activation


DeviceAdmin.inlines = [*DeviceAdmin.inlines, DeviceSessionInline]
AccountAdmin.owned_lists = [
    *AccountAdmin.owned_lists,
    ("license keys", "admin:licensing_license_changelist", "account__id__exact"),
    ("registered device licenses", "admin:licensing_devicelicense_changelist", "vendor__id__exact"),
]
