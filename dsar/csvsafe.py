"""Every CSV file the product writes, safe to open in a spreadsheet.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a NUL is read by
Excel, LibreOffice and Google Sheets as a formula (CSV or formula injection): a hostile value
stored in a CRM (``=HYPERLINK(…)``) would run in the person's spreadsheet, and an ordinary phone
number (``+44 20 …``) would be mangled. As OWASP recommends, such a cell gets a leading single
quote, which spreadsheets take as "this is text" and do not show, and every cell is quoted, so
that a separator inside a value cannot start a new cell. Header cells are treated the same way,
since field names come from other systems too. Files start with a UTF-8 byte-order mark, so
spreadsheets read accents right. Numbers the product computed itself are written as they are.

The JSON files beside the CSVs keep the raw values.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

BOM = "\ufeff"


class Writable(Protocol):
    """A text file, or an HttpResponse."""

    def write(self, text: str, /) -> Any: ...


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")


def neutralise(value: Any) -> Any:
    """The cell as a spreadsheet may safely read it."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


class Writer:
    """``csv.writer`` with every cell neutralised and quoted."""

    def __init__(self, stream: Writable) -> None:
        self._writer = csv.writer(stream, quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class DictWriter(csv.DictWriter):  # type: ignore[type-arg]
    """``csv.DictWriter`` with every cell, the header's too, neutralised and quoted."""

    def __init__(self, stream: Writable, fieldnames: Sequence[str], **options: Any) -> None:
        super().__init__(stream, fieldnames, quoting=csv.QUOTE_ALL, **options)
        self.writer = Writer(stream)  # type: ignore[assignment]

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow(rowdict)


def start(stream: Writable) -> Writer:
    """Write the byte-order mark and return a writer for the rest of the file."""
    stream.write(BOM)
    return Writer(stream)


def start_dict(stream: Writable, fieldnames: Sequence[str], **options: Any) -> DictWriter:
    stream.write(BOM)
    return DictWriter(stream, fieldnames, **options)
