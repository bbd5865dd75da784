"""md_text: people's text in a Markdown context stays text (Streamlit's own directives included)."""
import re

import pytest

from ui.fmt import WORD_JOINER, md_text

HOSTILE = [
    "**x**[y](http://e.example)", ":material/school: A", "::material/home::", ":material_home:", ":red[B]",
    ":rainbow-background[I]", ":streamlit:", ":smile:", "<b>G</b>", "$x^2$", "~~J~~", "# K", "- L", "1. M",
    "li.ming@dept.example", "www.evil.example", "WWW.Evil.example", "https://evil.example/x", "10:30",
    "\\:material/home\\:", "a_b_c *F*", "`code`", "> quote", "普通 姓名",
]


def _unescape(md: str) -> str:
    return re.sub(r"\\(.)", r"\1", md).replace(WORD_JOINER, "")


@pytest.mark.parametrize("value", HOSTILE)
def test_md_text_reads_the_same_and_breaks_every_directive(value):
    out = md_text(value)
    assert _unescape(out) == value                           # the reader sees exactly what was typed
    assert ":material/" not in out and ":streamlit:" not in out
    assert not re.search(r"[:@](?!" + WORD_JOINER + ")", out), out   # no ":name", ":name[", "x@host"
    assert not re.search(r"www\\\.", out, re.IGNORECASE), out      # no GFM www. autolink
    assert not re.search(r"(?<!\\)[*_\[\]()<>`#~$|]", out), out    # Markdown syntax escaped


def test_plain_text_is_left_alone():
    assert md_text("张三 Li Ming 42") == "张三 Li Ming 42"
