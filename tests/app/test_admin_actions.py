"""Admin pages do what their buttons say (AppTest drives the widgets; the database shows the result)."""
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from config import ROOT
from models import AuditLog, OrgUnit, User
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


def test_org_page_refuses_a_name_with_a_control_character(make_user_module):
    admin = make_user_module("admin")
    at = _page(admin.id, "pages/admin/org.py")
    code = uid("U")
    form_inputs = [ti for ti in at.text_input if ti.label in ("编码", "名称")]
    form_inputs[0].input(code)
    form_inputs[1].input("坏\x00名字")
    next(b for b in at.button if b.label == "新增").click()
    at.run()
    assert not at.exception
    assert any("名称" in e.value and "U+0000" in e.value.replace("\\", "") for e in at.error)   # Markdown-escaped
    with session_scope() as s:
        assert s.exec(select(OrgUnit).where(OrgUnit.code == code)).first() is None


def _csv(rows) -> bytes:
    return ("用户名,姓名,单位编码\n" + "".join(",".join(r) + "\n" for r in rows)).encode("utf-8")


def test_import_page_checks_then_imports_and_hands_out_the_passwords_once(make_user_module, tree, monkeypatch):
    import io

    from openpyxl import load_workbook
    from streamlit.runtime.media_file_manager import MediaFileManager
    admin = make_user_module("admin")
    files = []
    add = MediaFileManager.add

    def spy(self, data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if is_for_static_download:
            files.append(data)
        return add(self, data, mimetype, coordinates, file_name, is_for_static_download)
    monkeypatch.setattr(MediaFileManager, "add", spy)
    at = _page(admin.id, "pages/admin/import_users.py")
    assert files == []                  # the templates are built when clicked, not on every run
    unit = tree["codes"]["town"]
    a, b = uid("imp"), uid("imp")

    # a file with an error: the row and the column are named, nothing is imported
    at.file_uploader(key="import_file").upload("people.csv", _csv([[a, "甲", unit], [b, "乙\x00", unit]]), "text/csv")
    at.run()
    assert not at.exception
    assert any("未导入任何数据" in e.value for e in at.error)
    problems = at.dataframe[0].value
    assert list(problems["行号"]) == [3] and list(problems["列"]) == ["姓名"] and "\x00" not in problems["内容"][0]
    assert not [x for x in at.button if x.key == "import_confirm"]

    # a good file: checked, previewed, imported on the button, passwords offered once
    at.file_uploader(key="import_file").set_value(("people.csv", _csv([[a, "甲", unit], [b, "=1+1", unit]]), "text/csv"))
    at.run()
    assert any("全部 2 行检查通过" in s.value for s in at.success)
    assert set(at.dataframe[0].value["用户名"]) == {a, b}
    with session_scope() as s:
        assert s.exec(select(User).where(User.username.in_([a, b]))).first() is None      # checking writes nothing
    at.button(key="import_confirm").click()
    at.run()
    assert not at.exception
    assert any("已导入 2 个账号" in s.value for s in at.success)
    assert [x.key for x in at.get("download_button") if x.key == "import_passwords"] == ["import_passwords"]
    sheet = load_workbook(io.BytesIO(files[-1])).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [r[:2] for r in rows] == [(a, "甲"), (b, "=1+1")]
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    from services import auth
    with session_scope() as s:
        assert auth.verify_password(s.exec(select(User.password_hash).where(User.username == a)).one(), rows[0][2])
        assert s.exec(select(AuditLog.detail).where(AuditLog.action == "user.import", AuditLog.actor_id == admin.id)
                      ).all() == [{"count": 2}]
    at.run()
    assert not [x for x in at.get("download_button") if x.key == "import_passwords"]      # shown once


def test_users_page_refuses_an_adjustment_reason_with_a_control_character(make_user_module):
    from models import LedgerEntry
    admin = make_user_module("admin")
    learner = make_user_module("learner")
    at = _page(admin.id, "pages/admin/users.py")
    at.text_input(key="users_search").input(learner.username)
    at.run()
    at.session_state[f"users_table_{learner.username}_None_None_1"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception and at.subheader
    next(n for n in at.number_input if n.label == "调整学时").set_value(2.0)
    next(ti for ti in at.text_input if ti.label == "说明" and ti.form_id == "users_adjust").input("补录\x1b[31m")
    next(b for b in at.button if b.label == "追加调整记录").click()
    at.run()
    assert not at.exception
    assert any("U+001B" in e.value.replace("\\", "") for e in at.error)
    with session_scope() as s:
        assert s.exec(select(LedgerEntry).where(LedgerEntry.user_id == learner.id)).first() is None


def test_settings_page_saves_the_notebook_interval(make_user_module):
    admin = make_user_module("admin")
    at = _page(admin.id, "pages/admin/settings.py")
    with session_scope() as s:
        before = settings.notebook_leave_days(s)
    try:
        next(n for n in at.number_input if n.label == "移出错题本的复习间隔（天）").set_value(30)
        next(b for b in at.button if b.label == "保存" and b.form_id == "settings_notebook").click()
        at.run()
        assert not at.exception
        assert any("已保存" in s.value for s in at.success)
        with session_scope() as s:
            assert settings.notebook_leave_days(s) == 30
            assert s.exec(select(AuditLog).where(AuditLog.action == "settings.notebook_leave_days")).first() is not None
    finally:
        with session_scope() as s:
            settings.set_notebook_leave_days(s, admin, days=before)
