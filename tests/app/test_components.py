"""ui/components under AppTest: both render (as components-v2 elements with the data their page script
reads), and what a page sends reaches the callbacks exactly as the browser's messages would.

AppTest has no element class for a components-v2 element (it is an UnknownElement), so `send_state` /
`send_trigger` build the widget state the browser would send (the component's JSON state, or its trigger
aggregator `$$STREAMLIT_INTERNAL_KEY_<id>__events`) and run the script with it (AppTest._run, the same
call `at.run()` makes). The page script shows what the callbacks received *before* the components
render, so each test also shows that the callbacks ran in the callback phase, ahead of the script body."""
from __future__ import annotations

import json

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

from ui.components.live_text import fingerprint

PAGE_ID = "0123456789abcdef"


def _page(disabled: bool = False, max_chars: int | None = None, in_fragment: bool = False) -> None:
    import streamlit as st

    from ui.components import live_text, tab_watch

    ss = st.session_state
    ss.setdefault("saves", [])
    ss.setdefault("events", [])
    ss.setdefault("stored", "起始")
    st.caption("before: " + "|".join(ss["saves"]) + " / " + ",".join(ss["events"]))

    def save(text: str) -> None:
        ss["saves"].append(text)
        ss["stored"] = text

    tab_watch("watch", on_event=ss["events"].append, block_copy=True)

    def field() -> None:
        live_text("作答", value=ss["stored"], key="answer", on_save=save, disabled=disabled, max_chars=max_chars)

    if in_fragment:
        st.fragment(field)()
    else:
        field()


def page(**kwargs) -> AppTest:
    at = AppTest.from_function(_page, kwargs=kwargs, default_timeout=30)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def component(at: AppTest, key: str):
    found = [e for e in at.main if getattr(e, "type", None) == "bidi_component" and e.key == key]
    assert len(found) == 1, [getattr(e, "type", None) for e in at.main]
    return found[0]


def data(at: AppTest, key: str) -> dict:
    return json.loads(component(at, key).proto.json)


def before(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("before: "))


def _run_with(at: AppTest, widget_id: str, **fields) -> AppTest:
    states: WidgetStates = at._tree.get_widget_states()
    w = states.widgets.add()
    w.id = widget_id
    for name, value in fields.items():
        setattr(w, name, json.dumps(value))
    at._run(states)
    assert not at.exception, [e.message for e in at.exception]
    return at


def send_state(at: AppTest, key: str, **state) -> AppTest:
    """What the page's setStateValue sends: the component's whole JSON state."""
    return _run_with(at, component(at, key).proto.id, json_value=state)


def send_trigger(at: AppTest, key: str, event: str, value) -> AppTest:
    """What the page's setTriggerValue sends: one payload on the component's trigger aggregator."""
    return _run_with(at, f"$$STREAMLIT_INTERNAL_KEY_{component(at, key).proto.id}__events",
                     json_trigger_value=[{"event": event, "value": value}])


# ---------------------------------------------------------------------------------------- rendering

def test_both_render_with_the_data_their_scripts_read():
    at = page()
    field = data(at, "answer")
    assert field["id"] == "answer" and field["label"] == "作答" and field["value"] == "起始"
    assert field["ack_n"] == 0 and field["height"] == 200 and field["debounce_ms"] == 1500
    assert field["disabled"] is False and field["max_chars"] is None and field["placeholder"] == ""
    assert field["texts"] == {"saving": "保存中…", "saved": "已保存"}
    session, tag = field["epoch"].rsplit(":", 1)                 # "<session id>:<8 hex>"
    assert session and len(tag) == 8
    assert data(at, "watch") == {"id": "watch", "acked": {}, "block_copy": True}
    code = component(at, "watch").proto
    assert code.isolate_styles is False and "visibilitychange" in code.js_content and "blur" in code.js_content
    assert component(at, "answer").proto.isolate_styles is True
    assert '<label class="lt-label" for="lt-area">' in component(at, "answer").proto.html_content


