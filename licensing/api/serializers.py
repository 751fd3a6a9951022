"""The licensing API's wire format (seed 003, the FLECS Console API)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from devices.api.base import Serializer
from devices.api.fields import StrictCharField
from licensing.models import DeviceLicenseStatus


class LoginInputSerializer(Serializer):
    username = StrictCharField(max_length=254)
    password = StrictCharField(max_length=1024, trim_whitespace=False)
    issueJWT = serializers.BooleanField(required=False, default=False)


class JwtSerializer(Serializer):
    token = serializers.CharField()
    token_expires = serializers.IntegerField(help_text="Unix seconds.")


class LoginUserSerializer(Serializer):
    ID = serializers.IntegerField()
    display_name = serializers.CharField()
    user_email = serializers.CharField()
    user_login = serializers.CharField()


class FeatureFlagsSerializer(Serializer):
    isVendor = serializers.BooleanField()
    isWhitelabeled = serializers.BooleanField()


class LoginDataSerializer(Serializer):
    jwt = JwtSerializer(allow_null=True, help_text="Null unless issueJWT was true.")
    user = LoginUserSerializer()
    feature_flags = FeatureFlagsSerializer()


class LicenseActivateInputSerializer(Serializer):
    licenseKey = StrictCharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=128,
        help_text="A license key, or a registered device's serial number. Leave out to use the account's pool.",
    )


class SessionIdSerializer(Serializer):
    id = serializers.UUIDField()
    timestamp = serializers.IntegerField(help_text="Unix seconds of the activation.")


class ActivateDataSerializer(Serializer):
    sessionId = SessionIdSerializer()
    licenseKey = StrictCharField()


class ValidateDataSerializer(Serializer):
    isValid = serializers.BooleanField()


class ManufacturerIdField(serializers.IntegerField):
    """An integer, as the console's OpenAPI document types `manufacturer.id` (example 791).

    A string of decimal digits ("791") is read as that integer, for the clients
    of this service's earlier string field; any other string, a float or a
    boolean is invalid (docs/decisions.md).
    """

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=2**63 - 1, **kwargs)

    def to_internal_value(self, data):
        is_integer = isinstance(data, int) and not isinstance(data, bool)
        is_digits = isinstance(data, str) and data.isascii() and data.isdigit()
        if not (is_integer or is_digits):
            self.fail("invalid")
        return super().to_internal_value(data)


class ManufacturerSerializer(Serializer):
    name = StrictCharField(max_length=255)
    id = ManufacturerIdField()


# As the console's document types it (int16, example 0), with no enum component: the codes are described in the
# operation (licensing.api.views.DEVICE_LICENSE_STATUSES).
@extend_schema_field(
    {"type": "integer", "format": "int16", "minimum": min(DeviceLicenseStatus), "maximum": max(DeviceLicenseStatus)}
)
class DeviceLicenseStatusField(serializers.IntegerField):
    pass


class DeviceLicenseInputSerializer(Serializer):
    manufacturer = ManufacturerSerializer()
    model = StrictCharField(max_length=255)
    serial_number = StrictCharField(max_length=256, trim_whitespace=False)
    manufacture_date = serializers.DateField(input_formats=["iso-8601"], help_text="YYYY-MM-DD.")


class DeviceLicenseDataSerializer(Serializer):
    serial_number = serializers.CharField()
    manufacturer = ManufacturerSerializer()
    model = serializers.CharField()
    manufacture_date = serializers.DateField()
    created_at = serializers.DateTimeField()
    status = DeviceLicenseStatusField(
        help_text="0 registered (every new registration), 1 activated, 2 revoked or expired.",
    )


def envelope(name: str, data_serializer):
    """The FLECS envelope around `data`, for the schema."""
    return type(
        name,
        (Serializer,),
        {"data": data_serializer, "statusCode": serializers.IntegerField(), "statusText": serializers.CharField()},
    )


class ErrorSerializer(Serializer):
    reason = serializers.CharField()
    statusCode = serializers.IntegerField()
    statusText = serializers.CharField()


LoginResponseSerializer = envelope("LoginResponse", LoginDataSerializer())
ActivateResponseSerializer = envelope("ActivateResponse", ActivateDataSerializer())
ValidateResponseSerializer = envelope("ValidateResponse", ValidateDataSerializer())
DeviceLicenseResponseSerializer = envelope("DeviceLicenseResponse", DeviceLicenseDataSerializer())
