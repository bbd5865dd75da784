"""错题本, the mistake notebook: missed questions grouped by category with how often and when, what is due
today, and a review session (an attempt of kind "review": it resumes after a refresh) with rating buttons
that show each rating's next due date (FSRS)."""
import streamlit as st

from services import notebook, practice
from services.errors import ServiceError
from ui.attempt_player import play, show_result
from ui.fmt import local_time, md_text
from ui.guard import fetch, guard, show_error
from ui.i18n import t
from ui.session import db

actor = guard("learner")
st.title(t("notebook.title"))
st.caption(t("notebook.intro"))

flash = st.session_state.pop("notebook_flash", None)
if flash:
    st.success(flash, icon=":material/event_available:")


def _check(s, item_id):
    return practice.check_answer(s, actor, item_id=item_id)


def _day(value) -> str:
    return local_time(value, "%Y-%m-%d")


def _rate(item_id: int, rating: int | None, position: int) -> None:
    try:
        with db() as s:
            due = notebook.rate(s, actor, item_id=item_id, rating=rating)
    except ServiceError as exc:
        st.session_state["notebook_error"] = exc
        return
    st.session_state["notebook_flash"] = t("notebook.next_due", n=position, date=_day(due))


error = st.session_state.pop("notebook_error", None)
if error is not None:
    show_error(error)

review_id = fetch(lambda s: notebook.open_review(s, actor))
if review_id is not None:
    st.session_state["notebook_review"] = review_id
    view = fetch(lambda s: practice.practice_view(s, actor, attempt_id=review_id))
    checked = st.session_state.setdefault(f"review_{review_id}_checked", {})
    for item in view.items:
        if item.key is not None and item.position not in checked:
            checked[item.position] = item
    st.info(t("notebook.reviewing", n=len(view.items)), icon=":material/psychology:")
    # the checked answers still waiting for a rating: the buttons show the next due date of each rating
    choices = fetch(lambda s: notebook.rating_choices(s, actor, attempt_id=review_id))
    for item in view.items:
        if item.key is None:
            continue
        choice = choices.get(item.item_id)
        if choice is None or choice.rated:
            continue
        with st.container(border=True, key=f"notebook_rate_{item.position}"):
            if not choice.correct:
                st.markdown(t("notebook.rate_wrong", n=item.position, date=_day(choice.due)))
                st.button(t("notebook.rate_ok"), key=f"notebook_rate_{item.position}_ok",
                          on_click=_rate, args=(item.item_id, None, item.position))
                continue
            st.markdown(t("notebook.rate_right", n=item.position))
            with st.container(horizontal=True):
                for rating in (notebook.HARD, notebook.GOOD, notebook.EASY):
                    st.button(t(f"notebook.rating.{rating}", date=_day(choice.options[rating])),
                              key=f"notebook_rate_{item.position}_{rating}",
                              type="primary" if rating == choice.suggested else "secondary",
                              on_click=_rate, args=(item.item_id, rating, item.position))
            st.caption(t("notebook.rate_suggested", rating=t(f"notebook.rating_name.{choice.suggested}")))
    play(actor, review_id, prefix="review", check=_check)
    st.stop()

if st.session_state.get("notebook_review"):
    rid = st.session_state["notebook_review"]
    view = fetch(lambda s: practice.practice_view(s, actor, attempt_id=rid))
    st.subheader(t("notebook.review_done"))
    if st.button(t("notebook.back"), type="primary", key="notebook_back", icon=":material/arrow_back:"):
        st.session_state.pop("notebook_review", None)
        st.rerun()
    show_result(view, base=f"notebook_review_{rid}")
    st.stop()

book = fetch(lambda s: notebook.notebook(s, actor))
c1, c2, c3 = st.columns(3)
c1.metric(t("notebook.due_today"), book.due_today)
c2.metric(t("notebook.total"), book.total)
c3.metric(t("notebook.left"), book.left, help=t("notebook.left.help"))
if book.total == 0:
    st.info(t("notebook.empty"), icon=":material/auto_stories:")
    st.stop()
if book.due_today:
    if st.button(t("notebook.start_review", n=book.due_today), type="primary", key="notebook_start",
                 icon=":material/play_arrow:"):
        try:
            with db() as s:
                st.session_state["notebook_review"] = notebook.start_review(s, actor)
        except ServiceError as exc:
            show_error(exc)
        else:
            st.rerun()
elif book.next_due is not None:
    st.success(t("notebook.nothing_due", date=_day(book.next_due)), icon=":material/event_available:")

for n, group in enumerate(book.groups):
    label = t("notebook.group", category=md_text(group.category), n=len(group.entries), misses=group.misses, due=group.due)
    with st.expander(label, expanded=n < 3):
        if group.due and group.due < book.due_today:    # review just this category's due questions
            if st.button(t("notebook.review_group", n=group.due), key=f"notebook_group_{n}", icon=":material/play_arrow:"):
                try:
                    with db() as s:
                        st.session_state["notebook_review"] = notebook.start_review(s, actor, category=group.category)
                except ServiceError as exc:
                    show_error(exc)
                else:
                    st.rerun()
        for e in group.entries:
            with st.container(border=True, key=f"notebook_entry_{n}_{group.entries.index(e)}"):
                st.markdown(t(f"qtype.{e.type}") + " · " + e.text)      # our own content (the bank's Markdown)
                st.caption(t("notebook.entry_meta", misses=e.misses, first=local_time(e.first_missed_at),
                             last=local_time(e.last_missed_at), source=t(f"notebook.source.{e.last_source}"),
                             due=_day(e.due) if e.due else "—"))
                if e.edited:
                    st.caption(t("notebook.edited"))
                if e.due_today:
                    st.badge(t("notebook.due_badge"), icon=":material/schedule:", color="orange")
