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
    p = _param("Accepted and ignored: older clients send the caller's password; the hash authenticates.")


class DeviceCreateSerializer(SignedCallSerializer):
    user_id = serializers.CharField(help_text="The user who gets the device. Signed first.")
    description = _param("Free text. Signed.")
    pin = _param("Digits. Not sent: a random unique pin; sent empty: no pin. Signed.")
    type = _param("SIP, PJSIP, IAX2, FAX, Virtual, H323, ZAP or Skype; empty: the default type (SIP). Signed.")
    devicegroup_id = _param("A group of the user; not sent: the user's primary group. Signed.")
    caller_id = _param("The caller id number (accountants need the caller-id permission). Signed last.")


class DevicesGetSerializer(SignedCallSerializer):
    user_id = serializers.CharField(help_text="The user whose devices to list. The only signed parameter.")
    show_hidden_devices = _param("1 (the default) lists every device; 0 leaves hidden and blocked (banned) ones out.")


class DeviceDetailsGetSerializer(SignedCallSerializer):
    device_id = _param("The device's id. Signed.")
    device_u = _param("Or the device's SIP login (used when device_id is not sent). Signed after device_id.")


class DeviceUpdateSerializer(SignedCallSerializer):
    device = serializers.CharField(help_text="The device's id. Signed first.")
    authentication = _param("0: dynamic (username and password); 1: by IP address (host, port). Signed second.")
    username = _param("The SIP login (1 to 32 of A-Z a-z 0-9 . _ - +), unique. Signed third.")
    host = _param("The device's IP address, for IP authentication. Signed fourth.")
    port = _param("Its SIP port (1-65535; 5060 when never set), for IP authentication. Signed last.")
    password = _param("The SIP secret (up to 64 characters). Not signed, like every field below.")
    description = _param("Free text, up to 255 characters.")
    pin = _param("Digits, unique; empty: no pin.")
    callerid_number = _param("The caller id number (accountants need the caller-id permission).")
    callerid_name = _param("The caller id name.")
    allow_empty_callerid = _param("1: an empty callerid_number / callerid_name clears it (otherwise it is ignored).")
    extension = _param("a-z, 0-9, # and *, unique; empty: none.")
    hidden = _param("1 hides the device (devices_get with show_hidden_devices=0 leaves it out); 0 shows it.")
    comment = _param("Free text, up to 2000 characters.")
    call_limit = _param("Simultaneous calls; 0 is unlimited.")


class DeviceDeleteSerializer(SignedCallSerializer):
    device = serializers.CharField(help_text="The device's id. The only signed parameter.")
