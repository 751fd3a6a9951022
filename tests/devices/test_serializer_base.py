"""devices.api.base.Serializer: cheaper field copies that still keep instances apart."""

from rest_framework import serializers

from devices.api.base import Serializer


class Inner(Serializer):
    name = serializers.CharField()


class Outer(Serializer):
    code = serializers.CharField(max_length=4)
    tags = serializers.ListField(child=serializers.CharField())
    inner = Inner()


def test_each_instance_has_its_own_bound_fields():
    first, second = Outer(), Outer()
    assert first.fields["code"] is not second.fields["code"]
    assert first.fields["code"] is not Outer._declared_fields["code"]
    assert first.fields["code"].parent is first
    assert second.fields["code"].parent is second
    # A change to one instance's field leaves the others alone.
    first.fields["code"].required = False
    assert second.fields["code"].required is True
    assert Outer().fields["code"].required is True


def test_fields_with_children_are_deep_copies():
    first, second = Outer(), Outer()
    assert first.fields["tags"].child is not second.fields["tags"].child
    assert first.fields["inner"].fields["name"] is not second.fields["inner"].fields["name"]
    assert first.fields["inner"].fields["name"].root is first


def test_validation_and_output_are_drf_s():
    valid = Outer(data={"code": "ab", "tags": ["x"], "inner": {"name": "n"}})
    assert valid.is_valid(), valid.errors
    assert valid.validated_data == {"code": "ab", "tags": ["x"], "inner": {"name": "n"}}
    invalid = Outer(data={"code": "toolong", "tags": [], "inner": {}})
    assert not invalid.is_valid()
    assert set(invalid.errors) == {"code", "inner"}
    assert Outer({"code": "ab", "tags": ["x"], "inner": {"name": "n"}}).data == {
        "code": "ab",
        "tags": ["x"],
        "inner": {"name": "n"},
    }
