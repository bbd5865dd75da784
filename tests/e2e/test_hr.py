"""HR in Chromium on the real server: from the city down to a district (a click on its bar in the
chart), on to a town, to one person's training record (path shown, a way back up); the dashboard's
Excel and the person's record download; a reminder from the early-warning page; and the learner, in a
browser of their own, sees the notice on their home page, signed by the HR officer."""
import io
import re

from openpyxl import load_workbook
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlmodel import select

from models import Attempt, Exam, User
from models.db import local_year, session_scope, utcnow
from services import ledger
from tests.e2e.helpers import ARTIFACTS, make_org, make_user, msg, msg_pattern, sign_in, tag

PW = "Staff2026ok"


def _people(db: str, codes: dict[str, str]) -> dict[str, str]:
    """A (village, 60 学时, passed an exam), B (the town itself, nothing yet: on the warning list),
    C (a city department, 10 学时, failed the exam)."""
    who = {"a": make_user(db, "learner", unit=codes["village"], name=f"王村民{tag()[:3]}"),
           "b": make_user(db, "learner", unit=codes["town"], name=f"李镇员{tag()[:3]}"),
           "c": make_user(db, "learner", unit=codes["dept"], name=f"赵局员{tag()[:3]}")}
    with session_scope(db) as s:
        ids = {k: s.exec(select(User.id).where(User.username == u)).one() for k, u in who.items()}
        ledger.credit(s, user_id=ids["a"], hours=60, source_type="import", source_id=f"e2e-hr-{ids['a']}", reason="导入")
        ledger.credit(s, user_id=ids["c"], hours=10, source_type="import", source_id=f"e2e-hr-{ids['c']}", reason="导入")
        exam = Exam(title=f"网络安全结业考试{tag()[:3]}", status="published")
        s.add(exam)
        s.flush()
        now = utcnow()
        for k, score in (("a", 90), ("c", 40)):         # one pass, one fail: pass rate 50 %
            s.add(Attempt(user_id=ids[k], kind="exam", exam_id=exam.id, status="submitted", score=score,
                          max_score=100, passed=score >= 60, started_at=now, submitted_at=now))
        names = {k: s.get(User, i).name for k, i in ids.items()}
    return {**who, **{f"{k}_name": v for k, v in names.items()}}


