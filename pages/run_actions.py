"""What the Train page does to one chosen run besides showing it: resume or extend it, and name it.

Both go through the core: ``launch.resume_run`` (which checks the checkpoint, the request and the
device before anything is written, so a refusal leaves the run as it was) and ``runs.set_name``
(``meta.json``; the run's id stays its folder's name). Refusals come back as one line.
"""

from __future__ import annotations

import streamlit as st

from vgg_core.launch import resume_run
from vgg_core.problems import ProblemsError
from vgg_core.request import MAX_NAME, MAX_NOTE
from vgg_core.run_folder import runs_root
from vgg_core.runs import RunRecord, set_name

from . import notice
from .i18n import say, t, tn
from .session import PageState
from .views import md_escape

RESUMABLE = ("stopped", "lost", "failed", "completed")


def epochs_done(run: RunRecord) -> int:
    """Epochs finished: the last test evaluation's (a checkpoint is written after each one)."""
    return run.last_eval.epoch if run.last_eval else 0


def resume_row(page: PageState, run: RunRecord) -> None:
    """'Resume' (on to its planned epochs, while it has any left) and 'Train N more epochs'."""
    if run.state.state not in RESUMABLE or run.config is None:
        return
    done = epochs_done(run)
    planned = run.request.settings.epochs if run.request else None
    with st.container(key="train_resume_row"):
        a = b = c = st.container(horizontal=True, vertical_alignment="bottom")  # no gap where Resume is not offered
        if planned and done < planned:
            a.button(t("train.resume.resume", done=done, epochs=planned), key="train_resume", icon=":material/replay:",
                     on_click=_resume, args=(page, run.run_id, planned), help=t("train.resume.help"))
        b.number_input(t("train.resume.more"), min_value=1, max_value=1000, step=1, width=150,
                       **page.bind("more_epochs"))
        c.button(tn("train.resume.extend", page.more_epochs), key="train_extend", icon=":material/fast_forward:",
                 on_click=_extend, args=(page, run.run_id, done), help=t("train.resume.help"))


def _extend(page: PageState, run_id: str, done: int) -> None:
    more = st.session_state.get(page.key("more_epochs"), page.more_epochs)
    _resume(page, run_id, done + int(more))


def _resume(page: PageState, run_id: str, epochs: int) -> None:
    try:
        resume_run(runs_root(), run_id, epochs)
    except ProblemsError as e:
        page.manage_message = ("error", t("train.resume.refused", reason=md_escape(say(e))))
        return
    page.set("run", run_id)  # the live view follows it
    page.manage_message = ("success", t("train.resume.started", run=run_id, epochs=epochs))


def rename_row(page: PageState, run: RunRecord) -> None:
    """The chosen run's name and note, editable; the fields follow the run chosen."""
    if page.renaming != run.run_id:
        page.set("rename_name", run.name or "")
        page.set("rename_note", run.note or "")
        page.renaming = run.run_id
    with st.container(key="train_rename_row"):
        a, b, c = st.columns([3, 3, 1.2], vertical_alignment="bottom")
        a.text_input(t("train.rename.name"), max_chars=MAX_NAME, **page.bind("rename_name"))
        b.text_input(t("train.rename.note"), max_chars=MAX_NOTE, **page.bind("rename_note"))
        c.button(t("train.rename.save"), key="train_rename_save", on_click=_rename, args=(page, run.run_id),
                 icon=":material/edit:", width="stretch")


def _rename(page: PageState, run_id: str) -> None:
    name = str(st.session_state.get(page.key("rename_name"), page.rename_name)).strip() or None
    note = str(st.session_state.get(page.key("rename_note"), page.rename_note)).strip() or None
    try:
        set_name(runs_root(), run_id, name, note)
    except ProblemsError as e:
        page.manage_message = ("error", t("train.rename.refused", reason=md_escape(say(e))))
        return
    page.manage_message = ("success", t("train.rename.saved", run=run_id))


def manage_notice(page: PageState) -> None:
    notice.show(page, "manage_message")
