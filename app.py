"""信息化学堂 InfoSkills Academy — entry script.

Upgrades the database and loads the curriculum (once per process), then shows first-run set-up,
sign-in, a forced password change, or the pages the signed-in user's roles allow."""
import streamlit as st

from config import ROOT
from services import users as user_service
from ui.bootstrap import bootstrap
from ui.fmt import md_text
from ui.i18n import LOCALES, t
from ui.session import current_actor, db, sign_out

# a local file: a Material icon as tab icon would be fetched from fonts.gstatic.com (intranets are offline)
st.set_page_config(page_title="信息化学堂", page_icon=str(ROOT / "static" / "favicon.png"), layout="wide")
bootstrap()

with db() as s:
    # the set-up page stays until its one-time password table has been read
    first_run = user_service.needs_setup(s) or "setup_result" in st.session_state

actor = None if first_run else current_actor()


# (section, script, url key, icon, who may see it). Pages are offered per role; each page guards itself too.
PAGES = [
    ("learn", "pages/learner/home.py", "home", ":material/home:", ("learner", "admin")),
    ("learn", "pages/learner/catalogue.py", "catalogue", ":material/library_books:", ("learner", "admin")),
    ("learn", "pages/learner/course.py", "course", ":material/menu_book:", ("learner", "admin")),
    ("learn", "pages/learner/practice.py", "practice", ":material/exercise:", ("learner", "admin")),
    ("learn", "pages/learner/notebook.py", "notebook", ":material/auto_stories:", ("learner", "admin")),
    ("learn", "pages/learner/hours.py", "hours", ":material/schedule:", ("learner", "admin")),
    ("learn", "pages/learner/certificates.py", "certificates", ":material/workspace_premium:", ("learner", "admin")),
    ("learn", "pages/learner/exams.py", "exams", ":material/assignment:", ("learner", "admin")),
    ("teach", "pages/trainer/bank.py", "bank", ":material/quiz:", ("trainer", "admin")),
    ("teach", "pages/trainer/question_edit.py", "question_edit", ":material/edit_note:", ("trainer", "admin")),
    ("teach", "pages/trainer/question_import.py", "question_import", ":material/upload_file:", ("trainer", "admin")),
    ("teach", "pages/trainer/courses.py", "courses", ":material/school:", ("trainer", "admin")),
    ("teach", "pages/trainer/course_edit.py", "course_edit", ":material/edit_document:", ("trainer", "admin")),
    ("teach", "pages/trainer/exams.py", "trainer_exams", ":material/assignment:", ("trainer", "admin")),
    ("teach", "pages/trainer/exam_edit.py", "exam_edit", ":material/edit_calendar:", ("trainer", "admin")),
    ("teach", "pages/trainer/grading.py", "grading", ":material/rate_review:", ("trainer", "admin")),
    ("teach", "pages/trainer/exam_results.py", "exam_results", ":material/leaderboard:", ("trainer", "admin")),
    ("teach", "pages/trainer/item_analysis.py", "item_analysis", ":material/analytics:", ("trainer", "admin")),
    ("hr", "pages/hr/overview.py", "hr_overview", ":material/groups:", ("hr", "admin")),
    ("hr", "pages/hr/warning.py", "hr_warning", ":material/notification_important:", ("hr", "admin")),
    ("hr", "pages/hr/offline.py", "hr_offline", ":material/event_available:", ("hr", "admin")),
    ("admin", "pages/admin/org.py", "org", ":material/account_tree:", ("admin",)),
    ("admin", "pages/admin/users.py", "users", ":material/manage_accounts:", ("admin",)),
    ("admin", "pages/admin/import_users.py", "import_users", ":material/upload_file:", ("admin",)),
    ("admin", "pages/admin/settings.py", "settings", ":material/settings:", ("admin",)),
    ("admin", "pages/admin/certificates.py", "certificate_admin", ":material/verified:", ("admin",)),
    ("admin", "pages/admin/audit.py", "audit", ":material/history:", ("admin",)),
    ("account", "pages/account/profile.py", "profile", ":material/person:", ("learner", "trainer", "hr", "admin")),
]


def page(path: str, key: str, icon: str, **kw) -> st.Page:
    return st.Page(path, title=t(f"nav.{key}"), icon=icon, help=t(f"nav.{key}.help"), url_path=key, **kw)


def only(path: str, key: str, icon: str) -> list[st.Page]:
    """One page for every address: a signed-out visitor asking for /hours gets the sign-in page
    there (no "page not found"), and after signing in lands on /hours."""
    return [page(path, key, icon, default=True)] + [
        st.Page(path, title=t(f"nav.{key}"), url_path=k, visibility="hidden") for _, _, k, _, _ in PAGES if k != key]


if first_run:
    pages = only("pages/account/setup.py", "setup", ":material/rocket_launch:")
elif actor is None:
    pages = only("pages/account/login.py", "login", ":material/login:")
else:
    with db() as s:
        must_change = user_service.get_user(s, actor, user_id=actor.id).must_change_password
    if must_change:
        pages = only("pages/account/profile.py", "profile", ":material/lock_reset:")
    else:
        allowed = [p for p in PAGES if any(actor.has(r) for r in p[4])]
        pages = {}
        for section, script, key, icon, _ in allowed:
            pages.setdefault(t(f"nav.section.{section}"), []).append(page(script, key, icon))
        # "/" shows the first allowed page; the listed page keeps its own address
        _, script, key, icon, _ = allowed[0]
        pages[t(f"nav.section.{allowed[0][0]}")].insert(0, st.Page(script, title=t(f"nav.{key}"), icon=icon,
                                                                   url_path="start", default=True, visibility="hidden"))

with st.sidebar:
    st.markdown(f"### :material/school: {t('app.name')}")
    if actor is not None:
        st.caption(t("app.signed_in_as", name=md_text(actor.name), username=md_text(actor.username)))
    choice = st.selectbox(t("app.language"), list(LOCALES), format_func=LOCALES.get,
                          index=list(LOCALES).index(st.session_state.get("locale", "zh-CN")), key="sidebar_locale")
    if choice != st.session_state.get("locale", "zh-CN"):
        st.session_state["locale"] = choice
        if actor is not None:
            with db() as s:
                user_service.set_locale(s, actor, locale=choice)
        st.rerun()
    if actor is not None and st.button(t("auth.sign_out"), icon=":material/logout:", key="sidebar_sign_out"):
        sign_out()

st.navigation(pages, position="sidebar").run()
