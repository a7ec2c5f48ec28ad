"""Hostile workbooks: a few KB that declare a huge sheet, and zip bombs, are refused with a clear error in bounded
memory, with the CRM's default limits. Each file is read in a child process, which prints its peak RSS."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from services.crm.adapters.spreadsheets import RowReader
from services.crm.adapters.xlsx import XlsxError, XlsxLimits, XlsxReader

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
WORKBOOK = (f'<workbook xmlns="{MAIN}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="A" sheetId="1" r:id="rId1"/></sheets></workbook>').encode()
RELS = (b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>')
HEAD = f'<worksheet xmlns="{MAIN}">'.encode()
GB = 1024**3
# What reading a file may add to a child's peak RSS (the interpreter and the CRM's modules come before it).
RSS_BOUND_MB = 64


def _member(name: str, raw_size: int, deflated: bytes, crc: int = 0) -> tuple[bytes, bytes]:
    """A zip member's local header + data, and its central directory entry (offset patched in later)."""
    n = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(deflated), raw_size, len(n), 0) + n
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(deflated), raw_size,
                          len(n), 0, 0, 0, 0, 0, 0) + n
    return local + deflated, central


def _zip(members: list[tuple[str, int, bytes, int]]) -> bytes:
    """A zip written by hand, so a member may declare any size (``raw_size``) whatever its data unpacks to. A bomb's
    CRC is left at 0: a reader finds out only after unpacking it all."""
    body, directory = b"", b""
    for name, raw_size, deflated, crc in members:
        local, central = _member(name, raw_size, deflated, crc)
        directory += central[:42] + struct.pack("<I", len(body)) + central[46:]
        body += local
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), len(body), 0)
    return body + directory + end


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _part(name: str, data: bytes) -> tuple[str, int, bytes, int]:
    return name, len(data), _deflate(data), zlib.crc32(data)


def _deflate_repeated(prefix: bytes, chunk: bytes, times: int, suffix: bytes) -> bytes:
    """A raw deflate stream of ``prefix + chunk * times + suffix`` built without compressing it all: after a full
    flush the compressor keeps no history, so every copy of ``chunk`` compresses to the same bytes."""
    def piece(data: bytes, finish: bool) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush(zlib.Z_FINISH if finish else zlib.Z_FULL_FLUSH)

    return piece(prefix, False) + piece(chunk, False) * times + piece(suffix, True)


def _book(sheet: bytes, strings: bytes | None = None) -> bytes:
    members = [_part("xl/workbook.xml", WORKBOOK), _part("xl/_rels/workbook.xml.rels", RELS),
               _part("xl/worksheets/sheet1.xml", sheet)]
    if strings is not None:
        members.append(_part("xl/sharedStrings.xml", strings))
    return _zip(members)


def _bomb(unpacked: int, declared: int | None = None) -> bytes:
    """A workbook whose sheet unpacks to ``unpacked`` bytes (blanks between two rows) and declares ``declared``."""
    chunk = b" " * (1 << 20)
    prefix = HEAD + b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
    suffix = b'<row r="2"><c r="A2" t="inlineStr"><is><t>Ana</t></is></c></row></sheetData></worksheet>'
    times = (unpacked - len(prefix) - len(suffix)) // len(chunk)
    size = len(prefix) + times * len(chunk) + len(suffix)
    sheet = _deflate_repeated(prefix, chunk, times, suffix)
    return _zip([_part("xl/workbook.xml", WORKBOOK), _part("xl/_rels/workbook.xml.rels", RELS),
                 ("xl/worksheets/sheet1.xml", size if declared is None else declared, sheet, 0)])


# The child's high-water mark of resident memory (VmHWM): ru_maxrss would carry the parent's over fork and exec.
CHILD = """
import json, re, sys

def hwm_mb():
    with open("/proc/self/status") as fh:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", fh.read()).group(1)) / 1024

from services.crm.adapters.spreadsheets import RowReader
from services.crm.handlers.processes.runner import xlsx_limits
from services.crm.settings import CrmSettings

class Crm:  # the limits of a CRM with its default settings
    settings = CrmSettings()

reader = RowReader(sys.argv[1], sys.argv[2], limits=xlsx_limits(Crm))
outcome = {"rows": 0, "baseline_rss_mb": hwm_mb()}
try:
    while chunk := reader.chunk(10_000):
        outcome["rows"] += len(chunk)
except Exception as exc:
    outcome["error"] = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
    outcome["field"] = getattr(exc, "field", None)
outcome["peak_rss_mb"] = hwm_mb()
print(json.dumps(outcome))
"""


