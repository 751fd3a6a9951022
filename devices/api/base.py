"""The serializer every protocol's wire format is declared with."""

import copy

from rest_framework import serializers

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
