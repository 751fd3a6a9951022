import functools
import json
import operator
import re
import uuid

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from rangefilter.filters import DateRangeFilter

from devices import bulk, services, sql
from devices.admin_export import CsvExportMixin
from devices.admin_import import DeviceImportMixin
from devices.admin_page_actions import DevicePageActionsMixin, staff_actor
from devices.choices import ApiKeyScope
from devices.errors import DomainError
from devices.forms import MacField
from devices.macs import format_mac, try_normalize_mac
from devices.models import (
    Account,
    ApiKey,
    ClientActivity,
    ClientAppInfo,
    Device,
    DeviceEvent,
    DeviceType,
    default_api_key_scopes,
    text_contained,
)

BULK_BATCH = 1000


class DeviceActionForm(ActionForm):
    reason = forms.CharField(required=False, max_length=255, label="Ban reason")


class DeviceTypeFilter(admin.SimpleListFilter):
    """The types in use, read by skipping through the type index rather than scanning the table."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in sql.device_types_in_use()]

    def queryset(self, request, queryset):
        return queryset.filter(type=self.value()) if self.value() else queryset


class DeviceAdminForm(forms.ModelForm):
    mac = MacField(
        required=False,
        empty_value=None,  # no MAC is NULL: uniqueness holds among devices that have one
        max_length=32,
        label="MAC",
        help_text="Any usual spelling, e.g. A1:B2:C3:D4:E5:F6.",
    )

    class Meta:
        model = Device
        fields = services.DEVICE_EDITABLE_FIELDS

    def clean_type(self):
        # A new type is declared first (Device types), as for an import; a device a protocol brought in with an
        # undeclared type keeps it when edited.
        name = self.cleaned_data["type"]
        if name != self.instance.type:
            declared = DeviceType.objects.names()
            if name not in declared:
                raise forms.ValidationError(bulk.unknown_type_message(name, declared).capitalize() + ".")
        return name

    def clean_serial_number(self):
        return self.cleaned_data.get("serial_number") or None

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("mac") and not cleaned.get("serial_number"):
            raise forms.ValidationError("A device needs a MAC address or a serial number.")
        return cleaned


class ClientAppInline(admin.StackedInline):
    model = ClientAppInfo
    can_delete = False
    extra = 0
    readonly_fields = ("app_name", "app_version", "device_os", "device_version", "ip", "updated_at")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False  # what the client app reports, never typed in


class ClientActivityInline(admin.StackedInline):
    model = ClientActivity
    can_delete = False
    extra = 0
    readonly_fields = ("current_screen", "content_id", "content_type", "reported_at")
    fields = readonly_fields
    verbose_name_plural = "client activity (what the app last said it was doing)"

    def has_add_permission(self, request, obj=None):
        return False


# The start of a UUID as it is written (hex digits, then dashes where a UUID has them), long enough to mean one.
UUID_START = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{0,4}){0,3}(-[0-9a-f]{0,12})?|[0-9a-f]{4,7}", re.IGNORECASE)
# The start of a MAC or a UUID as only a MAC or a UUID is written: with a MAC's separators between its bytes,
# or a UUID's dash after its first 8 hex digits. Such a term is searched in that column alone, through its index.
SEPARATED_MAC_START = re.compile(r"[0-9a-f]{2}([:-])(?:[0-9a-f]{2}\1)*[0-9a-f]{0,2}|[0-9a-f]{4}\.[0-9a-f.]{0,9}", re.I)
SEPARATED_UUID_START = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{0,27}", re.IGNORECASE)
# A search by part of a login matches at most this many accounts' devices (the first by id).
OWNERS_SEARCHED = 1000


def mac_prefix(term: str) -> str | None:
    """The start of a MAC in any usual spelling (`44:05`, `00-11-22`, `0011.22`, `a1b2`) as stored, or None."""
    digits = re.sub(r"[:\-. ]", "", term)
    if len(digits) >= 2 and len(digits) <= 12 and re.fullmatch(r"[0-9a-fA-F]+", digits):
        return digits.upper()
    return None


def uuid_range(term: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The UUIDs that start with `term` as a range (the uuid index serves it), or None when it starts none."""
    if not UUID_START.fullmatch(term):
        return None
    digits = term.replace("-", "")
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def events_url(device: Device) -> str:
    """The admin's list of one device's events."""
    return reverse("admin:devices_deviceevent_changelist") + f"?device__id__exact={device.pk}"


