"""A streaming XLSX reader on expat: rows of the first sheet, a few at a time, with shared strings, inline
strings, booleans and dates (from the cell styles). openpyxl's read-only mode does the same with far more
work per cell; an import reads every cell once, so this is what it uses."""

from __future__ import annotations

import re
import zipfile
from collections import deque
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import IO, Any
from xml.parsers import expat

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
DATE_FORMAT_IDS = frozenset({14, 15, 16, 17, 18, 19, 20, 21, 22, 27, 30, 36, 45, 46, 47, 50, 57})
BLOCK = 64 * 1024
DIMENSION = re.compile(rb'<(?:\w+:)?dimension ref="[A-Z]+\d+:?[A-Z]*(\d*)"')


class XlsxError(ValueError):
    """Not a workbook we can read; the message says why."""


def _parse(data: bytes, start: Any = None, end: Any = None, text: Any = None) -> None:
    p = expat.ParserCreate(namespace_separator=" ")
    if start:
        p.StartElementHandler = start
    if end:
        p.EndElementHandler = end
    if text:
        p.CharacterDataHandler = text
    try:
        p.Parse(data, True)
    except expat.ExpatError as exc:
        raise XlsxError(f"broken XML: {exc}") from None


def _local(name: str) -> str:
    return name.rsplit(" ", 1)[-1]


def column_index(ref: str) -> int:
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        else:
            break
    return n - 1


def _is_date_code(code: str) -> bool:
    cleaned = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", code)
    return bool(re.search(r"[dmyhs]", cleaned, re.IGNORECASE))


