"""The management API's filters, one FilterSet per model (as NetBox's dcim/filtersets.py).

Every filter validates its value: an unknown choice, a malformed MAC, uuid,
date-time or boolean is a 400 `invalid_filter`, never an empty page by mistake.
"""

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from devices.choices import AccountRole, AccountStatus, DeviceStatus, EventAction, EventSource
from devices.forms import MacField
from devices.models import Account, Device, DeviceEvent
from licensing.models import License, LicenseKind


class MacFilter(django_filters.CharFilter):
    field_class = MacField


@extend_schema_field(OpenApiTypes.BOOL)
class BooleanFilter(django_filters.TypedChoiceFilter):
    """`true` or `false`, and nothing else (django-filter's own ignores a value it can't read)."""

    def __init__(self, **kwargs):
        super().__init__(choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true", **kwargs)


def _by_login(queryset, field: str, login: str):
    """Rows whose `field` is the account with this login, in any letter case (its LOWER(login) index)."""
    if not login:
        return queryset
    return queryset.filter(**{f"{field}__in": Account.objects.with_login(login).values("pk")})


class DeviceFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeviceStatus.choices)
    type = django_filters.CharFilter()
    mac = MacFilter(help_text="Any spelling: A1:B2:C3:D4:E5:F6, a1-b2-c3-d4-e5-f6, a1b2.c3d4.e5f6, A1B2C3D4E5F6.")
    serial_number = django_filters.CharFilter()
    is_banned = BooleanFilter()
    account = django_filters.CharFilter(method="filter_account", help_text="The owner's login, in any letter case.")
    updated_since = django_filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="ISO 8601, e.g. 2026-01-31T00:00:00Z."
    )

    class Meta:
        model = Device
        fields = ["status", "type", "mac", "serial_number", "is_banned", "account", "updated_since"]

    def filter_account(self, queryset, name, value):
        return _by_login(queryset, "account", value)


class DeviceEventFilterSet(django_filters.FilterSet):
    device = django_filters.UUIDFilter(field_name="device__uuid", help_text="The device's uuid.")
    action = django_filters.ChoiceFilter(choices=EventAction.choices)
    source = django_filters.ChoiceFilter(choices=EventSource.choices)
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte", help_text="From (ISO 8601).")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="Before (ISO 8601).")

    class Meta:
        model = DeviceEvent
        fields = ["device", "action", "source", "since", "until"]


class AccountFilterSet(django_filters.FilterSet):
    login = django_filters.CharFilter(method="filter_login", help_text="In any letter case.")
    status = django_filters.ChoiceFilter(choices=AccountStatus.choices)
    role = django_filters.ChoiceFilter(choices=AccountRole.choices)
    is_deleted = BooleanFilter(field_name="deleted_at", method="filter_is_deleted")

    class Meta:
        model = Account
        fields = ["login", "status", "role", "is_deleted"]

    def filter_login(self, queryset, name, value):
        return queryset.with_login(value) if value else queryset

    def filter_is_deleted(self, queryset, name, value):
        return queryset.filter(deleted_at__isnull=not value)


class LicenseFilterSet(django_filters.FilterSet):
    account = django_filters.CharFilter(method="filter_account", help_text="The pool's account login.")
    kind = django_filters.ChoiceFilter(choices=LicenseKind.choices)
    reference = django_filters.CharFilter(help_text="The batch it was generated in.")

    class Meta:
        model = License
        fields = ["account", "kind", "reference"]

    def filter_account(self, queryset, name, value):
        return _by_login(queryset, "account", value)
