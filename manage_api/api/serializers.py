"""The management API's wire format: read-only, one serializer per answer, typed for the OpenAPI schema."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from devices.choices import EventSource
from devices.models import Account, ClientAppInfo, Device, DeviceEvent
from licensing.models import License, LicenseSession
from mor_api.models import MorDevice
from webhooks.models import EVENT_TYPES, Webhook


class OwnerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "login"]


class BanSerializer(serializers.Serializer):
    # Not who banned it: an operator's username would let a third party lock that operator out of the admin
    # (the admin's login locks out per username).
    reason = serializers.CharField(source="ban_reason")
    banned_at = serializers.DateTimeField(allow_null=True)


class DeviceSerializer(serializers.ModelSerializer):
    """A device as every list shows it: its identity, lifecycle, owner and ban."""

    owner = OwnerSerializer(source="account", allow_null=True, help_text="The account it was activated for.")
    ban = serializers.SerializerMethodField(help_text="Why and by whom it was banned; null when not banned.")

    class Meta:
        model = Device
        fields = [
            "uuid",
            "id",
            "type",
            "mac",
            "serial_number",
            "name",
            "version",
            "status",
            "status_until",
            "is_online",
            "last_seen_at",
            "owner",
            "activated_at",
            "is_banned",
            "ban",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"mac": {"help_text": "12 upper-case hex digits, e.g. A1B2C3D4E5F6; null when it has none."}}

    @extend_schema_field(BanSerializer(allow_null=True))
    def get_ban(self, device):
        return BanSerializer(device).data if device.is_banned else None


class ClientAppSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClientAppInfo
        fields = ["app_name", "app_version", "device_os", "device_version", "ip", "updated_at"]


class LicenseSessionSerializer(serializers.ModelSerializer):
    license = serializers.CharField(source="license.key", help_text="The license key it activated with.")

    class Meta:
        model = LicenseSession
        fields = ["id", "license", "created_at", "ended_at", "last_validated_at"]


class SipLineSerializer(serializers.ModelSerializer):
    """The device's SIP line (MOR), without its secret: that is the device's to hold, not an integrator's."""

    group = serializers.CharField(source="group.name", help_text="The MOR device group.")

    class Meta:
        model = MorDevice
        fields = [
            "username",
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
        ]


class DeviceDetailSerializer(DeviceSerializer):
    """One device with what each protocol keeps of it (null where it has none), as its admin page shows."""

    client_app = serializers.SerializerMethodField(help_text="What the client registry learned of its app.")
    license_session = serializers.SerializerMethodField(help_text="The licensing session it activated with.")
    sip_line = serializers.SerializerMethodField(help_text="Its SIP line in the softswitch (MOR).")

    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, "client_app", "license_session", "sip_line"]

    @staticmethod
    def _related(device, name: str, serializer_class):
        related = getattr(device, name, None)  # a reverse one-to-one raises when there is none
        return None if related is None else serializer_class(related).data

    @extend_schema_field(ClientAppSerializer(allow_null=True))
    def get_client_app(self, device):
        return self._related(device, "client_app", ClientAppSerializer)

    @extend_schema_field(LicenseSessionSerializer(allow_null=True))
    def get_license_session(self, device):
        return self._related(device, "license_session", LicenseSessionSerializer)

    @extend_schema_field(SipLineSerializer(allow_null=True))
    def get_sip_line(self, device):
        return self._related(device, "mor", SipLineSerializer)


class DeviceEventSerializer(serializers.ModelSerializer):
    device = serializers.UUIDField(source="device.uuid", help_text="The device's uuid.")
    actor = serializers.SerializerMethodField(
        help_text="Who made the change: an API key's name, a command's; empty for an operator in the admin."
    )

    def get_actor(self, event: DeviceEvent) -> str:
        # An operator's username would let a third party lock that operator out of the admin (per-username lockout).
        return "" if event.source == EventSource.ADMIN else event.actor

    class Meta:
        model = DeviceEvent
        fields = [
            "id",
            "device",
            "action",
            "from_status",
            "to_status",
            "source",
            "actor",
            "request_id",
            "details",
            "created_at",
        ]


class AccountSerializer(serializers.ModelSerializer):
    """An account, never its password (not even its hash)."""

    owner = serializers.CharField(source="owner.login", allow_null=True, help_text="The managing account's login.")

    class Meta:
        model = Account
        fields = [
            "id",
            "login",
            "name",
            "type",
            "status",
            "role",
            "owner",
            "billing_properties",
            "can_update_password",
            "is_vendor",
            "created_at",
            "updated_at",
            "deleted_at",
        ]


class LicenseSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.login", allow_null=True, help_text="The pool's account login.")

    class Meta:
        model = License
        fields = [
            "id",
            "key",
            "kind",
            "max_activations",
            "activations_count",
            "account",
            "expires_at",
            "revoked_at",
            "reference",
            "created_at",
        ]


class ManageErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable: not_authenticated, permission_denied, not_found, ...")
    message = serializers.CharField()


class ManageFilterErrorSerializer(ManageErrorSerializer):
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="The messages of each bad parameter."
    )


class WebhookSerializer(serializers.ModelSerializer):
    """A webhook as listed: never its secret (shown once, when it is created)."""

    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        allow_empty=False,
        max_length=len(EVENT_TYPES),
        help_text="The event types it receives: " + ", ".join(EVENT_TYPES) + ".",
    )

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "is_active", "description", "created_at", "updated_at"]
        extra_kwargs = {"url": {"help_text": "Where each delivery is POSTed: an http(s) URL of a public host."}}

    def validate_events(self, events: list[str]) -> list[str]:
        return sorted(set(events), key=EVENT_TYPES.index)  # each once, in one order


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (Standard Webhooks, whsec_...): shown only in this answer."
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class ManageValidationErrorSerializer(ManageErrorSerializer):
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="The messages of each bad field."
    )
