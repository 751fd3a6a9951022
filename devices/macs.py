"""MAC addresses: any usual spelling in, 12 upper-case hex digits out."""

import re

# a1:b2:c3:d4:e5:f6, a1-b2-c3-d4-e5-f6, a1b2.c3d4.e5f6, a1b2c3d4e5f6 (one separator style each). Matched with
# fullmatch(): `$` would take a value ending in a newline.
_MAC_SPELLINGS = re.compile(
    r"""
    (?:
        [0-9a-f]{2}(?::[0-9a-f]{2}){5}
      | [0-9a-f]{2}(?:-[0-9a-f]{2}){5}
      | [0-9a-f]{4}(?:\.[0-9a-f]{4}){2}
      | [0-9a-f]{12}
    )
    """,
    re.IGNORECASE | re.VERBOSE,
)
_SEPARATORS = str.maketrans("", "", ":-.")


class InvalidMac(ValueError):
    pass


def normalize_mac(value: str) -> str:
    """Return the canonical form of a MAC address; raise InvalidMac otherwise."""
    if not isinstance(value, str):
        raise InvalidMac("A MAC address must be a string.")
    candidate = value.strip()
    if not _MAC_SPELLINGS.fullmatch(candidate):
        raise InvalidMac("Not a MAC address: use 12 hex digits, e.g. A1:B2:C3:D4:E5:F6.")
    return candidate.translate(_SEPARATORS).upper()


def try_normalize_mac(value: str) -> str | None:
    try:
        return normalize_mac(value)
    except InvalidMac:
        return None


def format_mac(canonical: str | None) -> str:
    """A1B2C3D4E5F6 -> A1:B2:C3:D4:E5:F6, for people."""
    if not canonical:
        return ""
    return ":".join(canonical[i : i + 2] for i in range(0, 12, 2))