@admin.register(Device)
class DeviceAdmin(DevicePageActionsMixin, DeviceImportMixin, CsvExportMixin, admin.ModelAdmin):
    class Media:
        css = {"all": ["devices/admin.css"]}

    form = DeviceAdminForm
    change_list_template = "admin/devices/device/change_list.html"  # Import CSV beside Export CSV
    export_columns = (
        ("uuid", "uuid", str),
        ("type", "type"),
        ("mac", "mac", format_mac),
        ("serial_number", "serial_number"),
        ("name", "name"),
        ("version", "version"),
        ("status", "status"),
        ("owner", "account__login"),
        ("is_banned", "is_banned"),
        ("ban_reason", "ban_reason"),
        ("is_online", "is_online"),
        ("last_seen_at", "last_seen_at"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    )
    action_form = DeviceActionForm
    list_display = (
        "device_display",
        "serial_number",
        "type",
        "status",
        "owner",
        "is_banned",
        "is_online",
        "updated_at",
    )
    list_display_links = ("device_display",)
    list_filter = ("status", DeviceTypeFilter, "is_banned", "is_online")
    list_select_related = ("account",)
    list_per_page = 50
    show_full_result_count = False
    search_fields = ("mac", "serial_number", "name", "uuid", "account__login")
    search_help_text = (
        "A MAC or its start in any spelling, a UUID or its start, part of a serial number or a name (three "
        "characters or more), or part of an owner's login, in any letter case."
    )
    ordering = ("-id",)
    actions = ("reserve", "unreserve", "ban", "unban", "deactivate")
    readonly_fields = (
        "uuid",
        "status",
        "status_until",
        "leave_reserved",
        "owner",
        "activated_at",
        "is_banned",
        "ban_reason",
        "banned_at",
        "banned_by",
        "last_seen_at",
        "created_at",
        "updated_at",
        "recent_events",
    )
    fieldsets = (
        (None, {"fields": ("uuid", "type", "mac", "serial_number", "name", "version", "is_online", "last_seen_at")}),
        ("Lifecycle", {"fields": ("status", "status_until", "leave_reserved", "owner", "activated_at")}),
        ("Ban", {"fields": ("is_banned", "ban_reason", "banned_at", "banned_by")}),
        ("Times", {"fields": ("created_at", "updated_at")}),
        ("Audit trail", {"fields": ("recent_events",)}),
    )
    inlines = [ClientAppInline, ClientActivityInline]

    def get_fieldsets(self, request, obj=None):
        # A device that is not banned shows no empty ban fields.
        if obj is not None and not obj.is_banned:
            return [
                (name, {"fields": ("is_banned",)}) if name == "Ban" else (name, options)
                for name, options in self.fieldsets
            ]
        return self.fieldsets

    def get_inlines(self, request, obj):
        # What protocols learn about a device is shown once it exists, never typed in.
        return self.inlines if obj is not None else []

    def get_inline_instances(self, request, obj=None):
        """Only the sections this device has something in, or where staff may add to it: a media agent's storage
        is offered on a media agent's page, not on a SIP phone's (an inline's `for_types`)."""
        shown = []
        for inline in super().get_inline_instances(request, obj):
            may_add = inline.has_add_permission(request, obj) and obj.type in getattr(inline, "for_types", [obj.type])
            if may_add or inline.get_queryset(request).filter(device=obj).exists():
                shown.append(inline)
        return shown

    def has_delete_permission(self, request, obj=None):
        # A device keeps its audit trail: operators deactivate or ban, they don't delete.
        return False

    def history_view(self, request, object_id, extra_context=None):
        """ "History" is the device's audit trail (its events), not Django's log of admin edits, which misses the
        protocols' changes."""
        device = self.get_object(request, object_id)
        events = self.admin_site.get_model_admin(DeviceEvent)
        if device is None or not events.has_view_permission(request):
            # Django's own answer: a refusal, or the edits made here for staff who may not read the events.
            return super().history_view(request, object_id, extra_context)
        return HttpResponseRedirect(events_url(device))

    EVENTS_SHOWN = 100

    @admin.display(description="events (newest first)")
    def recent_events(self, obj):
        if obj.pk is None:
            return "—"
        events = list(obj.events.order_by("-created_at", "-id")[: self.EVENTS_SHOWN])
        rows = format_html_join(
            "",
            '<tr><td class="when">{}</td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td>'
            '<td class="details">{}</td></tr>',
            (
                (
                    e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    e.get_action_display(),
                    e.from_status or "—",
                    e.to_status or "—",
                    e.get_source_display(),
                    e.actor,
                    e.request_id,
                    json.dumps(e.details, ensure_ascii=False, indent=1) if e.details else "",
                )
                for e in events
            ),
        )
        all_url = events_url(obj)
        return format_html(
            '<table class="device-events"><thead><tr><th>time</th><th>action</th><th>status</th><th>source</th>'
            "<th>actor</th><th>request id</th><th>details</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All events of this device</a></p>',
            rows or mark_safe('<tr><td colspan="7">No events.</td></tr>'),
            all_url,
        )

    @admin.display(description="device", ordering="id")
    def device_display(self, obj):
        """The device as people name it: its MAC, else its serial number, else its UUID."""
        return str(obj)

    @admin.display(description="owner", ordering="account__login")
    def owner(self, obj):
        if obj.account is None:
            return "—"
        url = reverse("admin:devices_account_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account.login)

    def get_search_results(self, request, queryset, search_term):
        """A whole MAC or UUID: one exact lookup. The start of a MAC written with its separators (`44:05`,
        `0011.22`) or of a UUID with its dash (`0c2f1bd3-9e`): one range of an index. Anything else: the start of
        a MAC or UUID, part of a serial number or a name (three characters or more, a letter or digit among them),
        or part of an owner's login, in any letter case: each match on the devices through an index."""
        term = search_term.strip()
        if not term:
            return queryset, False
        mac = try_normalize_mac(term)
        if mac:
            return queryset.filter(Q(mac=mac) | Q(serial_number=term)), False
        try:
            return queryset.filter(uuid=uuid.UUID(term)), False
        except ValueError:
            pass
        mac_start, uuids = mac_prefix(term), uuid_range(term)
        if SEPARATED_UUID_START.fullmatch(term):
            return queryset.filter(uuid__range=uuids), False
        if mac_start and SEPARATED_MAC_START.fullmatch(term):
            return queryset.filter(mac__startswith=mac_start), False
        contained = text_contained(term)
        matches = [contained] if contained else []
        if mac_start:
            matches.append(Q(mac__startswith=mac_start))
        if uuids:
            matches.append(Q(uuid__range=uuids))
        owners = list(Account.objects.filter(login__icontains=term).values_list("pk", flat=True)[:OWNERS_SEARCHED])
        if owners:
            matches.append(Q(account_id__in=owners))
        return queryset.filter(functools.reduce(operator.or_, matches, Q(pk__in=()))), False

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in services.DEVICE_EDITABLE_FIELDS}
        actor = staff_actor(request)
        try:
            if change:
                services.device_update(device=obj, actor=actor, **values)
            else:
                values.pop("is_online")
                created = services.device_register(actor=actor, **values)
                obj.pk, obj.uuid = created.pk, created.uuid
        except DomainError as error:
            # The form's unique checks make this a race only; report it rather than fail the page.
            self.message_user(request, error.message, messages.ERROR)

    def _run_bulk(self, request, queryset, operation, verb: str, **kwargs):
        pks = list(queryset.values_list("pk", flat=True))
        changed = unchanged = 0
        failures: list[str] = []
        for start in range(0, len(pks), BULK_BATCH):
            outcome = operation(pks=pks[start : start + BULK_BATCH], actor=staff_actor(request), **kwargs)
            changed += len(outcome.changed)
            unchanged += len(outcome.unchanged)
            failures.extend(f"{pk}: {error.message}" for pk, error in outcome.failed.items())
        summary = f"{changed} device(s) {verb}, {unchanged} unchanged"
        if failures:
            shown = "; ".join(failures[:10]) + (" …" if len(failures) > 10 else "")
            self.message_user(request, f"{summary}, {len(failures)} failed: {shown}", messages.WARNING)
        else:
            self.message_user(request, summary + ".", messages.SUCCESS)

    @admin.action(description="Reserve selected devices", permissions=["change"])
    def reserve(self, request, queryset):
        self._run_bulk(request, queryset, bulk.devices_reserve_many, "reserved")

    @admin.action(description="Unreserve selected devices", permissions=["change"])
    def unreserve(self, request, queryset):
        self._run_bulk(request, queryset, bulk.devices_unreserve_many, "unreserved")

    @admin.action(description="Ban selected devices (give a reason)", permissions=["change"])
    def ban(self, request, queryset):
        try:
            reason = services.ban_reason_clean(request.POST.get("reason", ""))
        except DomainError as error:
            self.message_user(request, f"{error.message} Nothing was banned.", messages.ERROR)
            return
        self._run_bulk(request, queryset, bulk.devices_ban_many, "banned", reason=reason)

    @admin.action(description="Unban selected devices", permissions=["change"])
    def unban(self, request, queryset):
        self._run_bulk(request, queryset, bulk.devices_unban_many, "unbanned")

    @admin.action(description="Deactivate selected devices", permissions=["change"])
    def deactivate(self, request, queryset):
        self._run_bulk(request, queryset, bulk.devices_deactivate_many, "deactivated")


@admin.register(DeviceType)
class DeviceTypeAdmin(admin.ModelAdmin):
    """The types an import accepts. A type devices carry can't be deleted or renamed (they keep their type: devices
    are never deleted), so the list shows which are in use and which types in use are not declared."""

    list_display = ("name", "description", "in_use", "created_at")
    search_fields = ("name", "description")
    readonly_fields = ("created_at",)

    @admin.display(description="in use", boolean=True)
    def in_use(self, obj):
        return Device.objects.filter(type=obj.name).exists()  # the type index: one probe per declared type

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and Device.objects.filter(type=obj.name).exists():
            return ("name", *self.readonly_fields)  # renaming it would leave its devices with an undeclared type
        return self.readonly_fields

    def changelist_view(self, request, extra_context=None):
        declared = DeviceType.objects.names()
        undeclared = [name for name in sql.device_types_in_use() if name not in declared]
        if undeclared:
            self.message_user(
                request,
                f"In use but not declared (brought by a protocol or before types were declared; an import refuses "
                f"them until they are added): {', '.join(undeclared)}.",
                messages.INFO,
            )
        return super().changelist_view(request, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None and self._refuse_in_use(request, [obj]):
            return HttpResponseRedirect(reverse("admin:devices_devicetype_change", args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            # Under Django's name (its confirmation page posts it back): refuses types in use first, saying why.
            _function, name, description = actions["delete_selected"]
            actions[name] = (type(self).delete_unused, name, description)
        return actions

    @admin.action(description="Delete selected device types", permissions=["delete"])
    def delete_unused(self, request, queryset):
        if not self._refuse_in_use(request, list(queryset)):
            return delete_selected(self, request, queryset)  # Django's confirmation page, then the deletion
        return None

    def _refuse_in_use(self, request, types: list[DeviceType]) -> bool:
        """Refuse (with a message) to delete types devices carry: True when some are."""
        used = [t.name for t in types if Device.objects.filter(type=t.name).exists()]
        if used:
            self.message_user(
                request,
                f"Not deleted: devices have the type {', '.join(used)}. A type in use stays declared "
                f"(devices are deactivated or banned, never deleted).",
                messages.ERROR,
            )
        return bool(used)


class AccountAdminForm(forms.ModelForm):
    new_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Sets the password used by the licensing login. Leave empty to keep the current one.",
    )

    class Meta:
        model = Account
        fields = (
            "login",
            "name",
            "type",
            "status",
            "role",
            "owner",
            "is_vendor",
            "can_update_password",
            "billing_properties",
            "deleted_at",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_password"].help_text += password_validation.password_validators_help_text_html()

    def _post_clean(self):
        super()._post_clean()
        # Django's password validators (AUTH_PASSWORD_VALIDATORS), after the instance has the form's login and
        # name, as Django's own user forms do.
        password = self.cleaned_data.get("new_password")
        if password:
            try:
                password_validation.validate_password(password, self.instance)
            except forms.ValidationError as error:
                self.add_error("new_password", error)

    def save(self, commit=True):
        account = super().save(commit=False)
        if self.cleaned_data.get("new_password"):
            account.set_password(self.cleaned_data["new_password"])
        if commit:
            account.save()
        return account


@admin.register(Account)
class AccountAdmin(CsvExportMixin, admin.ModelAdmin):
    form = AccountAdminForm
    export_columns = (
        ("login", "login"),
        ("name", "name"),
        ("type", "type"),
        ("status", "status"),
        ("role", "role"),
        ("owner", "owner__login"),
        ("is_vendor", "is_vendor"),
        ("created_at", "created_at"),
        ("deleted_at", "deleted_at"),
    )
    list_display = ("login", "name", "role", "type", "status", "owner", "is_vendor", "created_at", "deleted_at")
    list_filter = ("status", "role", "is_vendor", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("login", "name")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    readonly_fields = ("owned", "created_at", "updated_at")
    show_full_result_count = False
    actions = ("soft_delete", "restore")
    # What refers to an account, each a list filtered to it: (label, the list's url name, the filter's parameter).
    # Other apps add theirs (licensing: license keys).
    owned_lists = [("devices", "admin:devices_device_changelist", "account__id__exact")]

    @admin.display(description="owns")
    def owned(self, obj):
        if obj.pk is None:
            return "—"
        return format_html_join(
            mark_safe(" · "),
            '<a href="{}?{}={}">{}</a>',
            ((reverse(url_name), parameter, obj.pk, label) for label, url_name, parameter in self.owned_lists),
        )

    def has_delete_permission(self, request, obj=None):
        # Soft delete only: an account's devices, licenses and MOR groups refer to it, and its events name it.
        return False

    @admin.action(description="Delete selected accounts (soft: they keep their history)", permissions=["change"])
    def soft_delete(self, request, queryset):
        count = queryset.filter(deleted_at__isnull=True).update(deleted_at=timezone.now())
        self.message_user(request, f"{count} account(s) deleted.", messages.SUCCESS)

    @admin.action(description="Restore selected deleted accounts", permissions=["change"])
    def restore(self, request, queryset):
        count = queryset.filter(deleted_at__isnull=False).update(deleted_at=None)
        self.message_user(request, f"{count} account(s) restored.", messages.SUCCESS)


class ApiKeyChangeForm(forms.ModelForm):
    """A key's scopes and expiry; the change applies to its next request (services.api_key_update)."""

    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=default_api_key_scopes,
        help_text="The APIs the key opens: every other refuses it (403).",
    )

    class Meta:
        model = ApiKey
        fields = ("scopes", "expires_at")


class ApiKeyAddForm(ApiKeyChangeForm):
    class Meta(ApiKeyChangeForm.Meta):
        fields = ("name", "scopes", "expires_at")

    def clean_name(self):
        # The model's constraint holds only among active keys, which the form can't check (revoked_at isn't
        # one of its fields): say so here, as create_api_key does, rather than fail on save.
        name = self.cleaned_data["name"]
        existing = ApiKey.objects.active().filter(name=name).first()
        if existing is not None:
            raise forms.ValidationError(
                f"An active API key named {name} exists already ({existing.prefix}…): revoke it first."
            )
        return name

    def clean_expires_at(self):
        expires_at = self.cleaned_data["expires_at"]
        try:
            services.api_key_expiry_validate(expires_at=expires_at)
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["expires_at"]) from exc
        return expires_at


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scope_list", "expires_at", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), ("expires_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix")
    readonly_fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        elif obj.revoked_at is None:
            kwargs["form"] = ApiKeyChangeForm
        # else the default form: a revoked key's fields are all read-only
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # A revoked key stays revoked: nothing of it changes.
        return (*self.readonly_fields, "scopes", "expires_at") if obj.revoked_at else self.readonly_fields

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "scopes", "expires_at")
        return ("name", "prefix", "scopes", "expires_at", "created_at", "last_used_at", "revoked_at")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            if obj.revoked_at is None:
                services.api_key_update(api_key=obj, scopes=data["scopes"], expires_at=data["expires_at"])
            return
        key, secret = services.api_key_create(name=data["name"], scopes=data["scopes"], expires_at=data["expires_at"])
        obj.pk, obj.prefix, obj.created_at = key.pk, key.prefix, key.created_at
        obj.secret = secret  # for response_add only: never stored

    def response_add(self, request, obj, post_url_continue=None):
        # The secret is shown in the answer to the POST that made it. A message would carry it to the next
        # page in the messages cookie (signed, not encrypted) or the session table; this page is never cached.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "key": obj,
            "secret": obj.secret,
        }
        return TemplateResponse(request, "admin/devices/apikey/created.html", context)

    def has_delete_permission(self, request, obj=None):
        # Revoke instead: a revoked key keeps its history.
        return False

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request, queryset):
        count = sum(services.api_key_revoke(api_key=key) for key in queryset)
        self.message_user(request, f"{count} API key(s) revoked.", messages.SUCCESS)


