"""CSV and XLSX files: streamed writing for exports and outcome files, chunked reading of uploads."""

from __future__ import annotations

import csv
import io
import itertools
import math
import time
import zipfile
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import IO, Any, cast
from xml.sax.saxutils import escape as xml_escape

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from libs.core.errors import Invalid
from services.crm.adapters import calamine
from services.crm.adapters.xlsx import XlsxError, XlsxLimits, XlsxReader
from services.crm.domain.exports import cell

FILE_CHUNK = 256 * 1024
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


async def csv_chunks(header: Sequence[str], batches: AsyncIterator[Sequence[Sequence[Any]]]) -> AsyncIterator[bytes]:
    """UTF-8 CSV (with a BOM so spreadsheets read accents), a few hundred KB at a time."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")
    writer.writerow([cell(h) for h in header])
    async for batch in batches:
        for row in batch:
            writer.writerow([cell(v) for v in row])
            if buf.tell() > FILE_CHUNK:
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
    yield buf.getvalue().encode()


class _Sink:
    """A write-only, unseekable file for ``zipfile``: bytes pile up until the caller takes them."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


XLSX_STATIC = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
}
WORKBOOK = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>')
SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
              '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
SHEET_TAIL = "</sheetData></worksheet>"


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _xlsx_row(number: int, values: Sequence[Any], letters: list[str]) -> str:
    cells = []
    for i, value in enumerate(values):
        v = cell(value)
        if isinstance(v, float) and not math.isfinite(v):
            v = str(v)
        while i >= len(letters):
            letters.append(column_letter(len(letters)))
        ref = f"{letters[i]}{number}"
        if isinstance(v, str):
            if v:
                text = xml_escape(ILLEGAL_CHARACTERS_RE.sub("", v))
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>')
        else:
            cells.append(f'<c r="{ref}"><v>{v}</v></c>')
    return f'<row r="{number}">{"".join(cells)}</row>'


async def xlsx_chunks(header: Sequence[str], batches: AsyncIterator[Sequence[Sequence[Any]]],
                      title: str = "export") -> AsyncIterator[bytes]:
    """A one-sheet XLSX written as it is read: the sheet XML goes through a zip stream (data descriptors,
    no seeking), with inline strings, so neither the rows nor the file are held in memory."""
    sink = _Sink()
    with zipfile.ZipFile(cast(IO[bytes], sink), "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, body in XLSX_STATIC.items():
            zf.writestr(name, body)
        zf.writestr("xl/workbook.xml", WORKBOOK.format(name=xml_escape(title[:31], {'"': "&quot;"})))
        letters: list[str] = []
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write((SHEET_HEAD + _xlsx_row(1, header, letters)).encode())
            number = 1
            async for batch in batches:
                rows = []
                for row in batch:
                    number += 1
                    rows.append(_xlsx_row(number, row, letters))
                sheet.write("".join(rows).encode())
                if (data := sink.take()):
                    yield data
            sheet.write(SHEET_TAIL.encode())
    yield sink.take()


def chunks_for(fmt: str, header: Sequence[str], batches: AsyncIterator[Sequence[Sequence[Any]]],
               title: str = "export") -> AsyncIterator[bytes]:
    return csv_chunks(header, batches) if fmt == "csv" else xlsx_chunks(header, batches, title)


# --- reading uploads ----------------------------------------------------------------------------------


CSV_MAX_LINE = 1024 * 1024


def _bounded_lines(fh: IO[str], limit: int = CSV_MAX_LINE) -> Iterator[str]:
    """The lines of a text file, refusing one longer than ``limit`` characters before it is read whole."""
    while line := fh.readline(limit):
        if len(line) == limit and not line.endswith(("\n", "\r")):
            raise csv.Error(f"a line is longer than {limit:,} characters")
        yield line


class RowReader:
    """Rows of an uploaded CSV, XLSX, XLS, XLSB or ODS file (the last three through python-calamine), read in
    chunks (synchronously: call it in a thread).

    Row numbers are the file's: the header is row 1. Memory stays bounded whatever the file's size: a CSV line
    is at most ``CSV_MAX_LINE`` characters, a row at most ``limits.max_columns`` values (both formats), and an
    XLSX is read within ``limits``.
    """

    def __init__(self, path: str, fmt: str, encoding: str | None = None, delimiter: str | None = None,
                 limits: XlsxLimits | None = None) -> None:
        self.path, self.fmt, self.encoding, self.delimiter = path, fmt, encoding, delimiter
        self.limits = limits or XlsxLimits()
        self._rows: Iterator[list[Any]] | None = None
        self._close: Any = None
        self.row_no = 0

    def _open(self) -> Iterator[list[Any]]:
        if self.fmt == "csv":
            fh = open(self.path, encoding=self.encoding or "utf-8", newline="", errors="strict")
            self._close = fh.close
            return csv.reader(_bounded_lines(fh), delimiter=self.delimiter or ",")
        if self.fmt in calamine.FORMATS:
            try:
                return calamine.rows(self.path, self.fmt, self.limits)
            except XlsxError as exc:
                raise Invalid(f"not a valid {self.fmt.upper()} workbook: {exc}", field="file") from None
        bfh = open(self.path, "rb")
        try:
            rows = XlsxReader(bfh, self.limits).rows()
        except XlsxError as exc:
            bfh.close()
            raise Invalid(f"not a valid XLSX workbook: {exc}", field="file") from None
        self._close = bfh.close
        return rows

    def chunk(self, size: int) -> list[tuple[int, list[Any]]]:
        """The next ``size`` rows as ``(row number, values)``; empty at the end."""
        if self._rows is None:
            self._rows = self._open()
        out: list[tuple[int, list[Any]]] = []
        max_columns = self.limits.max_columns
        try:
            for values in itertools.islice(self._rows, size):
                self.row_no += 1
                if len(values) > max_columns:
                    raise Invalid(f"row {self.row_no}: {len(values):,} columns; at most {max_columns:,} are read",
                                  field="file")
                out.append((self.row_no, values))
                if not self.row_no & 255:
                    time.sleep(0)  # hand the GIL over now and then: the event loop may be waiting for it
        except UnicodeDecodeError as exc:
            raise Invalid(f"after row {self.row_no}: the file is not valid {self.encoding} text ({exc.reason})",
                          field="encoding") from None
        except csv.Error as exc:
            raise Invalid(f"row {self.row_no + 1}: {exc}", field="file") from None
        except XlsxError as exc:
            raise Invalid(f"not a valid {self.fmt.upper()} workbook: {exc}", field="file") from None
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise Invalid(f"row {self.row_no + 1}: the workbook is damaged ({exc})", field="file") from None
        return out

    def skip_to(self, row_no: int, size: int = 10_000) -> None:
        """Move past the rows up to ``row_no`` (resuming a job)."""
        while self.row_no < row_no and self.chunk(min(size, row_no - self.row_no)):
            pass

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None


def estimate_rows(path: str, fmt: str, limits: XlsxLimits | None = None) -> int | None:
    """Data rows of a file without parsing it: newlines for CSV, the sheet's dimension for XLSX."""
    if fmt == "csv":
        count, last = 0, b"\n"
        with open(path, "rb") as fh:
            while block := fh.read(1024 * 1024):
                count += block.count(b"\n")
                last = block[-1:]
        return max(0, count + (last != b"\n") - 1)
    if fmt in calamine.FORMATS:
        return None  # known once calamine has read the sheet
    try:
        with open(path, "rb") as fh:
            rows = XlsxReader(fh, limits).dimension_rows()
    except (XlsxError, OSError):
        return None
    return max(0, rows - 1) if rows else None
