"""Rows of XLS, XLSB and ODS workbooks through python-calamine, within the bounds of the XLSX reader.

calamine reads a whole sheet into memory, so the bounds are checked on the container before it reads anything: a
zip (XLSB, ODS) may have at most ``max_entries`` members, and the file (XLS, an OLE compound file, not
compressed) or its declared unpacked bytes (XLSB, ODS) are bounded so that a read stays within
``max_in_memory_bytes``: measured, an ODS takes about 1.5 times its unpacked size (100,000 rows of ten texts:
96 MB unpacked, +145 MB), an XLS about 7 times its size (14 MB, 650,000 cells: +98 MB); XLSB is taken to be as
dense as XLS. (Under the XLSX reader's 2 GB, an ODS of 870 KB holding a million rows took the CRM to +243 MB.)
The first sheet's declared rows and columns must fit ``max_rows`` / ``max_columns``; every text cell fits
``max_cell_chars`` and all of them together ``max_shared_chars`` (the texts calamine holds, like the XLSX
reader's shared strings).
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook

from services.crm.adapters.xlsx import MB, XlsxError, XlsxLimits, zip_entries

FORMATS = ("xls", "xlsb", "ods")


def check_container(path: str, fmt: str, limits: XlsxLimits) -> None:
    """Refuse a workbook whose container is over the bounds, before calamine reads it.

    Raises:
        XlsxError: naming the bound.
    """
    cap = limits.max_in_memory_bytes * 2 // 3 if fmt == "ods" else limits.max_in_memory_bytes // 7
    if fmt == "xls":
        size = os.path.getsize(path)
        if size > cap:
            raise XlsxError(f"the workbook is {size / MB:,.1f} MB (an XLS is read whole, at most {cap / MB:,.0f} MB): "
                            "save it as XLSX or CSV, or split it")
        return
    with open(path, "rb") as fh:
        try:
            entries = zip_entries(fh)
        except (OSError, struct.error) as exc:
            raise XlsxError(f"not a zip archive: {exc}") from None
        if entries > limits.max_entries:
            raise XlsxError(f"the zip has {entries:,} members (at most {limits.max_entries:,} are read)")
        try:
            total = sum(i.file_size for i in zipfile.ZipFile(fh).infolist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise XlsxError(f"not a zip archive: {exc}") from None
    if total > cap:
        raise XlsxError(f"the workbook would unpack to {total / MB:,.1f} MB (an {fmt.upper()} is read whole, at most "
                        f"{cap / MB:,.0f} MB): save it as XLSX or CSV, or split it")


def rows(path: str, fmt: str, limits: XlsxLimits | None = None) -> Iterator[list[Any]]:
    """The first sheet's rows, values as the XLSX reader gives them (text, int, float, bool, datetime, None).

    Raises:
        XlsxError: over a bound, or not a workbook calamine can read.
    """
    limits = limits or XlsxLimits()
    check_container(path, fmt, limits)
    try:
        book = CalamineWorkbook.from_path(path)
        sheet = book.get_sheet_by_index(0)
    except (CalamineError, ValueError, OSError) as exc:
        raise XlsxError(f"not a readable {fmt.upper()} workbook: {exc}") from None
    # The declared size first (XLSX and XLSB declare one); the rows are counted as they come too (ODS may not).
    if sheet.total_height > limits.max_rows:
        raise XlsxError(f"the sheet has {sheet.total_height:,} rows (at most {limits.max_rows:,} are read)")
    if sheet.total_width > limits.max_columns:
        raise XlsxError(f"the sheet has {sheet.total_width:,} columns (at most {limits.max_columns:,} are read)")
    return _values(sheet.iter_rows(), limits)


def _values(source: Iterator[list[Any]], limits: XlsxLimits) -> Iterator[list[Any]]:
    chars = 0
    for n, raw in enumerate(source, 1):
        if n > limits.max_rows:
            raise XlsxError(f"the sheet has more than {limits.max_rows:,} rows (at most {limits.max_rows:,} are read)")
        if len(raw) > limits.max_columns:
            raise XlsxError(f"a row has {len(raw):,} columns (at most {limits.max_columns:,} are read)")
        row: list[Any] = []
        for v in raw:
            if isinstance(v, str):
                if len(v) > limits.max_cell_chars:
                    raise XlsxError(f"a cell holds {len(v):,} characters (at most {limits.max_cell_chars:,})")
                chars += len(v)
                row.append(v or None)
            elif isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
                row.append(int(v))
            elif isinstance(v, float) and not math.isfinite(v):
                row.append(None)
            elif isinstance(v, date) and not isinstance(v, datetime):
                row.append(datetime.combine(v, time(0)))
            else:
                row.append(v)
        if chars > limits.max_shared_chars:
            raise XlsxError(f"the sheet holds more than {limits.max_shared_chars / MB:,.0f} M characters of text")
        while row and row[-1] is None:
            row.pop()
        yield row