@admin.register(DeviceEvent)
class DeviceEventAdmin(CsvExportMixin, admin.ModelAdmin):
    class Media:
        css = {"all": ["devices/admin.css"]}

    export_columns = (
        ("created_at", "created_at"),
        ("device_uuid", "device__uuid", str),
        ("device_mac", "device__mac", format_mac),
        ("action", "action"),
        ("from_status", "from_status"),
        ("to_status", "to_status"),
        ("source", "source"),
        ("actor", "actor"),
        ("request_id", "request_id"),
        ("details", "details"),
    )
    list_display = ("created_at", "device_link", "action", "status_change", "by", "short_request_id")
    list_filter = ("action", "source", ("created_at", DateRangeFilter))
    search_fields = ("=request_id", "=actor")
    search_help_text = "A device's MAC (any spelling) or UUID, or an exact request id or actor."
    list_select_related = ("device",)
    show_full_result_count = False
    ordering = ("-created_at", "-id")

    @admin.display(description="device")
    def device_link(self, obj):
        url = reverse("admin:devices_device_change", args=[obj.device_id])
        return format_html('<a href="{}">{}</a>', url, obj.device)

    @admin.display(description="status")
    def status_change(self, obj):
        return f"{obj.from_status or '—'} → {obj.to_status or '—'}"

    @admin.display(description="by")
    def by(self, obj):
        return f"{obj.get_source_display()} · {obj.actor}" if obj.actor else obj.get_source_display()

    @admin.display(description="request id")
    def short_request_id(self, obj):
        # The first 8 characters tell requests apart on a page; the whole id is in the tooltip and the search.
        if not obj.request_id:
            return "—"
        return format_html('<span title="{}">{}…</span>', obj.request_id, obj.request_id[:8])

    def get_search_results(self, request, queryset, search_term):
        """A device by its MAC (an indexed lookup); a UUID names a device or a request (request ids are UUIDs, kept
        as sent, with or without dashes); anything else an exact request id or actor."""
        term = search_term.strip()
        mac = try_normalize_mac(term)
        if mac:
            return queryset.filter(device__mac=mac), False
        try:
            named = uuid.UUID(term)
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        as_request = Q(request_id__in={term, named.hex, str(named)})
        return queryset.filter(Q(device__uuid=named) | as_request), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# django-axes' pages on admin logins (AXES_ENABLE_ADMIN is off so that its action declares a permission).
@admin.register(AccessAttempt)
class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """Failed admin logins; deleting a row lifts its lockout."""

    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        super().cleanup_expired_attempts(request, queryset)


@admin.register(AccessLog)
class AccessLogAdmin(axes_admin.AccessLogAdmin):
    """Successful admin logins: a record of who logged in from where, kept."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
