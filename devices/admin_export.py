"""CSV export of an admin list: exactly the rows its filters and search select, streamed.

Each admin names its columns (`export_columns`: a header, a `values_list` path, and optionally a function that
turns the value into a cell in place of `as_text`; it must keep the cell from reading as a formula). Rows are
read as tuples through a server-side cursor, in chunks, and written as they are read, so a million rows take no
more memory than a chunk. Cells a spreadsheet would run as formulas are written as text (devices.spreadsheet).
"""

import csv
import json
from collections.abc import Callable, Iterator
from datetime import datetime

from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone

from devices.spreadsheet import spreadsheet_safe

CHUNK_ROWS = 5000


def as_text(value: object) -> object:
    """A value as a CSV cell: ISO times, true/false, JSON for structures, text a spreadsheet won't run; csv.writer
    writes None as an empty cell."""
    if isinstance(value, str):
        return spreadsheet_safe(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return spreadsheet_safe(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return value


class _Lines:
    """What csv.writer writes to: it hands back each line instead of keeping it."""

    def write(self, line: str) -> str:
        return line


class CsvExportMixin:
    """An "Export CSV" button on a ModelAdmin's list, for staff who may view the model."""

    change_list_template = "admin/change_list_export.html"
    #: (header, values_list path[, text function]) per column.
    export_columns: tuple[tuple, ...] = ()

    def get_urls(self):
        opts = self.model._meta
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_view),
            name=f"{opts.app_label}_{opts.model_name}_export",
        )
        return [export, *super().get_urls()]

    def get_changelist(self, request, **kwargs):
        """For an export, the list's own class that selects its rows (filters, search, order) but neither reads a
        page of them nor counts them."""
        list_class = super().get_changelist(request, **kwargs)
        if not getattr(request, "csv_export", False):
            return list_class
        return type("ExportRows", (list_class,), {"get_results": lambda self, request: None})

    def changelist_view(self, request, extra_context=None):
        opts = self.model._meta
        context = {"export_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_export"), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        request.csv_export = True
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # What the list itself does with parameters it can't apply: start again without them.
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + "?e=1")
        rows = changelist.queryset.values_list(*(column[1] for column in self.export_columns))
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(self._lines(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.model._meta.model_name}s-{stamp}.csv"'
        return response

    def _lines(self, rows) -> Iterator[str]:
        writer = csv.writer(_Lines())
        texts: list[Callable] = [as_text if len(column) < 3 else column[2] for column in self.export_columns]
        yield writer.writerow([column[0] for column in self.export_columns])
        for row in rows.iterator(chunk_size=CHUNK_ROWS):
            yield writer.writerow([text(value) for text, value in zip(texts, row, strict=True)])
