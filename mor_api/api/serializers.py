"""The MOR API's parameters, for the schema (requests are read as plain strings, see views)."""

from rest_framework import serializers

from devices.api.base import Serializer


def _param(help_text: str) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, help_text=help_text)


class SignedCallSerializer(Serializer):
    u = serializers.CharField(help_text="The login of the calling account (admin, reseller or accountant).")
    hash = serializers.CharField(
        help_text="Lower-case hex SHA1 of the signed parameters' values (in order, only those sent and not empty) "
        "followed by the API secret key."
    )


class DeviceFieldsSerializer(SignedCallSerializer):
    description = _param("Free text.")
    pin = _param("Digits. Not sent: a random unique pin; sent empty: no pin.")
    type = _param("SIP, IAX2, FAX, Virtual, H323, ZAP or Skype; empty: the default type (SIP).")
    devicegroup_id = _param("A group of the user; not sent: the user's primary group.")
    caller_id = _param("The caller id (accountants need the caller-id permission).")


class DeviceCreateSerializer(DeviceFieldsSerializer):
    user_id = serializers.CharField(help_text="The user who gets the device. Signed first.")


class DeviceUpdateSerializer(DeviceFieldsSerializer):
    device = serializers.CharField(help_text="The device's id. Signed first, then the fields sent.")


class UserIdSerializer(SignedCallSerializer):
    user_id = serializers.CharField(help_text="The user whose devices to list. The only signed parameter.")


class DeviceIdSerializer(SignedCallSerializer):
    device_id = serializers.CharField(help_text="The device's id. The only signed parameter.")


class DeviceRefSerializer(SignedCallSerializer):
    device = serializers.CharField(help_text="The device's id. The only signed parameter.")
