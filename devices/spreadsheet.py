"""CSV cells for files an operator opens in a spreadsheet (command reports, generated license lists)."""

# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets (OWASP's CSV injection
# list, tab and carriage return included).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: object) -> object:
    """A text cell a spreadsheet would run as a formula, made text with a leading apostrophe; the rest as is."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell
