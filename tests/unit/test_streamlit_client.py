"""bench/streamlit_client.py against a real server (`streamlit run server.py` on a free port of 127.0.0.1,
on this test session's database): the load test's examinees speak exactly this protocol, so if the
handshake, the rerun request, the widget states, the element ids or the sign-in hand-over change, these
tests fail before a load run measures nothing."""
import pytest
from sqlmodel import select

from bench.streamlit_client import AppError, ProtocolError, StreamlitClient, serve
from models import User
from models.db import session_scope

PASSWORD = "Passw0rd!x"


@pytest.fixture(scope="module")
def server(database, tmp_path_factory):
    with serve(database, log_path=tmp_path_factory.mktemp("server") / "server.log") as srv:
        yield srv


@pytest.fixture
def learner(make_user):
    return make_user("learner", password=PASSWORD)


def test_sign_in_change_a_widget_and_see_the_rerun(server, learner):
    c = StreamlitClient(server["url"])
    try:
        page, submitted, landed = c.sign_in(learner.username, PASSWORD)
        for run in (page, submitted, landed):
            assert run.status == 0 and not run.errors and run.messages > 0
        # the session cookie came from /auth/session, and the new websocket is signed in with it
        assert set(c.cookies) == {"isa_session"}
        assert c.has(key="sidebar_sign_out") and not c.has(kind="block:form")
        assert any(learner.name in text for text in c.texts())

        # a widget found by its key, changed as the browser changes it: the rerun finishes and the
        # page is drawn again in English (the choice is stored for this person)
        locale = c.find(key="sidebar_locale")
        assert locale.kind == "selectbox" and "English" in locale.options
        run = c.set(locale, "English")
        assert run.status == 0 and not run.errors
        assert c.find(key="sidebar_sign_out").label == "Sign out"
        with session_scope() as s:
            assert s.exec(select(User.locale).where(User.id == learner.id)).one() == "en"

        # a fresh page load (a new websocket, as a refresh makes) is still signed in, in English
        c.open("/hours")
        assert c.path == "/hours"
        assert c.find(key="sidebar_sign_out").label == "Sign out"
    finally:
        c.close()


def test_wrong_password_is_refused_and_sets_no_cookie(server, learner):
    c = StreamlitClient(server["url"])
    try:
        with pytest.raises(AppError, match="sign-in refused"):
            c.sign_in(learner.username, "not-the-password1")
        assert c.cookies == {}
        assert c.has(kind="block:form")        # still the sign-in page
    finally:
        c.close()


def test_a_websocket_from_another_origin_is_refused(server):
    c = StreamlitClient(server["url"])
    port = server["port"]
    c.origin = f"http://127.0.0.1:{port + 1}"      # what a page on another port of this host would send
    with pytest.raises(ProtocolError, match="403"):
        c._connect()
    c.origin = server["url"]
    run = c.open("/")
    assert run.status == 0 and c.has(key="login_username")
    c.close()


def test_only_local_servers():
    with pytest.raises(ValueError):
        StreamlitClient("http://example.org:8501")


def test_no_full_garbage_collection_after_every_run():
    """Streamlit's default gc.collect(2) after each script run was most of a rerun's CPU under load
    (docs/scaling.md): the project's config, which a server started in the project folder reads, turns it off."""
    import tomllib

    from config import ROOT
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["runner"]["postScriptGC"] is False


def test_an_examinee_of_the_load_test_sits_an_exam_through_the_pages(server, make_user, tree):
    """bench/exam_load.py's examinee against the real exam pages: sign in, lobby, the exam, start and
    confirm, every question answered (one per screen, "next"), the countdown fragment rerunning on its
    own clock while it thinks, submit and confirm; the database has the submitted attempt with every answer."""
    from bench.exam_load import examinee
    from models import Attempt, AttemptItem
    from tests.unit.examkit import exam_in, make_questions, published

    category, _ = make_questions(3, "true_false")
    make_questions(2, "single_choice", category=category)
    exam_id = published(exam_in(category, rules=[
        {"type": "true_false", "category": category, "count": 2, "points": 1},
        {"type": "single_choice", "category": category, "count": 1, "points": 2}],
        audience_units=[tree["village"]]))
    learner = make_user("learner", password=PASSWORD)
    steps = []
    answered = examinee(server["url"], learner.username,
                        {"scenario": "exam", "exam_id": exam_id, "password": PASSWORD, "think": 1.5},
                        record=lambda step, run, ms=None: steps.append((step, run)))
    names = [name for name, _ in steps]
    assert answered == 3
    assert names[:6] == ["login_page", "sign_in", "lobby", "exam_page", "start", "start_confirm"]
    assert names[-2:] == ["submit", "submit_confirm"]
    assert names.count("answer") == 3 and names.count("next") == 2
    assert "tick" in names and all(run.fragment for name, run in steps if name == "tick")
    assert all(not run.errors and run.status in (0, 3) for _, run in steps)
    with session_scope() as s:
        attempt = s.exec(select(Attempt).where(Attempt.user_id == learner.id, Attempt.exam_id == exam_id)).one()
        assert attempt.status == "submitted"
        saved = s.exec(select(AttemptItem.saved_at).where(AttemptItem.attempt_id == attempt.id)).all()
        assert len(saved) == 3 and all(saved)
