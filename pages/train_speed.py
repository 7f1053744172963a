"""Each device's measured training speed, once per server, and the estimates made from it.

Shared by the Train page's estimate, the sweep's total time and the queue's times, so one device is
measured once (in a child process: the server never holds a CUDA context) and never while a run
trains there (that would slow the run and skew the figure).
"""

from __future__ import annotations

import threading

import streamlit as st
import torch

from vgg_core.estimate import TrainingEstimate, estimate_training
from vgg_core.launch import LaunchError, busy_runs, measure_speed
from vgg_core.problems import Problem
from vgg_core.request import TrainRequest
from vgg_core.run_folder import runs_root

from .i18n import t

Speed = tuple[float, float]  # (training MACs per second, fixed seconds per step)


@st.cache_resource(show_spinner=False)
def _speeds() -> tuple[threading.Lock, dict[str, tuple[Speed | None, Problem | str | None]]]:
    """Each device's training speed (or why it could not be measured), once per server, for every session."""
    return threading.Lock(), {}


def speed(device: str) -> tuple[Speed | None, Problem | str | None]:
    """((MACs per second, seconds per step), None) or (None, why not), measuring it if need be.

    A failure is kept too, so a broken device does not cost a child process on every rerun."""
    lock, speeds = _speeds()
    with lock:
        if device not in speeds:
            if busy_runs(device, runs_root()):
                return None, t("train.est_busy", device=device)
            try:
                with st.spinner(t("train.est_measuring", device=device)):
                    speeds[device] = measure_speed(device), None
            except LaunchError as e:
                speeds[device] = None, e.problems[0]
        return speeds[device]


def known_speed(device: str) -> Speed | None:
    """The speed if it was measured already; never starts a measurement (the queue's scheduler may be
    about to start a run on that device)."""
    lock, speeds = _speeds()
    with lock:
        return (speeds.get(device) or (None, None))[0]


@st.cache_data(max_entries=256, show_spinner=False)
def _estimate_cached(request: dict, device: str, speed: Speed | None) -> TrainingEstimate:
    return estimate_training(TrainRequest.from_dict(request), device=torch.device(device), measure_speed=False,
                             speed=speed)


def estimate(request: TrainRequest, device: str, speed: Speed | None) -> TrainingEstimate:
    """The pre-flight estimate of ``request`` on ``device`` (cached: every rerun asks for it)."""
    return _estimate_cached(request.to_dict(), device, speed)


def run_seconds(request: TrainRequest, device: str, speed: Speed | None) -> float | None:
    """All of a run's epochs, or None while the device's speed is unknown."""
    if speed is None:
        return None
    per_epoch = estimate(request, device, speed).seconds_per_epoch
    return None if per_epoch is None else per_epoch * request.settings.epochs