def test_english_texts_follow_the_locale():
    at = AppTest.from_function(_page, default_timeout=30)
    at.session_state["locale"] = "en"
    at.run()
    assert data(at, "answer")["texts"] == {"saving": "Saving…", "saved": "Saved"}


# ---------------------------------------------------------------------------------------- live_text

@pytest.mark.parametrize("in_fragment", [False, True])
def test_a_changed_text_is_saved_once_in_the_callback_phase(in_fragment):
    at = page(in_fragment=in_fragment)
    epoch = data(at, "answer")["epoch"]
    send_state(at, "answer", draft={"text": "起始，接着写", "epoch": epoch, "n": 1, "base": fingerprint("起始")})
    assert at.session_state["saves"] == ["起始，接着写"]
    assert before(at) == "before: 起始，接着写 /"                  # saved before the script body ran
    shown = data(at, "answer")
    assert shown["value"] == "起始，接着写" and shown["ack_n"] == 1 and shown["epoch"] == epoch

    send_state(at, "answer", draft={"text": "起始，接着写", "epoch": epoch, "n": 1, "base": fingerprint("起始")})   # a resend
    send_state(at, "answer", draft={"text": "起始，接着写", "epoch": epoch, "n": 2, "base": fingerprint("起始")})   # same text
    assert at.session_state["saves"] == ["起始，接着写"]
    assert data(at, "answer")["ack_n"] == 2                        # acknowledged all the same

    send_state(at, "answer", draft={"text": "", "epoch": epoch, "n": 3, "base": fingerprint("起始，接着写")})      # cleared
    assert at.session_state["saves"] == ["起始，接着写", ""]
    at.run()                                                       # a rerun with the page's state unchanged
    assert at.session_state["saves"] == ["起始，接着写", ""]


def test_a_failing_save_is_not_acknowledged_and_is_tried_again():
    def _failing_page() -> None:
        import streamlit as st

        from ui.components import live_text

        ss = st.session_state
        ss.setdefault("fail", True)
        ss.setdefault("saves", [])

        def save(text: str) -> None:
            if ss["fail"]:
                ss["fail"] = False
                raise RuntimeError("database away")
            ss["saves"].append(text)
        live_text("作答", value="", key="answer", on_save=save)

    at = AppTest.from_function(_failing_page, default_timeout=30)
    at.run()
    epoch = data(at, "answer")["epoch"]
    states = at._tree.get_widget_states()
    w = states.widgets.add()
    w.id = component(at, "answer").proto.id
    w.json_value = json.dumps({"draft": {"text": "第一句", "epoch": epoch, "n": 1, "base": fingerprint("")}})
    at._run(states)
    assert at.exception                                            # shown as an error, like any failing callback
    assert at.session_state["saves"] == []
    at.run()                                                       # the page resends: the same message again
    assert not at.exception
    assert at.session_state["saves"] == ["第一句"] and data(at, "answer")["ack_n"] == 1


def test_max_chars_is_kept_on_the_server_and_a_disabled_field_takes_nothing():
    at = page(max_chars=4)
    epoch = data(at, "answer")["epoch"]
    assert data(at, "answer")["max_chars"] == 4
    send_state(at, "answer", draft={"text": "一二三四五六", "epoch": epoch, "n": 1, "base": fingerprint("起始")})
    assert at.session_state["saves"] == ["一二三四"]

    at = page(disabled=True)
    epoch = data(at, "answer")["epoch"]
    send_state(at, "answer", draft={"text": "改了", "epoch": epoch, "n": 1, "base": fingerprint("起始")})
    assert at.session_state["saves"] == [] and data(at, "answer")["ack_n"] == 0


@pytest.mark.parametrize("payload", [
    "just text", {"text": 5, "epoch": "x", "n": 1}, {"text": "a", "n": 1}, {"text": "a", "epoch": "e", "n": True},
    {"text": "a", "epoch": "e", "n": -1}, {"text": "a", "epoch": "e", "n": "1"}])
