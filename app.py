"""信息化学堂 InfoSkills Academy — entry script.

Upgrades the database and loads the curriculum (once per process), then shows first-run set-up,
sign-in, a forced password change, or the pages the signed-in user's roles allow."""
import streamlit as st

from ui.bootstrap import bootstrap
from ui.i18n import LOCALES, t
from ui.session import current_actor, db, sign_out
from services import users as user_service

st.set_page_config(page_title="信息化学堂", page_icon=":material/school:", layout="wide")
bootstrap()

with db() as s:
    # the set-up page stays until its one-time password table has been read
    first_run = user_service.needs_setup(s) or "setup_result" in st.session_state

actor = None if first_run else current_actor()


def page(path: str, key: str, icon: str, **kw) -> st.Page:
    return st.Page(path, title=t(f"nav.{key}"), icon=icon, help=t(f"nav.{key}.help"), url_path=key, **kw)


if first_run:
    pages = [page("pages/account/setup.py", "setup", ":material/rocket_launch:", default=True)]
elif actor is None:
    pages = [page("pages/account/login.py", "login", ":material/login:", default=True)]
else:
    with db() as s:
        must_change = user_service.get_user(s, actor.id).must_change_password
    if must_change:
        pages = [page("pages/account/profile.py", "profile", ":material/lock_reset:", default=True)]
    else:
        plan: list[tuple[str, str, str, str]] = []   # (section, script, key, icon)
        if actor.has("learner") or actor.has("admin"):
            plan += [("learn", "pages/learner/home.py", "home", ":material/home:"),
                     ("learn", "pages/learner/catalogue.py", "catalogue", ":material/library_books:"),
                     ("learn", "pages/learner/course.py", "course", ":material/menu_book:"),
                     ("learn", "pages/learner/hours.py", "hours", ":material/schedule:")]
        if actor.has("trainer") or actor.has("admin"):
            plan += [("teach", "pages/trainer/bank.py", "bank", ":material/quiz:")]
        if actor.has("hr") or actor.has("admin"):
            plan += [("hr", "pages/hr/overview.py", "hr_overview", ":material/groups:")]
        if actor.has("admin"):
            plan += [("admin", "pages/admin/org.py", "org", ":material/account_tree:"),
                     ("admin", "pages/admin/users.py", "users", ":material/manage_accounts:"),
                     ("admin", "pages/admin/import_users.py", "import_users", ":material/upload_file:"),
                     ("admin", "pages/admin/settings.py", "settings", ":material/settings:"),
                     ("admin", "pages/admin/audit.py", "audit", ":material/history:")]
        plan += [("account", "pages/account/profile.py", "profile", ":material/person:")]
        pages = {}
        for i, (section, script, key, icon) in enumerate(plan):
            pages.setdefault(t(f"nav.section.{section}"), []).append(page(script, key, icon, default=i == 0))

with st.sidebar:
    st.markdown(f"### :material/school: {t('app.name')}")
    if actor is not None:
        st.caption(t("app.signed_in_as", name=actor.name, username=actor.username))
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
