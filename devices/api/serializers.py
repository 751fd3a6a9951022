"""The client device registry's wire format (seed 002 and its family: device_check, device_activity)."""

import re

from rest_framework import serializers

from devices.api.base import Serializer
from devices.api.fields import MessageCharField
from devices.macs import InvalidMac, normalize_mac


def _field_messages(name: str) -> dict[str, str]:
    return {
        "required": f"The {name} field is required.",
        "blank": f"The {name} field must not be empty.",
        "null": f"The {name} field must not be empty.",
        "invalid": f"The {name} field must be a string.",
        "max_length": f"The {name} field must not be longer than {{max_length}} characters.",
        "null_characters": f"The {name} field must not contain null characters.",
    }


def _required_text(name: str, max_length: int = 64, help_text: str = "") -> serializers.CharField:
    return MessageCharField(messages=_field_messages(name), max_length=max_length, help_text=help_text)


class MacAddressInputSerializer(Serializer):
    mac_address = _required_text("mac_address", 32, "The device's MAC address, in any usual spelling.")

    def validate_mac_address(self, value: str) -> str:
        try:
            return normalize_mac(value)
        except InvalidMac as exc:
            raise serializers.ValidationError("The mac_address field must be a valid MAC address.") from exc


class DeviceRegisterInputSerializer(MacAddressInputSerializer):
    device_os = _required_text("device_os", help_text="The operating system of the device.")
    device_version = _required_text("device_version", help_text="The version of the device.")
    device_type = _required_text("device_type", 32, "The type of the device, e.g. Mobile.")
    app_version = _required_text("app_version", help_text="The version of the application.")
    app_name = _required_text("app_name", 128, "The name of the application.")


# The screens known to show one piece of content: they must say which. Other screens are taken as named.
SCREENS_WITH_CONTENT = ("content_info",)
SCREEN = re.compile(r"[a-z][a-z0-9_]{0,63}")


class ContentNumberField(serializers.IntegerField):
    """A positive content number, as a JSON integer or the digits of a form field."""

    def __init__(self, name: str, **kwargs):
        message = f"The {name} field must be a whole number."
        messages = {"invalid": message, "max_string_length": message, "min_value": message, "max_value": message}
        super().__init__(
            required=False, allow_null=True, min_value=0, max_value=2**53, error_messages=messages, **kwargs
        )

    def to_internal_value(self, data):
        if data == "":
            return None
        if isinstance(data, bool | float):  # DRF would take true as 1 and 2.0 as 2
            self.fail("invalid")
        return super().to_internal_value(data)


class DeviceActivityInputSerializer(MacAddressInputSerializer):
    current_screen = _required_text(
        "current_screen", help_text="The screen the app shows: home, content_info, ... (a lower-case identifier)."
    )
    content_id = ContentNumberField("content_id", help_text="The content shown or played; required on content_info.")
    content_type = ContentNumberField("content_type", help_text="The type of that content; required on content_info.")

    def validate_current_screen(self, value: str) -> str:
        if not SCREEN.fullmatch(value):
            raise serializers.ValidationError(
                "The current_screen field must be a lower-case identifier such as home or content_info."
            )
        return value

    def validate(self, attrs):
        if attrs["current_screen"] in SCREENS_WITH_CONTENT:
            missing = {
                name: [f"The {name} field is required when current_screen is {attrs['current_screen']}."]
                for name in ("content_id", "content_type")
                if attrs.get(name) is None
            }
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class DeviceRegisterDataSerializer(Serializer):
    mac_address = serializers.CharField(help_text="The canonical MAC: 12 upper-case hex digits.")
    status = serializers.IntegerField(help_text="1: the device is registered and enabled.")
    ban_status = serializers.IntegerField(help_text="1: the device is banned, 0: it is not.")


class ConfigsDataSerializer(Serializer):
    device_management = serializers.IntegerField(help_text="1: bans are enforced; anything else: disabled.")


def envelope_serializer(name: str, data_serializer, *, with_errors: bool = False):
    """The seed's envelope around `data`, for the schema."""
    fields = {
        "status": serializers.IntegerField(help_text="The HTTP status, repeated."),
        "timestamp": serializers.IntegerField(help_text="Unix time of the answer, in seconds."),
        "time": serializers.FloatField(help_text="Seconds spent on the request."),
        "ip": serializers.CharField(help_text="The client's ip address."),
        "message": serializers.CharField(),
        "data": data_serializer,
    }
    if with_errors:
        fields["errors"] = serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Messages per field, when fields were at fault.",
        )
    return type(name, (Serializer,), fields)


DeviceEnvelopeSerializer = envelope_serializer("DeviceEnvelope", DeviceRegisterDataSerializer())
ConfigsEnvelopeSerializer = envelope_serializer("ConfigsEnvelope", ConfigsDataSerializer())
ErrorEnvelopeSerializer = envelope_serializer(
    "RegistryErrorEnvelope", serializers.JSONField(allow_null=True, default=None), with_errors=True
)
