"""The VMS billing API's wire format (seeds 000 and 001)."""

import uuid as uuid_lib
from collections.abc import Mapping

from rest_framework import serializers

from devices.api.base import ResponseSerializer, Serializer
from devices.api.fields import LaravelBooleanField, MessageCharField, laravel_string_messages
from devices.choices import DeviceStatus
from devices.macs import InvalidMac, normalize_mac
from devices.models import Account

# The billing API's words for the lifecycle states.
STATUS_WORDS = {
    DeviceStatus.INITIALIZING: "initialization",
    DeviceStatus.AVAILABLE: "free",
    DeviceStatus.RESERVED: "reserve",
    DeviceStatus.ACTIVE: "active",
    DeviceStatus.DEACTIVATING: "deactivation",
}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _string(name: str, *, max_length: int, required: bool = True, help_text: str = "") -> MessageCharField:
    optional = {} if required else {"required": False, "allow_blank": True, "allow_null": True}
    return MessageCharField(
        messages=laravel_string_messages(name), max_length=max_length, help_text=help_text, **optional
    )


# -- input ---------------------------------------------------------------------------------


class DeviceRefInputSerializer(Serializer):
    """A device named by its type and its MAC and/or serial number."""

    type = _string("type", max_length=32, help_text="A device type, e.g. mediaagent.")
    mac = _string("mac", max_length=32, required=False, help_text="The MAC address, in any usual spelling.")
    serial_number = _string("serial_number", max_length=128, required=False, help_text="The serial number.")

    def validate_mac(self, value):
        if not value:
            return None
        try:
            return normalize_mac(value)
        except InvalidMac as exc:
            raise serializers.ValidationError("The mac field format is invalid.") from exc

    def validate_serial_number(self, value):
        return value or None

    MAC_OR_SERIAL = {
        "mac": ["The mac field is required when serial number is not present."],
        "serial_number": ["The serial number field is required when mac is not present."],
    }

    def missing(self, data: Mapping) -> dict[str, list[str]]:
        """Laravel's `required_without` errors: a device needs a MAC or a serial number."""
        return {} if data.get("mac") or data.get("serial_number") else dict(self.MAC_OR_SERIAL)

    def to_internal_value(self, data):
        # Laravel reports "required without" with every other field's errors, in the fields' order.
        errors = self.missing(data) if isinstance(data, Mapping) else {}
        try:
            attrs = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors = {**exc.detail, **errors}
            attrs = None
        if errors:
            ordered = {name: errors[name] for name in self.fields if name in errors}
            raise serializers.ValidationError({**ordered, **errors})
        return attrs


class ActivateInputSerializer(DeviceRefInputSerializer):
    login = _string("login", max_length=254, help_text="The login of the user who gets the device.")
    name = _string("name", max_length=255, help_text="The name for the device.")
    skip_reserve_check = LaravelBooleanField(
        name="skip_reserve_check", required=False, default=False, help_text="Required to activate a reserved device."
    )

    field_order = ("login", "name", "type", "mac", "serial_number", "skip_reserve_check")

    def get_fields(self):
        fields = super().get_fields()
        return {name: fields[name] for name in self.field_order}

    LOGIN_INVALID = "The selected login is invalid."

    def to_internal_value(self, data):
        # The activation itself checks the login (one statement). Only when other fields are at fault is it
        # looked up here, so that, as in Laravel, every error is reported at once.
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if "login" in exc.detail:
                raise  # its own errors (a NUL byte among them: never sent to the database)
            login = data.get("login") if isinstance(data, Mapping) else None
            known = not isinstance(login, str) or not login or Account.objects.usable().with_login(login).exists()
            if not known:
                detail = {"login": [self.LOGIN_INVALID], **exc.detail}
                exc.detail = {name: detail[name] for name in self.field_order if name in detail} | detail
            raise


