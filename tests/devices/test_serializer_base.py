"""devices.api.base: cheaper field copies that still keep instances apart; answers that share their fields."""

import pytest
from rest_framework import serializers

from devices.api.base import ResponseSerializer, Serializer
from tests.conftest import run_in_threads


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


class InnerAnswer(ResponseSerializer):
    name = serializers.CharField()


class Answer(ResponseSerializer):
    code = serializers.CharField(source="label")
    tags = serializers.ListField(child=serializers.CharField())
    inner = InnerAnswer()
    items = InnerAnswer(many=True)


def _answer(i: int) -> dict:
    return {"label": f"c{i}", "tags": [str(i)], "inner": {"name": f"n{i}"}, "items": [{"name": f"i{i}"}]}


def _expected(i: int) -> dict:
    return {"code": f"c{i}", "tags": [str(i)], "inner": {"name": f"n{i}"}, "items": [{"name": f"i{i}"}]}


def test_an_answer_serializer_renders_like_drf_with_its_fields_built_once():
    assert Answer(_answer(1)).data == _expected(1)
    assert Answer(_answer(2)).data == _expected(2)
    # One bound set of fields for every answer, nested serializers' too.
    assert Answer().fields is Answer().fields
    assert Answer().fields["inner"].fields is InnerAnswer().fields
    assert Answer().fields["code"].source_attrs == ["label"]


def test_answers_rendered_by_many_threads_at_once_are_each_their_own():
    results = run_in_threads(16, lambda i: [Answer(_answer(i * 100 + k)).data for k in range(50)])
    for i, rendered in enumerate(results):
        assert rendered == [_expected(i * 100 + k) for k in range(50)]


def test_an_answer_serializer_refuses_to_validate_input():
    with pytest.raises(TypeError):
        Answer(data=_answer(1)).is_valid()