def _read_in_child(path: Path, label: str, fmt: str = "xlsx") -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), fmt], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    added = outcome["peak_rss_mb"] - outcome["baseline_rss_mb"]
    print(f"\n{label}: {path.stat().st_size:,} bytes; peak RSS {outcome['peak_rss_mb']:.0f} MB "
          f"(+{added:.1f} MB over the {outcome['baseline_rss_mb']:.0f} MB before reading); {outcome.get('error')}")
    assert added < RSS_BOUND_MB, outcome
    return outcome


@pytest.mark.parametrize(("label", "sheet", "reason"), [
    ("dimension A1:XFD1048576", HEAD + b'<dimension ref="A1:XFD1048576"/><sheetData><row r="1"><c r="A1"><v>1</v>'
     b"</c></row></sheetData></worksheet>", "dimension XFD1048576 reaches row 1,048,576"),
    ("cell XFD1048576", HEAD + b'<sheetData><row r="1"><c r="A1"><v>1</v></c></row><row r="1048576">'
     b'<c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>', "reaches row 1,048,576"),
    ("cell XFD1", HEAD + b'<sheetData><row r="1"><c r="A1"><v>1</v></c><c r="XFD1"><v>1</v></c></row></sheetData>'
     b"</worksheet>", "value in column 16,384"),
    ("row 10^12", HEAD + b'<sheetData><row r="999999999999"><c><v>1</v></c></row></sheetData></worksheet>',
     "is not a row number"),
    ("cell reference AAAAAAAA1", HEAD + b'<sheetData><row r="1"><c r="AAAAAAAA1"><v>1</v></c></row></sheetData>'
     b"</worksheet>", "is not a cell reference"),
    ("entity expansion", b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
     + HEAD + b"<sheetData><row><c t=\"inlineStr\"><is><t>&b;</t></is></c></row></sheetData></worksheet>",
     "DTD or entities"),
])
def test_a_few_kb_declaring_a_huge_sheet_is_refused(tmp_path, label, sheet, reason):
    path = tmp_path / "crafted.xlsx"
    path.write_bytes(_book(sheet))
    assert path.stat().st_size < 4096
    outcome = _read_in_child(path, label)
    assert outcome["field"] == "file" and reason in outcome["error"], outcome


def test_a_zip_bomb_is_refused_from_its_declared_size(tmp_path):
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(_bomb(3 * GB))  # 3 GB of sheet in ~3 MB
    outcome = _read_in_child(path, "zip bomb, 3 GB declared")
    assert outcome["rows"] == 0 and "would unpack to 3,07" in outcome["error"], outcome


def test_a_zip_bomb_that_lies_about_its_size_is_refused_while_streaming(tmp_path):
    # The central directory says 64 KB; the data unpacks to 3 GB. Unpacking stops at the declared size.
    path = tmp_path / "liar.xlsx"
    path.write_bytes(_bomb(3 * GB, declared=64 * 1024))
    outcome = _read_in_child(path, "zip bomb, 64 KB declared, 3 GB inside")
    assert outcome["field"] == "file" and outcome["rows"] <= 1, outcome


def test_the_unpacked_bytes_are_counted_whatever_the_headers_say(tmp_path):
    # The reader's own count stops a part bigger than its cap even when the header under-declares it.
    path = tmp_path / "honest.xlsx"
    path.write_bytes(_bomb(8 * 1024 * 1024 + 4096))
    limits = XlsxLimits(max_unpacked_bytes=4 * 1024 * 1024)
    with path.open("rb") as fh, pytest.raises(XlsxError, match="would unpack to 8 MB"):
        XlsxReader(fh, limits)
    with path.open("rb") as fh:
        book = XlsxReader(fh)
        book.limits = limits  # as if the header had said less
        with pytest.raises(XlsxError, match="unpacks to more than 4 MB"):
            list(book.rows())


