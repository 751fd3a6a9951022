import pytest

from devices.macs import InvalidMac, format_mac, normalize_mac


@pytest.mark.parametrize(
    "spelling",
    ["a1:b2:c3:d4:e5:f6", "A1-B2-C3-D4-E5-F6", "a1b2.c3d4.e5f6", "A1B2C3D4E5F6", "  a1b2c3d4e5f6 "],
)
def test_every_usual_spelling_normalises_to_the_canonical_form(spelling):
    assert normalize_mac(spelling) == "A1B2C3D4E5F6"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "A1B2C3D4E5",
        "A1B2C3D4E5F6A7",
        "G1B2C3D4E5F6",
        "a1:b2-c3:d4:e5:f6",
        "a1:b2:c3:d4:e5",
        "fake_mac_5",
        "a1b2c3d4e5f6\x00",
        "' OR 1=1 --",
        12345,
    ],
)
def test_anything_else_is_invalid(bad):
    with pytest.raises(InvalidMac):
        normalize_mac(bad)


def test_format_mac_shows_colons():
    assert format_mac("A1B2C3D4E5F6") == "A1:B2:C3:D4:E5:F6"
    assert format_mac(None) == ""
