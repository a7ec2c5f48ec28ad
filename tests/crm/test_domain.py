"""Pure CRM rules: normalization, neutralization, calendars, closure permissions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from libs.contracts import CampaignSnapshot, Typification
from libs.core.errors import Conflict, Forbidden, Invalid
from services.crm.domain.closures import check_closure, may_close
from services.crm.domain.contacts import BadAddress, address_of_channel, normalize_phone
from services.crm.domain.exports import cell, neutralize
from services.crm.domain.work import calendar_range, call_classifiable


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("+54 9 11 4444-5555", "US", "+5491144445555"),
    ("0054 9 11 4444 5555", "US", "+5491144445555"),
    ("(202) 555-0142", "US", "+12025550142"),
    ("5491144445555", "US", "+5491144445555"),  # WhatsApp: international digits without '+'
    ("011 15-4444-5555", "AR", "+5491144445555"),
])
def test_phone_normalization(raw, region, e164):
    assert normalize_phone(raw, region) == e164


@pytest.mark.parametrize("raw", ["", "12", "abc", "+99 123"])
def test_bad_phones(raw):
    with pytest.raises(BadAddress):
        normalize_phone(raw, "AR")


def test_channel_addresses():
    assert address_of_channel("whatsapp", "5491144445555", "US").value == "+5491144445555"
    assert address_of_channel("email", "A@B.CO", "US").value == "a@b.co"
    ig = address_of_channel("instagram", "@Some.One", "US")
    assert (ig.kind, ig.network, ig.value) == ("handle", "instagram", "some.one")
    assert address_of_channel("sms", "not a phone", "US") is None


def test_neutralize():
    for evil in ("=1+1", "+A1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"):
        assert neutralize(evil) == "'" + evil
    for safe in ("hola", "+5491144445555", "-12.5", "a=b"):
        assert neutralize(safe) == safe
    assert cell(None) == "" and cell(3) == 3 and cell(["a", "=b"]) == "a, =b"
    assert cell(["=b", "a"]) == "'=b, a"


def test_calendar_ranges_follow_the_time_zone():
    tz = ZoneInfo("America/Bogota")  # UTC-5
    start, end = calendar_range("day", date(2031, 3, 5), tz)
    assert (start, end) == (datetime(2031, 3, 5, 5, tzinfo=UTC), datetime(2031, 3, 6, 5, tzinfo=UTC))
    start, end = calendar_range("week", date(2031, 3, 6), tz)
    assert start.astimezone(tz).date() == date(2031, 3, 3) and end - start == timedelta(days=7)
    start, end = calendar_range("month", date(2031, 2, 14), ZoneInfo("UTC"))
    assert (start.day, start.month, end.day, end.month) == (1, 2, 1, 3)


def test_unclassified_call_window():
    now = datetime(2031, 1, 2, tzinfo=UTC)
    assert call_classifiable(now - timedelta(hours=23), None, now, 24)
    assert not call_classifiable(now - timedelta(hours=25), None, now, 24)
    assert call_classifiable(now - timedelta(hours=90), now, now, 24)


def test_closure_rules():
    snap = CampaignSnapshot(id="c", name="C", agents=["a1", "a2"], supervisors=["s1"],
                            typifications=[Typification(id="ok", category="OK")])
    assert may_close("a1", "agent", snap, "a1") and not may_close("a2", "agent", snap, "a1")
    assert may_close("s1", "supervisor", snap, "a1") and not may_close("s9", "supervisor", snap, "a1")
    assert may_close("x", "admin", snap, "a1")
    wide = snap.model_copy(update={"permissions": snap.permissions.model_copy(update={"view_all_cases": True})})
    assert may_close("a2", "agent", wide, "a1") and not may_close("zz", "agent", wide, "a1")
    with pytest.raises(Forbidden):
        check_closure(snap, actor_id="a2", role="agent", assigned="a1", typification_id="ok", fields={})
    with pytest.raises(Invalid) as err:
        check_closure(snap, actor_id="a1", role="agent", assigned="a1", typification_id="no", fields={},
                      typification_field="result")
    assert err.value.field == "result"
    with pytest.raises(Conflict):
        check_closure(snap, actor_id="a1", role="agent", assigned="a1", typification_id="ok", fields={},
                      replied=False)
    check_closure(snap, actor_id="a1", role="agent", assigned="a1", typification_id="ok", fields={}, replied=True)


def test_xlsx_reader_matches_openpyxl(tmp_path):
    from openpyxl import Workbook

    from services.crm.adapters.spreadsheets import RowReader, estimate_rows

    wb = Workbook()
    ws = wb.active
    ws.append(["texto", "número", "fecha", "bool", "vacío", "fórmula"])
    ws.append(["ñandú", 3, datetime(2031, 2, 3, 4, 5, 6), True, None, "=1+1"])
    ws.append([])
    ws.append(["x", 2.5, None, False, None, None])
    ws["H6"] = "lejos"
    path = tmp_path / "book.xlsx"
    wb.save(path)
    reader = RowReader(str(path), "xlsx")
    rows = reader.chunk(100)
    reader.close()
    assert [n for n, _ in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[1][1][:4] == ["ñandú", 3, datetime(2031, 2, 3, 4, 5, 6), True]
    assert rows[2][1] == [] and rows[3][1][:4] == ["x", 2.5, None, False]
    assert rows[5][1] == [None] * 7 + ["lejos"]
    assert estimate_rows(str(path), "xlsx") == 5


def test_xlsx_reader_prefixed_namespaces_rich_text_and_formulas(tmp_path):
    """Workbooks from other tools: ``x:`` prefixes, rich inline text, entities, formulas with a cached value,
    cells without a reference, empty cells."""
    import zipfile

    from services.crm.adapters.xlsx import XlsxReader

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    path = tmp_path / "other.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xl/workbook.xml", f'<x:workbook xmlns:x="{main}" xmlns:r="{rel}"><x:sheets>'
                                       '<x:sheet name="A" sheetId="1" r:id="rId1"/></x:sheets></x:workbook>')
        zf.writestr("xl/_rels/workbook.xml.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/'
                    '2006/relationships"><Relationship Id="rId1" Target="worksheets/hoja.xml"/></Relationships>')
        zf.writestr("xl/sharedStrings.xml", f'<x:sst xmlns:x="{main}"><x:si><x:r><x:t>Pe</x:t></x:r><x:r><x:t>ña'
                                            '</x:t></x:r><x:rPh><x:t>pe</x:t></x:rPh></x:si></x:sst>')
        zf.writestr("xl/worksheets/hoja.xml", f'<x:worksheet xmlns:x="{main}"><x:sheetData>'
                    '<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="C1" t="inlineStr"><x:is><x:r>'
                    '<x:t>a &amp; </x:t></x:r><x:r><x:t xml:space="preserve">&lt;b&gt; &#241;</x:t></x:r>'
                    '<x:rPh><x:t>ei</x:t></x:rPh></x:is>'
                    '</x:c></x:row>'
                    '<x:row r="3"><x:c><x:f>1+1</x:f><x:v>2</x:v></x:c><x:c t="str"><x:f>A1</x:f><x:v>Peña</x:v>'
                    '</x:c><x:c r="D3"/><x:c r="E3" t="b"><x:v>1</x:v></x:c><x:c r="F3"><x:v>1.5E2</x:v></x:c>'
                    '</x:row></x:sheetData></x:worksheet>')
    with path.open("rb") as fh:
        rows = list(XlsxReader(fh).rows())
    assert rows == [["Peña", None, "a & <b> ñ"], [], [2, "Peña", None, None, True, 150]]


async def test_demo_seed_is_idempotent(crm, pool):
    from services.crm import demo

    await demo.seed(crm)
    await demo.seed(crm)
    async with pool.acquire() as conn:
        n = await conn.fetchval("SELECT count(*) FROM crm.contacts WHERE id LIKE 'demo-contact-%'")
        cases = await conn.fetchval("SELECT count(*) FROM crm.cases WHERE id LIKE 'demo-case-%'")
    assert n == 3 and cases == 3


def test_phones_with_spaces_are_not_formulas_but_formulas_are():
    from services.crm.domain.imports import is_formula

    for phone in ("+34 600 111 222", "+54 9 11 7777-0000", "+1 (555) 010-9999", "-12.5"):
        assert not is_formula(phone), phone
    for attack in ("=HYPERLINK(\"http://x\")", "@SUM(A1)", "+A1", "-cmd|' /C calc'!A0", "=1+1", "+"):
        assert is_formula(attack), attack


def test_every_update_template_field_has_its_column():
    from services.crm.adapters.postgres.contacts import UPDATE_COLUMNS
    from services.crm.domain.contacts import UPDATE_FIELDS

    assert set(UPDATE_COLUMNS) == set(UPDATE_FIELDS)
