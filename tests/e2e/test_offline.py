"""Offline training in Chromium on the real server: HR registers a class, imports an attendance list
(a bad row first: nothing written, the row named; then the corrected list), and the learner sees the
offline hours in 我的学时 — apart from online self-study and in the total — and downloads the training
record as PDF and Excel."""
import io

from openpyxl import load_workbook
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlmodel import select

from models import LedgerEntry, User
from models.db import local_year, session_scope
from tests.e2e.helpers import ARTIFACTS, make_org, make_user, msg, msg_pattern, sign_in, tag

PW = "Staff2026ok"


def test_hr_registers_a_class_imports_attendance_and_the_learner_sees_it(server, tabs, tmp_path):
    db = server["database_url"]
    codes = make_org(db)
    hr = make_user(db, "learner", ("hr", codes["district"]), unit=codes["district"], name="人事干部")
    learner = make_user(db, "learner", unit=codes["village"], name="赵学员")
    neighbour = make_user(db, "learner", unit=codes["dept"], name="外单位")      # not in the district
    class_name = f"党校春季班{tag()}"

    tab = tabs(server["url"])
    page = tab.page
    sign_in(tab, hr, PW)
    tab.act(lambda: tab.sidebar_link(msg("nav.hr_offline")).click())
    expect(tab.heading()).to_have_text(msg("offline.title"))
    expect(page.get_by_text(msg("offline.none"), exact=True)).to_be_visible()
    page.get_by_label(msg("offline.field.name")).fill(class_name)
    page.get_by_label(msg("offline.field.organiser")).fill("区委党校")
    page.get_by_label(msg("offline.field.hours"), exact=True).fill("6")
    tab.act(lambda: page.get_by_role("button", name=msg("offline.create"), exact=True).click())
    expect(page.get_by_text(msg("offline.created", name=class_name))).to_be_visible()
    tab.expect_no_error()
    tab.shot("60-offline-class")

    # the attendance list: a bad file first (someone of another unit, and a name that does not match)
    import_tab = page.get_by_role("tab", name=msg("offline.tab.import"))
    tab.act(import_tab.click)                            # stateful tabs: switching reruns the page
    expect(import_tab).to_have_attribute("aria-selected", "true")
    bad = tmp_path / "list.csv"
    bad.write_text(f"用户名,姓名\n{learner},赵学员\n{neighbour},外单位\n{learner},别人\n", encoding="utf-8")
    upload = page.get_by_test_id("stFileUploaderDropzoneInput")
    tab.act(lambda: upload.set_input_files(str(bad)))
    expect(page.get_by_text(msg_pattern("offline.import.errors", n=2, rows=2))).to_be_visible()
    errors = page.get_by_test_id("stDataFrame").last
    expect(errors).to_be_visible()
    tab.shot("61-offline-import-errors")
    with session_scope(db) as s:        # nothing written
        ids = s.exec(select(User.id).where(User.username.in_([learner, neighbour]))).all()
        assert s.exec(select(LedgerEntry).where(LedgerEntry.user_id.in_(ids),
                                                LedgerEntry.source_type == "offline")).first() is None
    good = tmp_path / "list2.csv"
    good.write_text(f"用户名,姓名,备注\n{learner},赵学员,第一排\n", encoding="utf-8")
    tab.act(lambda: upload.set_input_files(str(good)))
    expect(page.get_by_text(msg("offline.import.valid", new=1, already=0), exact=True)).to_be_visible()
    tab.act(lambda: page.get_by_role("button", name=msg("offline.import.confirm", n=1)).click())
    expect(page.get_by_text(msg("offline.added", added=1, already=0), exact=True)).to_be_visible()
    expect(page.get_by_text(msg("offline.attendees.count", n=1, hours="6"), exact=True)).to_be_visible()
    tab.expect_no_error()
    tab.shot("62-offline-attendees")

    # the learner: offline hours apart and in the total, the class by name, the record to download
    ltab = tabs(server["url"], accept_downloads=True)
    lpage = ltab.page
    sign_in(ltab, learner, PW)
    ltab.act(lambda: ltab.sidebar_link(msg("nav.hours")).click())
    expect(ltab.heading()).to_have_text(msg("hours.title"))
    year = local_year()
    metric = lpage.get_by_test_id("stMetric")
    expect(metric.filter(has_text=msg("hours.offline"))).to_contain_text("6")
    expect(metric.filter(has_text=msg("hours.this_year", year=year))).to_contain_text("6")
    expect(metric.filter(has_text=msg("hours.online"))).to_contain_text("0")
    expect(lpage.get_by_text(msg("hours.progress_online", percent="0"), exact=True)).to_be_visible()
    expect(lpage.get_by_text(msg("hours.progress", percent="12"), exact=True)).to_be_visible()   # 6 of 50
    expect(lpage.get_by_test_id("stDataFrame").first).to_be_visible()
    ltab.expect_no_error()
    ltab.shot("63-hours-offline")

    with lpage.expect_download() as dl:
        lpage.get_by_role("button", name=msg("hours.download_pdf")).click()
    assert dl.value.suggested_filename == f"培训档案-赵学员-{year}.pdf"
    pdf = tmp_path / "record.pdf"
    dl.value.save_as(pdf)
    text = "".join(p.extract_text() for p in PdfReader(str(pdf)).pages).replace(" ", "")
    assert "培训档案" in text and "赵学员" in text and class_name in text and "区委党校" in text
    with lpage.expect_download() as dl:
        lpage.get_by_role("button", name=msg("hours.download_xlsx")).click()
    xlsx = tmp_path / "record.xlsx"
    dl.value.save_as(xlsx)
    wb = load_workbook(io.BytesIO(xlsx.read_bytes()))
    assert [r[0] for r in wb["线下培训"].iter_rows(min_row=4, values_only=True)] == [class_name]
    (ARTIFACTS / "64-record.pdf").write_bytes(pdf.read_bytes())          # to look at
