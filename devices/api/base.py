"""What every protocol's API is declared with: its serializers, and the methods its views answer."""

import copy

from django.views import View
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict

# No view answers OPTIONS (no DRF metadata: server-to-server and device APIs, no browser preflight): it is refused
# as any method a call doesn't take, and the Allow header of a refusal names only the methods it does take.
HTTP_METHODS_BUT_OPTIONS = [method for method in View.http_method_names if method != "options"]

# Fields that hold bound children of their own: these are still deep-copied.
_WITH_CHILDREN = (serializers.BaseSerializer, serializers.ListField, serializers.DictField)


# DRF's Serializer, with cheaper copies of its declared fields. (A comment, not a docstring: the schema would
# show a docstring as the description of every serializer.)
#
# DRF deep-copies each declared field for every serializer instance, which re-runs the field's __init__ with deep
# copies of its arguments: about half the cost of validating or rendering a small body. Once built, a plain field
# keeps no state that bind() or a request changes in place (bind() sets attributes on the copy), so a shallow copy
# is the same field. Fields with bound children (nested serializers, lists, dicts) are deep-copied as before.
class Serializer(serializers.Serializer):
    def get_fields(self):
        return {
            name: copy.deepcopy(field) if isinstance(field, _WITH_CHILDREN) else _shallow_copy(field)
            for name, field in self._declared_fields.items()
        }


def _shallow_copy(field: serializers.Field) -> serializers.Field:
    # What copy.copy() makes of a field, without its generic __reduce_ex__ round: a new instance with the
    # same attributes.
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    return clone


# A serializer for answers only: its fields are built and bound once per class, not once per answer. Rendering
# reads the fields and never changes them, so every answer can share one bound set; building that set (a copy
# of each field, and of each nested serializer's fields) was most of the cost of rendering a small answer.
# Its fields are bound to a prototype instance with no context: not for fields that read the serializer's
# instance or context (SerializerMethodField, hyperlinks), nor for input, which keeps per-instance fields.
class ResponseSerializer(Serializer):
    @property
    def fields(self):
        cls = type(self)
        shared = cls.__dict__.get("_shared_fields")
        if shared is None:
            prototype = cls()
            shared = BindingDict(prototype)
            for name, field in prototype.get_fields().items():
                shared[name] = field
            cls._shared_fields = shared
        return shared

    def to_internal_value(self, data):
        raise TypeError(f"{type(self).__name__} renders answers; it does not validate input")
