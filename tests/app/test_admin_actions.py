"""Admin pages do what their buttons say (AppTest drives the widgets; the database shows the result)."""
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from config import ROOT
from models import OrgUnit, User
from models.db import session_scope
from services import settings
from tests.conftest import uid


def _page(admin_id: int, page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["user_id"] = admin_id
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception
    return at


def test_org_page_adds_a_unit(make_user_module, tree):
    admin = make_user_module("admin")
    at = _page(admin.id, "pages/admin/org.py")
    code = uid("U")
    form_inputs = [ti for ti in at.text_input if ti.label in ("编码", "名称")]
    form_inputs[0].input(code)
    form_inputs[1].input("新设信息中心")
    next(b for b in at.button if b.label == "新增").click()
    at.run()
    assert not at.exception
    assert any("已新增单位" in s.value for s in at.success)
    with session_scope() as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == code)).one()
        assert unit.name == "新设信息中心" and unit.parent_id is None
    # a duplicate code is refused with a clear message, and nothing is added
    form_inputs = [ti for ti in at.text_input if ti.label in ("编码", "名称")]
    form_inputs[0].input(code)
    form_inputs[1].input("重复")
    next(b for b in at.button if b.label == "新增").click()
    at.run()
    assert any(code in e.value and "已存在" in e.value for e in at.error)


def test_settings_page_saves_the_default_target(make_user_module):
    admin = make_user_module("admin")
    at = _page(admin.id, "pages/admin/settings.py")
    with session_scope() as s:
        before = settings.default_target(s)
    try:
        target = next(n for n in at.number_input if n.label == "默认年度目标（学时）")
        target.set_value(64.0)
        next(b for b in at.button if b.label == "保存" and b.form_id == "settings_default_target").click()
        at.run()
        assert any("设置已保存" in s.value for s in at.success)
        with session_scope() as s:
            assert settings.default_target(s) == 64.0
    finally:
        with session_scope() as s:
            settings.set_default_target(s, admin, hours=before)


def test_users_page_creates_an_account_and_shows_the_password_once(make_user_module, tree):
    admin = make_user_module("admin")
    at = _page(admin.id, "pages/admin/users.py")
    name = uid("p")
    next(ti for ti in at.text_input if ti.label == "用户名" and ti.form_id == "users_create").input(name)
    next(ti for ti in at.text_input if ti.label == "姓名" and ti.form_id == "users_create").input("刘洋")
    at.selectbox(key="users_create_unit").select(tree["town"])
    next(b for b in at.button if b.label == "创建用户").click()
    at.run()
    assert not at.exception
    assert any(name in w.value for w in at.warning)
    shown = at.code[0].value.strip()
    with session_scope() as s:
        user = s.exec(select(User).where(User.username == name)).one()
        assert user.must_change_password and user.unit_id == tree["town"]
    from services import auth
    with session_scope() as s:
        assert auth.authenticate(s, username=name, password=shown).must_change_password
    at.run()
    assert not at.code   # shown once


def test_users_page_survives_a_filter_after_a_row_was_selected(make_user_module):
    admin = make_user_module("admin")
    for _ in range(4):
        make_user_module("learner")
    at = _page(admin.id, "pages/admin/users.py")
    at.session_state["users_table__None_None_1"] = {"selection": {"rows": [3], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.subheader, "row 3 opens its edit panel"
    at.text_input(key="users_search").input(admin.username)
    at.run()
    assert not at.exception            # the old selection (row 3) does not apply to the 1-row result
    assert not at.subheader
