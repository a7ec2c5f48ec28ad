"""A streaming XLSX reader on expat: rows of the first sheet, a few at a time, with shared strings, inline
strings, booleans and dates (from the cell styles). openpyxl's read-only mode does the same with far more
work per cell; an import reads every cell once, so this is what it uses.

An uploaded workbook is hostile input: every size is bounded (``XlsxLimits``) before or while it is read, so a
file of a few KB that declares a huge sheet, or a zip bomb, is refused with a clear error in bounded memory.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any
from xml.parsers import expat

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
DATE_FORMAT_IDS = frozenset({14, 15, 16, 17, 18, 19, 20, 21, 22, 27, 30, 36, 45, 46, 47, 50, 57})
BLOCK = 64 * 1024
DIMENSION = re.compile(rb'<(?:\w+:)?dimension ref="([A-Z]*)(\d*)(?::([A-Z]*)(\d*))?"')
# A cell reference as Excel writes it: up to three letters (XFD is Excel's last column), up to seven digits.
CELL_REF = re.compile(r"([A-Z]{1,3})([0-9]{1,7})$")
MB = 1024 * 1024
DIGITS = "0123456789"


class XlsxError(ValueError):
    """Not a workbook we can read, or one beyond the limits; the message says why."""


@dataclass(frozen=True)
class XlsxLimits:
    """How much of a workbook the reader accepts. Each bound is checked before the memory or time is spent.

    Attributes:
        max_rows: rows of the sheet, the header included (a declared ``<dimension>``, a row number, a cell).
        max_columns: columns holding a value (empty styled cells further right are ignored).
        max_shared_strings: distinct texts of the workbook (``sharedStrings.xml`` is held in memory).
        max_shared_chars: characters of those texts, together.
        max_cell_chars: characters of one cell (Excel's own limit is 32,767).
        max_unpacked_bytes: bytes unpacked from the zip, all parts read together (declared and counted).
        max_part_bytes: unpacked bytes of each small part (workbook, relationships, styles).
        max_entries: members of the zip (its central directory is read into memory).
        max_in_memory_bytes: the memory one read of a format held whole in memory (XLS, XLSB, ODS, through
            calamine) may take, about; its file or unpacked size is bounded from it before anything is read (see
            ``calamine.check_container``). XLSX and CSV are streamed and need no such bound.
    """

    max_rows: int = 1_000_001
    max_columns: int = 1024
    max_shared_strings: int = 2_000_000
    max_shared_chars: int = 64 * MB
    max_cell_chars: int = 32_767
    max_unpacked_bytes: int = 2048 * MB
    max_part_bytes: int = 16 * MB
    max_entries: int = 10_000
    max_in_memory_bytes: int = 96 * MB


def _refuse_dtd(*_: Any) -> None:
    raise XlsxError("the workbook's XML declares a DTD or entities; spreadsheets never do")


def _parser(**handlers: Any) -> Any:
    """An expat parser that refuses DTDs and entity declarations (no entity expansion of any kind)."""
    p = expat.ParserCreate(namespace_separator=handlers.pop("namespace_separator", None))
    p.StartDoctypeDeclHandler = _refuse_dtd
    p.EntityDeclHandler = _refuse_dtd
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    for name, handler in handlers.items():
        setattr(p, name, handler)
    return p


def _local(name: str) -> str:
    return name.rsplit(" ", 1)[-1]


def column_index(ref: str) -> int:
    n = 0
    for ch in ref[:3]:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        else:
            break
    return n - 1


def _is_date_code(code: str) -> bool:
    cleaned = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", code)
    return bool(re.search(r"[dmyhs]", cleaned, re.IGNORECASE))


def zip_entries(fh: IO[bytes]) -> int:
    """How many members a zip's end-of-central-directory record declares (zip64 included), read from its last
    bytes before ``zipfile`` builds an object per member.

    Raises:
        XlsxError: no end record: not a zip archive.
    """
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(max(0, size - (65535 + 22 + 20)))
    tail = fh.read()
    fh.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        raise XlsxError("not a zip archive: no end of central directory")
    entries = struct.unpack("<H", tail[at + 10:at + 12])[0]
    locator = tail.rfind(b"PK\x06\x07", 0, at)
    if entries == 0xFFFF and locator >= 0:  # zip64: the count is in the zip64 end record the locator points at
        (offset,) = struct.unpack("<Q", tail[locator + 8:locator + 16])
        fh.seek(offset)
        record = fh.read(56)
        fh.seek(0)
        if record[:4] == b"PK\x06\x06":
            entries = struct.unpack("<Q", record[32:40])[0]
    return int(entries)


class XlsxReader:
    """Rows of the first worksheet of an XLSX file object (kept open by the caller)."""

    def __init__(self, fh: IO[bytes], limits: XlsxLimits | None = None) -> None:
        self.limits = limits or XlsxLimits()
        self.unpacked = 0
        try:
            entries = zip_entries(fh)
            if entries > self.limits.max_entries:
                raise XlsxError(f"the zip has {entries:,} members; a workbook has a few dozen (at most "
                                f"{self.limits.max_entries:,} are read)")
            self.zf = zipfile.ZipFile(fh)
            names = set(self.zf.namelist())
        except (zipfile.BadZipFile, OSError, struct.error) as exc:
            raise XlsxError(f"not a zip archive: {exc}") from None
        if "xl/workbook.xml" not in names:
            raise XlsxError("no xl/workbook.xml: this zip is not an Excel workbook")
        self.date1904 = False
        self.sheet = self._first_sheet(names)
        self._check_declared_sizes(names)
        self._check_dimension()
        self._names = names

    def _contents(self) -> tuple[list[str], frozenset[int]]:
        """The shared strings and the date styles, read when the rows are (not to estimate a row count)."""
        strings = self._shared_strings() if "xl/sharedStrings.xml" in self._names else []
        return strings, self._date_styles() if "xl/styles.xml" in self._names else frozenset()

    # ---- bounded reading of the zip's parts ------------------------------------------------------------

    def _check_declared_sizes(self, names: set[str]) -> None:
        """Refuse before unpacking anything when the parts this reader reads declare more than the limits."""
        small = [n for n in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml") if n in names]
        for name in small:
            if (size := self.zf.getinfo(name).file_size) > self.limits.max_part_bytes:
                raise XlsxError(f"{name} would unpack to {size / MB:,.0f} MB (at most "
                                f"{self.limits.max_part_bytes / MB:,.0f} MB)")
        parts = [*small, self.sheet, *(["xl/sharedStrings.xml"] if "xl/sharedStrings.xml" in names else [])]
        total = sum(self.zf.getinfo(n).file_size for n in parts)
        if total > self.limits.max_unpacked_bytes:
            raise XlsxError(f"the workbook would unpack to {total / MB:,.0f} MB (at most "
                            f"{self.limits.max_unpacked_bytes / MB:,.0f} MB are read): save it as CSV, or split it")

    def _blocks(self, name: str, cap: int | None = None) -> Iterator[bytes]:
        """The unpacked bytes of a part, counted against its cap and the workbook's, whatever its header says."""
        total_cap = self.limits.max_unpacked_bytes
        read = 0
        try:
            with self.zf.open(name) as fh:
                while block := fh.read(BLOCK):
                    read += len(block)
                    self.unpacked += len(block)
                    if cap is not None and read > cap:
                        raise XlsxError(f"{name} unpacks to more than {cap / MB:,.0f} MB")
                    if self.unpacked > total_cap:
                        raise XlsxError(f"the workbook unpacks to more than {total_cap / MB:,.0f} MB: save it as "
                                        "CSV, or split it")
                    yield block
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
            raise XlsxError(f"the workbook is damaged ({name}: {exc})") from None

    def _parse(self, name: str, cap: int | None = None, **handlers: Any) -> None:
        """Stream a part through an expat parser (namespaces on)."""
        p = _parser(namespace_separator=" ", **handlers)
        try:
            for block in self._blocks(name, cap):
                p.Parse(block, False)
            p.Parse(b"", True)
        except expat.ExpatError as exc:
            raise XlsxError(f"broken XML in {name}: {exc}") from None

    def _first_sheet(self, names: set[str]) -> str:
        rid: list[str] = []
        book = self

        def start(name: str, attrs: dict[str, str]) -> None:
            if _local(name) == "sheet" and not rid:
                rid.append(attrs.get(f"{REL} id", ""))
            elif _local(name) == "workbookPr" and attrs.get("date1904") in ("1", "true"):
                book.date1904 = True

        cap = self.limits.max_part_bytes
        self._parse("xl/workbook.xml", cap, StartElementHandler=start)
        targets: dict[str, str] = {}

        def rel(name: str, attrs: dict[str, str]) -> None:
            if _local(name) == "Relationship":
                targets[attrs.get("Id", "")] = attrs.get("Target", "")

        if "xl/_rels/workbook.xml.rels" in names:
            self._parse("xl/_rels/workbook.xml.rels", cap, StartElementHandler=rel)
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
        state = {"t": False, "phonetic": False, "chars": 0, "cell": 0}
        max_strings, max_chars, max_cell = (self.limits.max_shared_strings, self.limits.max_shared_chars,
                                            self.limits.max_cell_chars)

        def start(name: str, attrs: dict[str, str]) -> None:
            local = _local(name)
            if local == "si":
                buf.clear()
                state["cell"] = 0
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
                text = "".join(buf)
                state["chars"] += len(text)
                if len(out) >= max_strings or state["chars"] > max_chars:
                    raise XlsxError(f"the workbook has more than {max_strings:,} distinct texts or "
                                    f"{max_chars / MB:,.0f} M characters of them: save it as CSV, or split it")
                out.append(text)

        def text(data: str) -> None:
            if state["t"]:
                buf.append(data)
                state["cell"] += len(data)
                if state["cell"] > max_cell:
                    raise XlsxError(f"shared string {len(out) + 1:,} has more than {max_cell:,} characters (a cell "
                                    "holds at most that many)")

        self._parse("xl/sharedStrings.xml", None, StartElementHandler=start, EndElementHandler=end,
                    CharacterDataHandler=text)
        return out

    def _date_styles(self) -> frozenset[int]:
        codes: dict[int, str] = {}
        xfs: list[int] = []
        state = {"in_xfs": False}

        def number(attrs: dict[str, str]) -> int:
            raw = attrs.get("numFmtId", "0")
            return int(raw) if raw.isdigit() and len(raw) < 10 else -1

        def start(name: str, attrs: dict[str, str]) -> None:
            local = _local(name)
            if local == "numFmt":
                codes[number(attrs)] = attrs.get("formatCode", "")
            elif local == "cellXfs":
                state["in_xfs"] = True
            elif local == "xf" and state["in_xfs"]:
                xfs.append(number(attrs))

        def end(name: str) -> None:
            if _local(name) == "cellXfs":
                state["in_xfs"] = False

        self._parse("xl/styles.xml", self.limits.max_part_bytes, StartElementHandler=start, EndElementHandler=end)
        return frozenset(i for i, fmt in enumerate(xfs)
                         if fmt in DATE_FORMAT_IDS or (fmt in codes and _is_date_code(codes[fmt])))

    def _head(self) -> bytes:
        try:
            with self.zf.open(self.sheet) as fh:
                return fh.read(4096)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
            raise XlsxError(f"the workbook is damaged ({self.sheet}: {exc})") from None

    def _check_dimension(self) -> None:
        """Refuse a sheet whose ``<dimension>`` declares more rows or columns than the limits."""
        m = DIMENSION.search(self._head())
        if not m:
            return
        last_col = (m.group(3) or m.group(1)).decode()
        last_row = (m.group(4) or m.group(2)).decode()
        self._check_ref(last_col, last_row, "the sheet's dimension")

    def _check_ref(self, letters: str, digits: str, what: str) -> None:
        if len(letters) > 3 or len(digits) > 7:
            raise XlsxError(f"{what} {letters}{digits} is not a cell reference")
        if digits and int(digits) > self.limits.max_rows:
            raise XlsxError(f"{what} {letters}{digits} reaches row {int(digits):,}; at most "
                            f"{self.limits.max_rows:,} rows are read: split the file")
        if letters and column_index(letters) >= self.limits.max_columns:
            raise XlsxError(f"{what} {letters}{digits} reaches column {column_index(letters) + 1:,}; at most "
                            f"{self.limits.max_columns:,} columns are read")

    def dimension_rows(self) -> int | None:
        """The last row the sheet declares, read from its first bytes."""
        m = DIMENSION.search(self._head())
        last = (m.group(4) or m.group(2)) if m else b""
        return int(last) if last else None

    # ---- rows ----------------------------------------------------------------------------------------------

    def rows(self) -> Iterator[list[Any]]:
        """Every row from the first, empty rows included (row numbers stay the sheet's).

        The hot loop of an XLSX import: no namespace processing (a prefixed ``x:c`` is mapped to ``c`` once per
        distinct name), and text is only collected inside ``<v>`` / ``<t>``. A skipped run of rows is queued as
        its count and yielded as empty rows one by one, so a sheet jumping to a far row costs no memory.

        Raises:
            XlsxError: the sheet is broken or goes beyond the limits.
        """
        strings, dates = self._contents()
        return self._rows(strings, dates)

    def _rows(self, strings: list[str], dates: frozenset[int]) -> Iterator[list[Any]]:
        ready: deque[list[Any] | int] = deque()
        row: list[Any] = []
        buf: list[str] = []
        epoch = self._epoch()
        max_rows, max_cols, max_cell = self.limits.max_rows, self.limits.max_columns, self.limits.max_cell_chars
        local_names: dict[str, str] = {}
        col, kind, style, row_no, phonetic = 0, None, None, 0, False
        columns: dict[str, int] = {}  # column letters -> index, so each cell costs a lookup
        parser = _parser()
        parser.buffer_text = True
        collect = buf.append

        def local(name: str) -> str:
            found = local_names.get(name)
            if found is None:
                if len(local_names) > 256:
                    raise XlsxError("the sheet uses hundreds of element names: it is not a worksheet")
                found = local_names[name] = name.rpartition(":")[2]
            return found

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal col, kind, style, row_no, phonetic
            tag = local(name)
            if tag == "c":
                ref = attrs.get("r")
                if ref:
                    letters = ref.rstrip(DIGITS)
                    found = columns.get(letters)
                    if found is None or len(ref) > 10:
                        found = columns[letters] = _column_of(ref, row_no)
                    col = found
                else:
                    col = len(row)
                kind, style = attrs.get("t"), attrs.get("s")
                buf.clear()
            elif tag == "v" or (tag == "t" and not phonetic):
                parser.CharacterDataHandler = collect
            elif tag == "rPh":  # a phonetic hint of an inline string: not part of the text
                phonetic = True
            elif tag == "row":
                raw = attrs.get("r")
                if raw is None:
                    number = row_no + 1
                elif raw.isdigit() and len(raw) <= 7:
                    number = int(raw)
                else:
                    raise XlsxError(f"after row {row_no:,}: {raw[:20]!r} is not a row number")
                if number <= row_no:
                    raise XlsxError(f"row {number:,} comes after row {row_no:,}")
                if number > max_rows:
                    raise XlsxError(f"the sheet reaches row {number:,}; at most {max_rows:,} rows are read: split "
                                    "the file")
                if number > row_no + 1:
                    ready.append(number - row_no - 1)
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
                if len(text) > max_cell:
                    raise XlsxError(f"row {row_no:,}: a cell has {len(text):,} characters; a cell holds at most "
                                    f"{max_cell:,}")
                value = text if kind == "inlineStr" else _value(text, kind, style, strings, dates, epoch)
                size = len(row)
                if col >= max_cols:
                    if value is None:  # formatting far to the right of the data: nothing to read
                        return
                    raise XlsxError(f"row {row_no:,} has a value in column {col + 1:,}; at most {max_cols:,} "
                                    "columns are read")
                if col == size:
                    row.append(value)
                else:
                    if col > size:
                        row.extend([None] * (col - size + 1))
                    row[col] = value
            elif tag == "row":
                ready.append(row[:])

        parser.StartElementHandler, parser.EndElementHandler = start, end
        try:
            for block in self._blocks(self.sheet):
                parser.Parse(block, False)
                # Text is collected by a C-level append; one block adds at most its own size, so checking here
                # bounds a cell that never ends.
                if len(buf) > 16 and sum(map(len, buf)) > max_cell:
                    raise XlsxError(f"after row {row_no:,}: a cell has more than {max_cell:,} characters")
                yield from _drain(ready)
            parser.Parse(b"", True)
        except expat.ExpatError as exc:
            raise XlsxError(f"broken sheet XML: {exc}") from None
        yield from _drain(ready)

    def _epoch(self) -> datetime:
        return datetime(1904, 1, 1) if self.date1904 else datetime(1899, 12, 30)


def _column_of(ref: str, row_no: int) -> int:
    m = CELL_REF.match(ref)
    if m is None:
        raise XlsxError(f"row {row_no:,}: {ref[:20]!r} is not a cell reference")
    return column_index(m.group(1))


def _drain(ready: deque[list[Any] | int]) -> Iterator[list[Any]]:
    while ready:
        item = ready.popleft()
        if isinstance(item, int):
            for _ in range(item):
                yield []
        else:
            yield item


def _value(text: str, kind: str | None, style: str | None, strings: list[str], dates: frozenset[int],
           epoch: datetime) -> Any:
    if kind == "s":
        if not text:
            return None
        if not text.isdigit() or int(text) >= len(strings):
            raise XlsxError(f"shared string {text[:20]!r} does not exist")
        return strings[int(text)]
    if kind in ("inlineStr", "str"):
        return text
    if kind == "b":
        return text == "1"
    if kind == "e":
        return text or None
    if not text:
        return None
    try:
        number: float | int = float(text) if ("." in text or "E" in text or "e" in text) else int(text)
    except ValueError:
        raise XlsxError(f"{text[:20]!r} is not a number") from None
    if style is not None and dates and style.isdigit() and int(style) in dates:
        try:
            return epoch + timedelta(days=float(number))
        except (OverflowError, ValueError):  # no date: the number as it is
            return number
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number