class XlsxReader:
    """Rows of the first worksheet of an XLSX file object (kept open by the caller)."""

    def __init__(self, fh: IO[bytes]) -> None:
        try:
            self.zf = zipfile.ZipFile(fh)
            names = set(self.zf.namelist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise XlsxError(f"not a zip archive: {exc}") from None
        if "xl/workbook.xml" not in names:
            raise XlsxError("no xl/workbook.xml: this zip is not an Excel workbook")
        self.sheet = self._first_sheet(names)
        self.date1904 = False
        self.strings = self._shared_strings() if "xl/sharedStrings.xml" in names else []
        self.date_styles = self._date_styles() if "xl/styles.xml" in names else frozenset()

    def _first_sheet(self, names: set[str]) -> str:
        rid: list[str] = []
        book = self

        def start(name: str, attrs: dict[str, str]) -> None:
            if _local(name) == "sheet" and not rid:
                rid.append(attrs.get(f"{REL} id", ""))
            elif _local(name) == "workbookPr" and attrs.get("date1904") in ("1", "true"):
                book.date1904 = True

        _parse(self.zf.read("xl/workbook.xml"), start)
        targets: dict[str, str] = {}

        def rel(name: str, attrs: dict[str, str]) -> None:
            if _local(name) == "Relationship":
                targets[attrs.get("Id", "")] = attrs.get("Target", "")

        if "xl/_rels/workbook.xml.rels" in names:
            _parse(self.zf.read("xl/_rels/workbook.xml.rels"), rel)
        target = targets.get(rid[0], "") if rid else ""
        path = target.lstrip("/") if target.startswith("/") else f"xl/{target}" if target else ""
        if path not in names:
            path = "xl/worksheets/sheet1.xml"
        if path not in names:
            raise XlsxError("the workbook has no sheet")
        return path

    def _shared_strings(self) -> list[str]:
        out: list[str] = []
        buf: list[str] = []
        state = {"t": False, "phonetic": False}

        def start(name: str, attrs: dict[str, str]) -> None:
            local = _local(name)
            if local == "si":
                buf.clear()
            elif local == "t":
                state["t"] = not state["phonetic"]
            elif local == "rPh":  # phonetic hints (with their own <t>) are not part of the text
                state["phonetic"] = True

        def end(name: str) -> None:
            local = _local(name)
            if local == "t":
                state["t"] = False
            elif local == "rPh":
                state["phonetic"] = False
            elif local == "si":
                out.append("".join(buf))

        def text(data: str) -> None:
            if state["t"]:
                buf.append(data)

        _parse(self.zf.read("xl/sharedStrings.xml"), start, end, text)
        return out

    def _date_styles(self) -> frozenset[int]:
        codes: dict[int, str] = {}
        xfs: list[int] = []
        state = {"in_xfs": False}

        def start(name: str, attrs: dict[str, str]) -> None:
            local = _local(name)
            if local == "numFmt":
                codes[int(attrs.get("numFmtId", "0"))] = attrs.get("formatCode", "")
            elif local == "cellXfs":
                state["in_xfs"] = True
            elif local == "xf" and state["in_xfs"]:
                xfs.append(int(attrs.get("numFmtId", "0")))

        def end(name: str) -> None:
            if _local(name) == "cellXfs":
                state["in_xfs"] = False

        _parse(self.zf.read("xl/styles.xml"), start, end)
        return frozenset(i for i, fmt in enumerate(xfs)
                         if fmt in DATE_FORMAT_IDS or (fmt in codes and _is_date_code(codes[fmt])))

    def dimension_rows(self) -> int | None:
        """The last row the sheet declares, read from its first bytes."""
        with self.zf.open(self.sheet) as fh:
            m = DIMENSION.search(fh.read(4096))
        return int(m.group(1)) if m and m.group(1) else None

    def rows(self) -> Iterator[list[Any]]:
        """Every row from the first, empty rows included (row numbers stay the sheet's).

        The hot loop of an XLSX import: no namespace processing (a prefixed ``x:c`` is mapped to ``c`` once per
        distinct name), and text is only collected inside ``<v>`` / ``<t>``.
        """
        ready: deque[list[Any]] = deque()
        row: list[Any] = []
        buf: list[str] = []
        strings, dates, epoch = self.strings, self.date_styles, self._epoch()
        local_names: dict[str, str] = {}
        col, kind, style, row_no, phonetic = 0, None, None, 0, False
        parser = expat.ParserCreate()
        parser.buffer_text = True
        collect = buf.append

        def local(name: str) -> str:
            found = local_names.get(name)
            if found is None:
                found = local_names[name] = name.rpartition(":")[2]
            return found

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal col, kind, style, row_no, phonetic
            tag = local(name)
            if tag == "c":
                ref = attrs.get("r")
                col = column_index(ref) if ref else len(row)
                kind, style = attrs.get("t"), attrs.get("s")
                buf.clear()
            elif tag == "v" or (tag == "t" and not phonetic):
                parser.CharacterDataHandler = collect
            elif tag == "rPh":  # a phonetic hint of an inline string: not part of the text
                phonetic = True
            elif tag == "row":
                number = int(attrs["r"]) if "r" in attrs else row_no + 1
                while row_no + 1 < number:
                    row_no += 1
                    ready.append([])
                row_no = number
                row.clear()

        def end(name: str) -> None:
            nonlocal phonetic
            tag = local(name)
            if tag == "v" or tag == "t":
                parser.CharacterDataHandler = None
            elif tag == "rPh":
                phonetic = False
            elif tag == "c":
                text = "".join(buf)
                value = text if kind == "inlineStr" else _value(text, kind, style, strings, dates, epoch)
                size = len(row)
                if col == size:
                    row.append(value)
                else:
                    if col > size:
                        row.extend([None] * (col - size + 1))
                    row[col] = value
            elif tag == "row":
                ready.append(row[:])

        parser.StartElementHandler, parser.EndElementHandler = start, end
        with self.zf.open(self.sheet) as fh:
            try:
                while block := fh.read(BLOCK):
                    parser.Parse(block, False)
                    while ready:
                        yield ready.popleft()
                parser.Parse(b"", True)
            except expat.ExpatError as exc:
                raise XlsxError(f"broken sheet XML: {exc}") from None
        while ready:
            yield ready.popleft()

    def _epoch(self) -> datetime:
        return datetime(1904, 1, 1) if self.date1904 else datetime(1899, 12, 30)


def _value(text: str, kind: str | None, style: str | None, strings: list[str], dates: frozenset[int],
           epoch: datetime) -> Any:
    if kind == "s":
        return strings[int(text)] if text else None
    if kind in ("inlineStr", "str"):
        return text
    if kind == "b":
        return text == "1"
    if kind == "e":
        return text or None
    if not text:
        return None
    number: float | int = float(text) if ("." in text or "E" in text or "e" in text) else int(text)
    if style is not None and dates and int(style) in dates:
        return epoch + timedelta(days=float(number))
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number
