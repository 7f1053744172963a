"""The queue on the Train page: the runs waiting for a device, in order, with move-up and remove.

The queue is the run folders (``vgg_core.queue``); this only draws them and calls the core's
``move_up`` and ``delete_run`` (a queued run leaves the queue by being removed). Drawn inside the
live fragment, so a run the scheduler starts leaves the list within a second.
"""

from __future__ import annotations

import streamlit as st

from vgg_core.device import resolve_device
from vgg_core.launch import delete_run
from vgg_core.problems import ProblemsError
from vgg_core.queue import ensure_scheduler, move_up, scheduler_pid
from vgg_core.request import TrainRequest
from vgg_core.run_folder import runs_root
from vgg_core.run_report import blocks_text
from vgg_core.runs import RunRecord

from . import notice
from .i18n import duration, say, t, tn
from .session import PageState
from .train_speed import known_speed, run_seconds
from .views import md_escape


def waiting(records: list[RunRecord]) -> list[RunRecord]:
    """The queued runs, first to start first (the core's order)."""
    found = [r for r in records if r.state.state == "queued" and r.queue is not None]
    return sorted(found, key=lambda r: (r.queue.order, r.queue.queued, r.run_id))


def settings_text(request: TrainRequest | None) -> str:
    """What a queued run will train, in one line."""
    if request is None:
        return "?"
    s = request.settings
    return t("train.queue.settings", blocks=f"`{blocks_text(request.spec)}`", size=request.spec.input_size,
             epochs=tn("train.queue.epochs", s.epochs), lr=f"{request.learning_rate:g}", batch=s.batch_size,
             optimizer=s.optimizer)


def seconds(request: TrainRequest | None) -> float | None:
    """The run's estimated time, if its device's speed is already known (never measured from here)."""
    if request is None:
        return None
    try:
        device = str(resolve_device(request.settings.device))
    except ProblemsError:
        return None
    return run_seconds(request, device, known_speed(device))


def queue_section(page: PageState, records: list[RunRecord]) -> None:
    """The waiting runs, each with its place, name, settings, time and buttons; nothing when none wait."""
    notice.show(page, "queue_message")
    runs = waiting(records)
    if not runs:
        return
    st.subheader(t("train.queue.title"))
    if scheduler_pid(runs_root()) is None:
        with st.container(key="train_queue_idle"):
            st.warning(t("train.queue.no_scheduler"))
            st.button(t("train.queue.start"), key="train_queue_start", on_click=_start_scheduler, args=(page,),
                      icon=":material/play_circle:")
    times = [seconds(r.request) for r in runs]
    box = st.container(key="train_queue_list", height=420 if len(runs) > 6 else "content")
    with box:
        for place, (record, secs) in enumerate(zip(runs, times), start=1):
            _row(page, place, record, secs)
    known = [x for x in times if x is not None]
    total = duration(sum(known)) if len(known) == len(times) else duration(None)
    st.caption(tn("train.queue.total", len(runs), total=total))


def _row(page: PageState, place: int, record: RunRecord, secs: float | None) -> None:
    """One waiting run: its words take the room left by the time and the two buttons, which keep
    their own width (at 1024 px, columns cut the button labels to one letter)."""
    row = st.container(horizontal=True, vertical_alignment="center", key=f"train_queue_row_{record.run_id}")
    name = md_escape(record.name) if record.name else record.run_id
    row.markdown(f"**{place}.** {name}  \n{settings_text(record.request)} · {record.run_id}", width="stretch")
    row.markdown(t("train.queue.time", time=duration(secs)) if secs is not None else "–", width="content")
    row.button(t("train.queue.up"), key=f"train_queue_up_{record.run_id}", on_click=_move_up,
               args=(page, record.run_id), disabled=place == 1, icon=":material/arrow_upward:")
    row.button(t("train.queue.remove"), key=f"train_queue_remove_{record.run_id}", on_click=_remove,
               args=(page, record.run_id), icon=":material/close:")


def _move_up(page: PageState, run_id: str) -> None:
    try:
        move_up(runs_root(), run_id)
    except ProblemsError as e:
        page.queue_message = ("error", md_escape(say(e)))


def _remove(page: PageState, run_id: str) -> None:
    """A queued run has trained nothing: it leaves the queue at once, without asking."""
    try:
        delete_run(runs_root(), run_id)
    except ProblemsError as e:
        page.queue_message = ("error", md_escape(say(e)))
    else:
        page.queue_message = ("success", t("train.queue.removed", run=run_id))


def _start_scheduler(page: PageState) -> None:
    ensure_scheduler(runs_root())
    page.queue_message = ("success", t("train.queue.started"))
