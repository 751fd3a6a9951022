"""Serializer fields whose error texts are the protocol's own, and Laravel-style error summaries."""

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def laravel_attribute(name: str) -> str:
    """Laravel names a field in its messages with spaces: serial_number -> serial number."""
    return name.replace("_", " ")


def laravel_string_messages(name: str) -> dict[str, str]:
    attribute = laravel_attribute(name)
    required = f"The {attribute} field is required."
    return {
        "required": required,
        # Laravel treats an empty string and null as absent.
        "blank": required,
        "null": required,
        "invalid": f"The {attribute} field must be a string.",
        "max_length": f"The {attribute} field must not be greater than {{max_length}} characters.",
        "null_characters": f"The {attribute} field must not contain null characters.",
    }


class MessageCharField(serializers.CharField):
    """A CharField whose every error, the NUL check included, uses the given texts."""

    def __init__(self, *, messages: dict[str, str], **kwargs):
        super().__init__(error_messages=messages, **kwargs)
        self.validators = [
            ProhibitNullCharactersValidator(message=messages["null_characters"])
            if isinstance(validator, ProhibitNullCharactersValidator)
            else validator
            for validator in self.validators
        ]


class StrictCharField(serializers.CharField):
    """A CharField that takes only JSON strings: DRF would turn 42 into "42"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.BOOL)
class LaravelBooleanField(serializers.Field):
    """Laravel's `boolean` rule: true, false, 1, 0, "1" and "0" (and "true"/"false")."""

    TRUE = {"1", "true"}
    FALSE = {"0", "false"}

    def __init__(self, *, name: str, **kwargs):
        message = f"The {laravel_attribute(name)} field must be true or false."
        kwargs.setdefault("error_messages", {"invalid": message, "null": message})
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, int) and data in (0, 1):
            return bool(data)
        if isinstance(data, str) and data.lower() in self.TRUE | self.FALSE:
            return data.lower() in self.TRUE
        self.fail("invalid")

    def to_representation(self, value):
        return bool(value)


def validation_message(errors: dict) -> tuple[str, dict[str, list[str]]]:
    """Laravel-style: the first message plus how many more there are; the messages per field."""
    per_field = {
        field: [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        for field, messages in errors.items()
    }
    texts = [text for messages in per_field.values() for text in messages]
    if not texts:
        return "The given data was invalid.", per_field
    more = len(texts) - 1
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return texts[0] + suffix, per_field
