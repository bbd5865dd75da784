"""Every download button in the UI downloads without rerunning the script (`on_click="ignore"`).

Why: a click on a button whose data is built on click (a callable) sends two messages, a rerun and the
request for the file. The rerun registers a new file id for the button and, when it ends, drops the old
one; when the rerun wins that race (a busy server), the request finds no file, the button shows "Failed
to generate file for download" and nothing downloads. CI lost a run to it (the question-import template).
A rerun on download also has no use here: nothing on our pages changes because a file was saved."""
from __future__ import annotations

import ast

from config import ROOT


def _download_buttons():
    for path in sorted([*ROOT.glob("pages/**/*.py"), *ROOT.glob("ui/**/*.py"), ROOT / "app.py"]):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "download_button":
                yield path.relative_to(ROOT), node


def test_the_ui_has_download_buttons_to_check():
    assert sum(1 for _ in _download_buttons()) >= 20


def test_every_download_button_ignores_the_click_for_reruns():
    missing = []
    for path, call in _download_buttons():
        on_click = next((k.value for k in call.keywords if k.arg == "on_click"), None)
        if not (isinstance(on_click, ast.Constant) and on_click.value == "ignore"):
            missing.append(f"{path}:{call.lineno}")
    assert not missing, f'download buttons without on_click="ignore": {missing}'