def test_hr_drills_down_downloads_reminds_and_the_learner_sees_it(server, tabs, tmp_path):
    db = server["database_url"]
    codes = make_org(db)
    hr = make_user(db, ("hr", codes["city"]), unit=codes["city"], name="市人事干部")     # HR only: not counted
    p = _people(db, codes)
    year = local_year()

    tab = tabs(server["url"], accept_downloads=True)
    page = tab.page
    sign_in(tab, hr, PW)
    tab.act(lambda: tab.sidebar_link(msg("nav.hr_overview")).click())
    expect(tab.heading()).to_have_text(msg("hr.title"))
    # the city's units: the district and the department, with every KPI and its change
    metric = page.get_by_test_id("stMetric")
    learners = metric.filter(has_text=msg("hr.people")).get_by_test_id("stMetricValue")
    expect(learners).to_have_text("3")
    expect(page.get_by_text(msg("hr.rules_help"))).to_be_visible()
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts.first).to_be_visible()
    tab.expect_no_error()
    tab.shot("70-hr-city")

    # a click on the district's bar opens the district. Bars are sorted by average 学时, so the district
    # (60 h over two people = 30) is the lower, longer one: click inside it, left of its middle
    bars = charts.first
    bars.scroll_into_view_if_needed()
    box = bars.bounding_box()
    # two bands over the plot (the upper ~2/3 of the chart, the axis below): the lower band's middle
    tab.act(lambda: page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5))
    crumbs = page.locator(".st-key-hr_crumbs")
    expect(crumbs.get_by_role("button", name=codes["district_name"])).to_be_disabled()      # where we are
    expect(page.get_by_test_id("stDataFrame").first).to_contain_text(codes["town_name"])
    tab.expect_no_error()
    # the whole page at once, to look at the charts (Streamlit scrolls inside the viewport)
    page.set_viewport_size({"width": 1400, "height": 3000})
    # hours by unit, distribution, weekly trend, pass rate by exam (and the heat map when courses exist)
    expect(charts.nth(3)).to_be_visible()
    expect(page.get_by_role("heading", name=msg("hr.chart_exams"))).to_be_visible()
    tab.shot("70b-hr-district-charts")
    page.set_viewport_size({"width": 1400, "height": 900})

    # on to the town (the unit picker, by keyboard), then its people: B is below the target
    tab.choose(page.get_by_role("combobox", name=msg("field.unit")), codes["town_name"],
               re.compile(re.escape(f"{codes['district_name']} / {codes['town_name']}") + "$"))
    expect(crumbs.get_by_role("button", name=codes["town_name"])).to_be_disabled()
    for above in (codes["city_name"], codes["district_name"]):
        expect(crumbs.get_by_role("button", name=above)).to_be_enabled()                   # a way back up
    tab.shot("71-hr-town")
    tab.choose(page.get_by_role("combobox", name=msg("hr.open_person")), p["b_name"],
               re.compile("^" + re.escape(f"{p['b_name']}（{p['b']}）")))
    record = page.locator(".st-key-hr_person_record")
    expect(record.get_by_role("heading")).to_have_text(msg("hr.person_title", name=p["b_name"], username=p["b"]))
    expect(record).to_contain_text(codes["town_name"])
    tab.expect_no_error()
    tab.shot("72-hr-person")

    with page.expect_download() as dl:
        record.get_by_role("button", name=msg("hr.record_pdf")).click()
    assert dl.value.suggested_filename == f"培训档案-{p['b_name']}-{year}.pdf"
    pdf = tmp_path / "record.pdf"
    dl.value.save_as(pdf)
    assert p["b_name"] in "".join(x.extract_text() for x in PdfReader(str(pdf)).pages).replace(" ", "")
    with page.expect_download() as dl:
        page.get_by_role("button", name=msg("hr.export"), exact=True).click()
    xlsx = tmp_path / "hr.xlsx"
    dl.value.save_as(xlsx)
    wb = load_workbook(io.BytesIO(xlsx.read_bytes()))
    assert wb.sheetnames[0] == msg("hr.sheet_filters") and msg("hr.sheet_exams") in wb.sheetnames
    people = [r[1] for r in wb[msg("hr.sheet_people")].iter_rows(min_row=4, values_only=True)]
    assert p["b_name"] in people and p["c_name"] not in people          # the town only

    # back up to the top, in one click
    tab.act(lambda: crumbs.get_by_role("button", name=msg("hr.all_in_scope")).click())
    expect(learners).to_have_text("3")

    # the early-warning page: B (nothing yet) is on the list; one click reminds everyone on it
    tab.act(lambda: tab.sidebar_link(msg("nav.hr_warning")).click())
    expect(tab.heading()).to_have_text(msg("warn.title"))
    remind = page.get_by_role("button", name=msg_pattern("warn.remind"))
    expect(remind).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").last).to_contain_text(p["b"])
    text = f"请尽快完成本年度学时 {tag()}"
    page.get_by_label(msg("warn.remind_text")).fill(text)
    tab.act(lambda: remind.click())
    expect(page.get_by_text(msg_pattern("warn.remind_done"))).to_be_visible()
    tab.expect_no_error()
    tab.shot("73-hr-reminded")

    # the learner, in a browser of their own: the notice on the home page, signed by the sender
    ltab = tabs(server["url"])
    sign_in(ltab, p["b"], PW)
    notice = ltab.page.get_by_text(text, exact=True)
    expect(notice).to_be_visible()
    expect(ltab.page.get_by_text(msg_pattern("home.notice_from", sender="市人事干部"))).to_be_visible()
    ltab.expect_no_error()
    ltab.shot("74-learner-notice")
    ltab.act(lambda: ltab.page.get_by_role("button", name=msg("home.notice_read")).click())
    expect(notice).to_have_count(0)
    (ARTIFACTS / "75-hr-record.pdf").write_bytes(pdf.read_bytes())
