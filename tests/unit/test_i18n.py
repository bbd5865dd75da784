"""Every key exists in both catalogues, and every key the code uses exists."""
import re

import yaml

from config import ROOT

LOCALES = ROOT / "ui" / "locales"


def _catalogue(name):
    return yaml.safe_load((LOCALES / f"{name}.yaml").read_text(encoding="utf-8"))


def test_catalogues_have_the_same_keys_and_placeholders():
    zh, en = _catalogue("zh-CN"), _catalogue("en")
    assert set(zh) == set(en), {"only zh": set(zh) - set(en), "only en": set(en) - set(zh)}
    for key in zh:
        assert set(re.findall(r"{(\w+)}", zh[key])) == set(re.findall(r"{(\w+)}", en[key])), key


def _code_files():
    for folder in ("pages", "ui", "services"):
        yield from (ROOT / folder).rglob("*.py")
    yield ROOT / "app.py"


def test_every_literal_key_used_in_code_exists():
    zh = _catalogue("zh-CN")
    missing = set()
    for path in _code_files():
        src = path.read_text(encoding="utf-8")
        for key in re.findall(r'\bt\(\s*"([a-z_][a-z0-9_.]*[a-z0-9_])"', src):
            if key not in zh:
                missing.add((path.name, key))
        for key in re.findall(r'"(error\.[a-z_]+)"', src):
            if key not in zh:
                missing.add((path.name, key))
    assert not missing, sorted(missing)


def test_dynamic_key_families_are_complete():
    from models.org import UNIT_KINDS
    from models.user import ROLES
    from services.interchange import QUESTION_TYPES
    zh = _catalogue("zh-CN")
    keys = [f"role.{r}" for r in ROLES] + [f"unit.{k}" for k in UNIT_KINDS] + [f"qtype.{q}" for q in QUESTION_TYPES]
    keys += [f"usage.{u}" for u in ("practice", "exam", "both")]
    keys += [f"ledger.source.{s}" for s in ("lesson", "course", "quiz", "exam", "adjustment", "import")]
    keys += [f"catalogue.status.{s}" for s in ("not_started", "in_progress", "take_quiz", "completed")]
    keys += [f"bank.col.{c}" for c in ("id", "version", "type", "category", "difficulty", "usage", "points", "text")]
    app_src = (ROOT / "app.py").read_text(encoding="utf-8")
    for key in re.findall(r'"pages/[a-z]+/[a-z_]+\.py", "([a-z_]+)"', app_src):
        keys += [f"nav.{key}", f"nav.{key}.help"]
    for section in re.findall(r'\("([a-z]+)", "pages/', app_src):
        keys.append(f"nav.section.{section}")
    assert [k for k in keys if k not in zh] == []