class DeviceSelectorInputSerializer(DeviceRefInputSerializer):
    """A device named by its uuid, or, as reserve and activate name it, by its type and MAC and/or serial number.

    An integrator that activated a device by MAC has no uuid for it. Every part sent must match the device.
    """

    uuid = _string("uuid", max_length=64, required=False, help_text="The device's uuid, as reserve answers it.")
    type = _string("type", max_length=32, required=False, help_text="A device type; required without a uuid.")

    field_order = ("uuid", "type", "mac", "serial_number")
    UUID_OR_TYPE = {
        "uuid": ["The uuid field is required when type is not present."],
        "type": ["The type field is required when uuid is not present."],
    }

    def get_fields(self):
        fields = super().get_fields()
        return {name: fields[name] for name in self.field_order} | fields

    def missing(self, data: Mapping) -> dict[str, list[str]]:
        if data.get("uuid"):
            return {}
        if not data.get("type"):
            return dict(self.UUID_OR_TYPE)
        return super().missing(data)

    def validate_uuid(self, value):
        if not value:
            return None
        # Whether a device has it is seen when the service locks the device: one query, not two.
        try:
            return uuid_lib.UUID(value)
        except ValueError as exc:
            raise serializers.ValidationError("The uuid field must be a valid UUID.") from exc


class DeactivateInputSerializer(DeviceSelectorInputSerializer):
    leave_reserved = LaravelBooleanField(
        name="leave_reserved", required=False, default=False, help_text="Reserved, not free, once deactivated."
    )


# -- output --------------------------------------------------------------------------------


class BlankAsNullCharField(serializers.CharField):
    def to_representation(self, value):
        return value or None


class BillingTimeField(serializers.DateTimeField):
    def __init__(self, **kwargs):
        super().__init__(format=TIME_FORMAT, allow_null=True, **kwargs)


class StatusWordField(serializers.CharField):
    def to_representation(self, value):
        return STATUS_WORDS[value]


class ReservedDeviceSerializer(ResponseSerializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    uuid = serializers.UUIDField()
    serial_number = BlankAsNullCharField(allow_null=True)
    status = StatusWordField(help_text="initialization, free, reserve, active or deactivation.")
    mac = BlankAsNullCharField(allow_null=True)
    name = BlankAsNullCharField(allow_null=True)
    version = BlankAsNullCharField(allow_null=True)
    created_at = BillingTimeField(source="activated_at", help_text="When the device was added to its user.")
    last_updated_at = BillingTimeField(source="last_seen_at", help_text="When the device last reported.")
    is_online = serializers.BooleanField()


class UserSerializer(ResponseSerializer):
    id = serializers.IntegerField()
    login = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    status = serializers.CharField()
    created_at = BillingTimeField()
    updated_at = BillingTimeField()
    deleted_at = BillingTimeField()
    can_update_password = serializers.BooleanField()
    billing_properties = serializers.ListField(child=serializers.JSONField())


class StorageSerializer(ResponseSerializer):
    id = serializers.IntegerField()
    path = serializers.CharField()
    usage = serializers.FloatField()
    capacity = serializers.IntegerField()


class ActivatedDeviceSerializer(ResponseSerializer):
    id = serializers.IntegerField()
    serial_number = BlankAsNullCharField(allow_null=True)
    mac = BlankAsNullCharField(allow_null=True)
    name = BlankAsNullCharField(allow_null=True)
    version = BlankAsNullCharField(allow_null=True)
    created_at = BillingTimeField(source="activated_at", help_text="When the device was added to its user.")
    last_updated_at = BillingTimeField(source="last_seen_at", help_text="When the device last reported.")
    is_online = serializers.BooleanField()
    user = UserSerializer(source="account")
    storages = StorageSerializer(many=True, source="storage_list")
    cameras_count = serializers.IntegerField()


class MessageSerializer(Serializer):
    message = serializers.CharField()


class StateErrorSerializer(Serializer):
    message = serializers.CharField()
    code = serializers.IntegerField(help_text="33600, 33599, 33601, 33603, 33610, 33622 or 1000.")


class ValidationErrorSerializer(Serializer):
    message = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