def test_malformed_states_are_ignored(payload):
    at = page()
    send_state(at, "answer", draft=payload)
    assert at.session_state["saves"] == [] and data(at, "answer")["ack_n"] == 0


def test_an_older_start_of_the_field_is_refused_and_another_session_only_over_its_own_base():
    at = page()
    old = data(at, "answer")["epoch"]
    # the caller drops the field's state (as the player does after a refused save): a new start, a new epoch
    del at.session_state["answer"]
    del at.session_state["answer__lt"]
    at.run()
    new = data(at, "answer")["epoch"]
    assert new != old and new.split(":")[0] == old.split(":")[0]
    send_state(at, "answer", draft={"text": "旧窗口的", "epoch": old, "n": 5, "base": fingerprint("起始")})
    assert at.session_state["saves"] == []

    # a page that was talking to a server process before a restart (another session): taken when the
    # server still has the text that page's edit started from, refused over anything newer
    send_state(at, "answer", draft={"text": "重启前写的", "epoch": "gone-session:0badc0de", "n": 7, "base": fingerprint("起始")})
    assert at.session_state["saves"] == ["重启前写的"] and data(at, "answer")["ack_n"] == 7
    send_state(at, "answer", draft={"text": "更旧的", "epoch": "other-session:12345678", "n": 2, "base": fingerprint("起始")})
    assert at.session_state["saves"] == ["重启前写的"]


# ---------------------------------------------------------------------------------------- tab_watch

def _ev(seq: int, kind: str = "hidden", page_id: str = PAGE_ID) -> dict:
    return {"page": page_id, "seq": seq, "kind": kind}


def test_each_event_calls_on_event_once_in_the_callback_phase():
    at = page()
    send_trigger(at, "watch", "leave", [_ev(1)])
    assert at.session_state["events"] == ["hidden"]
    assert before(at) == "before:  / hidden"                      # counted before the script body ran
    assert data(at, "watch")["acked"] == {PAGE_ID: 1}
    send_trigger(at, "watch", "leave", [_ev(1), _ev(2, "blur")])   # the unacknowledged resend with a new one
    assert at.session_state["events"] == ["hidden", "blur"]
    at.run()                                                       # a trigger lasts one run: nothing again
    send_trigger(at, "watch", "leave", [_ev(2, "blur")])
    assert at.session_state["events"] == ["hidden", "blur"]
    send_trigger(at, "watch", "leave", [_ev(1, "blur", "fedcba9876543210")])   # another page load
    assert at.session_state["events"] == ["hidden", "blur", "blur"]
    assert data(at, "watch")["acked"] == {PAGE_ID: 2, "fedcba9876543210": 1}


def test_malformed_events_are_ignored_and_a_batch_is_bounded():
    at = page()
    bad = [{"page": PAGE_ID, "seq": 1, "kind": "focus"}, {"page": PAGE_ID, "seq": True, "kind": "hidden"},
           {"page": PAGE_ID, "seq": "1", "kind": "hidden"}, {"page": "not-hex", "seq": 1, "kind": "hidden"},
           {"page": PAGE_ID, "seq": 0, "kind": "hidden"}, "hidden", None]
    send_trigger(at, "watch", "leave", bad)
    send_trigger(at, "watch", "leave", "hidden")
    send_trigger(at, "watch", "other", [_ev(1)])                   # an event nobody registered
    assert at.session_state["events"] == []
    send_trigger(at, "watch", "leave", [_ev(n) for n in range(1, 200)])
    assert len(at.session_state["events"]) == 50


def test_the_fingerprint_is_fnv1a_over_utf16_code_units_as_the_page_computes_it():
    assert fingerprint("") == "811c9dc5" and fingerprint("a") == "e40c292c"      # the published FNV-1a values
    assert fingerprint("起始") != fingerprint("起始 ") and len(fingerprint("😀" * 3)) == 8
