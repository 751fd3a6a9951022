"""License keys as CSV, the same file from `generate_licenses` and from the admin's Generate keys page."""

import csv
import io
from collections.abc import Iterable

from devices.spreadsheet import spreadsheet_safe
from licensing.models import License

COLUMNS = ["key", "max_activations", "account", "expires_at", "reference"]


def write_keys(stream, licenses: Iterable[License]) -> None:
    """A header row, then one row per key (its account loaded with it)."""
    writer = csv.writer(stream)
    writer.writerow(COLUMNS)
    for license in licenses:
        owner = license.account.login if license.account else ""
        expires = license.expires_at.isoformat() if license.expires_at else ""
        row = [license.key, license.max_activations, owner, expires, license.reference]
        writer.writerow([spreadsheet_safe(cell) for cell in row])


def keys_csv(licenses: Iterable[License]) -> str:
    buffer = io.StringIO()
    write_keys(buffer, licenses)
    return buffer.getvalue()