def test_shared_strings_cells_columns_and_members_are_capped(tmp_path):
    many = b"<sst>" + b"".join(b"<si><t>%d</t></si>" % i for i in range(2_000)) + b"</sst>"
    sheet = HEAD + b'<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>'
    path = tmp_path / "strings.xlsx"
    path.write_bytes(_book(sheet, many))
    with pytest.raises(XlsxError, match="more than 1,000 distinct texts"):
        with path.open("rb") as fh:
            XlsxReader(fh, XlsxLimits(max_shared_strings=1_000)).rows()
    long_cell = HEAD + b'<sheetData><row r="1"><c t="inlineStr"><is><t>' + b"x" * 40_000 + b"</t></is></c></row>"
    path.write_bytes(_book(long_cell + b"</sheetData></worksheet>"))
    with path.open("rb") as fh, pytest.raises(XlsxError, match="32,767"):
        list(XlsxReader(fh).rows())
    wide = HEAD + b'<sheetData><row r="1">' + b"<c><v>1</v></c>" * 1100 + b"</row></sheetData></worksheet>"
    path.write_bytes(_book(wide))
    with path.open("rb") as fh, pytest.raises(XlsxError, match="column 1,025"):
        list(XlsxReader(fh).rows())
    missing = HEAD + b'<sheetData><row r="1"><c t="s"><v>7</v></c></row></sheetData></worksheet>'
    path.write_bytes(_book(missing, b"<sst><si><t>a</t></si></sst>"))
    with path.open("rb") as fh, pytest.raises(XlsxError, match="shared string '7' does not exist"):
        list(XlsxReader(fh).rows())
    members = [_part(f"m{i}", b"") for i in range(10_001)]
    path.write_bytes(_zip(members))
    with path.open("rb") as fh, pytest.raises(XlsxError, match="10,001 members"):
        XlsxReader(fh)


def test_styled_empty_cells_far_right_and_gaps_of_rows_cost_nothing(tmp_path):
    sheet = (HEAD + b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c><c r="XFD1" s="1"/>'
             b'</row><row r="900000"><c r="A900000" t="inlineStr"><is><t>Ana</t></is></c></row></sheetData>'
             b"</worksheet>")
    path = tmp_path / "sparse.xlsx"
    path.write_bytes(_book(sheet))
    reader = RowReader(str(path), "xlsx")
    rows = []
    while chunk := reader.chunk(100_000):
        rows.extend(chunk)
    reader.close()
    assert rows[0] == (1, ["name"]) and rows[-1] == (900_000, ["Ana"]) and len(rows) == 900_000


ODS_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?><office:document-content '
            b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
            b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
            b'<office:spreadsheet><table:table table:name="A">')
ODS_ROW = (b'<table:table-row><table:table-cell office:value-type="string"><text:p>abcdefghij</text:p>'
           b'</table:table-cell></table:table-row>')
ODS_TAIL = b"</table:table></office:spreadsheet></office:body></office:document-content>"
ODS_MANIFEST = (b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
                b'<manifest:file-entry manifest:full-path="/" '
                b'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>')


def test_a_small_opendocument_file_holding_a_million_rows_is_refused_before_it_is_loaded(tmp_path):
    # XLS, XLSB and ODS are read whole (calamine): this file of < 1 MB took the CRM to +243 MB before the
    # in-memory bound (the rows are within the row limit).
    path = tmp_path / "million.ods"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/manifest.xml", ODS_MANIFEST)
        with zf.open("content.xml", "w", force_zip64=True) as fh:
            fh.write(ODS_HEAD)
            block = ODS_ROW * 1000
            for _ in range(1000):
                fh.write(block)
            fh.write(ODS_TAIL)
    assert path.stat().st_size < 2 * 1024 * 1024
    outcome = _read_in_child(path, "ODS of a million rows", "ods")
    assert outcome["field"] == "file" and "an ODS is read whole, at most 64 MB" in outcome["error"], outcome
