"""A table of ``/insights`` as a CSV file a spreadsheet opens safely.

Names in the figures (a label, a service) come from the trackers, so anyone who can label an
incident writes a cell: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to a spreadsheet (CSV injection, OWASP), so it is written after a single
quote, which the spreadsheet shows as text. Numbers here are never negative, so no figure is
changed by it.
"""

from __future__ import annotations

import csv
import io

from service.web.insight_tables import Table, csv_header, in_csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text(table: Table) -> str:
    """The table's header and rows, CRLF line ends (RFC 4180), every cell made inert."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([inert(cell) for column in table.columns for cell in csv_header(column)])
    for row in table.rows:
        writer.writerow(
            [inert(cell) for column, value in zip(table.columns, row, strict=True) for cell in in_csv(column, value)]
        )
    return out.getvalue()


def inert(cell: str) -> str:
    """``cell``, after a ``'`` when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell
