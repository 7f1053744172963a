"""``python -m vgg_core gpu``: nvidia-smi's table from NVML, as text or JSON, once or every few seconds.

Exit status 0 with or without a GPU: no GPU is a state to report, not an error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
import time

from .. import gpu as gpu_stats
from .. import glossary
from ..glossary import LANGUAGES

MAX_WATCH_SECONDS = 3600.0
_W = (41, 24, 22)  # inner widths of nvidia-smi's three columns
_WIDTH = sum(_W) + 4
_COMPUTE_SHORT = {"Exclusive Thread": "E. Thread", "Exclusive Process": "E. Process"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gpu", help="GPU stats as nvidia-smi shows them (through NVML), plus host CPU/RAM")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.add_argument(
        "--watch", type=_seconds, metavar="SECONDS",
        help=f"refresh every SECONDS (0 < SECONDS <= {MAX_WATCH_SECONDS:g}) until Ctrl-C; JSON then prints one line per reading",
    )
    p.add_argument("--explain", choices=LANGUAGES, help="after the table, what each field means (en or zh)")
    p.set_defaults(run=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_WATCH_SECONDS):
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds above 0 and at most {MAX_WATCH_SECONDS:g}, got {text!r}"
        )
    return value


def run(args: argparse.Namespace) -> int:
    try:
        while True:
            snap = gpu_stats.snapshot()
            if args.format == "json":
                text = json.dumps(snap.to_dict(), indent=None if args.watch else 2, ensure_ascii=False)
            else:
                text = render_table(snap)
                if args.explain:
                    text += "\n" + render_glossary(args.explain)
                if args.watch and sys.stdout.isatty():
                    text = "\x1b[H\x1b[2J" + text  # redraw in place, as watch(1) does
            print(text, flush=True)
            if not args.watch:
                return 0
            time.sleep(args.watch)
    except KeyboardInterrupt:  # the way to leave --watch
        return 0


# ---------------------------------------------------------------------------------------------------


def _na(value: object, fmt: str = "{}") -> str:
    return "N/A" if value is None else fmt.format(value)


def _fit(left: str, right: str, width: int) -> str:
    """One cell: ``left`` flush left, ``right`` flush right, a space of margin each side."""
    room = width - 2 - len(right) - (1 if left and right else 0)
    if len(left) > room:
        left = left[: max(0, room - 3)] + "..."
    return " " + left + " " * (width - 2 - len(left) - len(right)) + right + " "


def _row(*cells: str) -> str:
    return "|" + "|".join(cells) + "|"


def _rule(char: str = "-", joint: str = "+", ends: str = "|") -> str:
    return ends + joint.join(char * w for w in _W) + ends


def _full(text: str) -> str:
    return "|" + _fit(text, "", _WIDTH - 2) + "|"


def _wrapped(text: str, indent: str = "") -> list[str]:
    """A message across the whole box, wrapped rather than cut: reasons must be read in full."""
    return [_full(line) for line in textwrap.wrap(text, _WIDTH - 4, subsequent_indent=indent)]


def _gpu_rows(g: dict) -> list[str]:
    if g["lost"] or g["name"] is None and g["reason"]:
        return [
            _row(_fit(f"{g['index']:>3}  {_na(g['name'])}", "ERR!", _W[0]), _fit("", f"{_na(g['bus_id'])} ERR!", _W[1]),
                 _fit("", "ERR!", _W[2])),
            *_wrapped(f"     {g['reason']}", "     "),
        ]
    draw, cap = g["power_draw_w"], g["power_limit_w"]
    power = f"{_na(draw if draw is None else round(draw), '{}W')} / {_na(cap if cap is None else round(cap), '{}W')}"
    memory = f"{_na(g['memory_used_mib'], '{}MiB')} / {_na(g['memory_total_mib'], '{}MiB')}"
    ecc = g["ecc_uncorrected"]
    ecc_text = str(ecc) if ecc is not None else ("Off" if g["ecc_enabled"] is False else "N/A")
    mode = g["compute_mode"]
    return [
        _row(
            _fit(f"{g['index']:>3}  {_na(g['name'])}", gpu_stats.on_off(g["persistence_mode"]), _W[0]),
            _fit("", f"{_na(g['bus_id'])} {gpu_stats.on_off(g['display_active'])}", _W[1]),
            _fit("", ecc_text, _W[2]),
        ),
        _row(
            _fit(f"{_na(g['fan_percent'], '{}%'):>3}  {_na(g['temperature_c'], '{}C'):>4}  {_na(g['performance_state']):>4}",
                 power, _W[0]),
            _fit("", memory, _W[1]),
            _fit(f"{_na(g['utilization_percent'], '{}%'):>5}", _COMPUTE_SHORT.get(mode, _na(mode)), _W[2]),
        ),
    ]


def _process_rows(gpus: list[dict]) -> list[str]:
    rows = []
    for g in gpus:
        if g["lost"]:
            continue
        if g["processes"] is None:
            rows.append(_full(f"{g['index']:>4}   processes: N/A ({g['na_reasons'].get('processes', 'not reported')})"))
            continue
        for p in g["processes"]:
            left = f"{g['index']:>4}   {p['pid']:>8}   {p['type']:>4}   {_na(p['name'])}"
            rows.append("|" + _fit(left, _na(p["used_memory_mib"], "{}MiB"), _WIDTH - 2) + "|")
    return rows or [_full("No running processes found")]


def _host_line(h: dict) -> str:
    cpu = _na(h["cpu_percent"], "{:.1f}%")
    cores = "" if h["cpu_count"] is None else f" of {h['cpu_count']} cores"
    ram = f"{_na(h['ram_used_mib'], '{}MiB')} / {_na(h['ram_total_mib'], '{}MiB')} ({_na(h['ram_percent'], '{:.1f}%')})"
    return f"Host  CPU {cpu}{cores}  |  RAM {ram}"


def render_table(snap: gpu_stats.Snapshot) -> str:
    """A compact nvidia-smi: header, two lines per GPU, processes, then the host."""
    d = snap.to_dict()
    border = "+" + "-" * (_WIDTH - 2) + "+"
    lines = [time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(d["timestamp"]))]
    if not d["available"]:
        lines += [border, *_wrapped(f"No NVIDIA GPU: {d['reason']}", "  ")]
        if d["driver_version"]:
            lines.append(_full(f"Driver Version: {d['driver_version']}"))
        lines += [_full(_host_line(d["host"])), border]
        return "\n".join(lines)
    lines += [
        border,
        "|" + _fit(f"Driver Version: {_na(d['driver_version'])}", f"CUDA Version: {_na(d['cuda_version'])}", _WIDTH - 2) + "|",
        _rule("-", "+"),
        _row(_fit("GPU  Name", "Persistence-M", _W[0]), _fit("Bus-Id", "Disp.A", _W[1]), _fit("", "Volatile Uncorr. ECC", _W[2])),
        _row(_fit("Fan  Temp  Perf", "Pwr:Usage/Cap", _W[0]), _fit("", "Memory-Usage", _W[1]), _fit("GPU-Util", "Compute M.", _W[2])),
        _rule("=", "+"),
    ]
    for i, g in enumerate(d["gpus"]):
        if i:
            lines.append(_rule("-", "+"))
        lines += _gpu_rows(g)
    lines += [
        _rule("-", "+", "+"),
        "",
        border,
        _full("Processes:"),
        "|" + _fit(f"{'GPU':>4}   {'PID':>8}   {'Type':>4}   Process name", "GPU Memory Usage", _WIDTH - 2) + "|",
        "|" + "=" * (_WIDTH - 2) + "|",
        *_process_rows(d["gpus"]),
        border,
    ]
    if d["reason"]:
        lines.append(d["reason"])
    lines.append(_host_line(d["host"]))
    return "\n".join(lines)


def render_glossary(lang: str) -> str:
    """Every field as 'label: meaning', then the note on memory use versus utilisation."""
    lines = [f"{glossary.label(key)}: {glossary.explain(key, lang)}" for key in glossary.KEYS]
    return "\n".join(lines + ["", glossary.note(lang)])
