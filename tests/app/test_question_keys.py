"""Multiple-choice widgets: keys (which become the browser's element ids) carry display positions
only; which bank option a box stands for is known to the server alone."""
from streamlit.testing.v1 import AppTest


def _quiz(order, response):
    from types import SimpleNamespace

    import streamlit as st

    from ui.questions import answer_widget

    item = SimpleNamespace(item_id=7, position=1, points=2.0, response=response, question={
        "type": "multiple_choice", "text": "Q", "options": [(i, f"option {i}") for i in order]})

    def save(item_id, value):
        st.session_state["saved"] = (item_id, value)
    answer_widget("course_quiz_1", item, save)


def _run(order, response=None) -> AppTest:
    at = AppTest.from_function(_quiz, args=(order, response), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def test_checkbox_keys_are_display_positions():
    # the key is bank options 0 and 1; shown third and second
    at = _run([3, 1, 0, 2])
    assert [c.key for c in at.checkbox] == [f"course_quiz_1_7_{n}" for n in range(4)]
    assert [c.label for c in at.checkbox] == ["option 3", "option 1", "option 0", "option 2"]


def test_keys_are_the_same_whatever_the_order():
    orders = ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1])
    keys = {tuple(c.key for c in _run(order).checkbox) for order in orders}
    assert len(keys) == 1          # nothing in the keys depends on which option is where in the bank


def test_ticks_map_back_to_bank_options_on_the_server():
    at = _run([3, 1, 0, 2])
    at.checkbox(key="course_quiz_1_7_2").check().run()         # shown third = bank option 0
    assert at.session_state["saved"] == (7, [0])
    at.checkbox(key="course_quiz_1_7_0").check().run()         # shown first = bank option 3
    assert at.session_state["saved"] == (7, [3, 0])


def test_saved_answer_is_shown_at_its_display_position():
    at = _run([3, 1, 0, 2], response=[1])
    assert [c.value for c in at.checkbox] == [False, True, False, False]
