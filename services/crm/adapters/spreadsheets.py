"""CSV and XLSX files: streamed writing for exports and outcome files."""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import AsyncIterator, Sequence
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from services.crm.domain.exports import cell

CSV_FLUSH_ROWS = 1000
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
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
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
