"""Every piece of UI text, in the session's language: ``t(key)``, ``tn(key, n)`` and ``say(problem)``.

The texts are data: ``pages/locales/<lang>.toml`` for the pages and ``vgg_core/locales`` for what the
core can say (refusals, the nvidia-smi glossary, durations), read by one ``Catalog``. Keys are
written out in full wherever they are used, so ``tests/test_app_locales.py`` can check that every
key used exists in both languages with the same placeholders. A refusal from the core is rendered
from its code and parameters (``say``), never read back from its English.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Mapping

import streamlit as st

from vgg_core.locale import CORE_LOCALES, Catalog
from vgg_core.problems import Problem, as_problems, render_all
from vgg_core.run_report import duration_text

LOCALES = Path(__file__).resolve().parent / "locales"
CATALOG = Catalog.load(CORE_LOCALES, LOCALES)
EN, ZH = CATALOG.texts["en"], CATALOG.texts["zh"]  # every text by key, for tests and tools
LANGS = ("en", "zh")
LANG_LABELS = {"en": "English", "zh": "中文"}
LANG_KEY = "lang"  # the session's language: the sidebar's radio and the URL's ?lang=


def lang() -> str:
    value = st.session_state.get(LANG_KEY, "en")
    return value if value in LANGS else "en"


def t(key: str, **values: object) -> str:
    """The text for ``key`` in the session's language, with ``{name}`` fields filled in."""
    return CATALOG.text(lang(), key, **values)


def tn(key: str, n: int, **values: object) -> str:
    """A text with a count, in the plural form the language uses for ``n`` (``{n}`` is the count)."""
    return CATALOG.plural(lang(), key, n, **values)


def say(what: Problem | BaseException | str | Iterable[Problem] | None) -> str:
    """A refusal (a problem, an error carrying problems, or plain text) in the session's language."""
    if what is None:
        return ""
    if isinstance(what, Problem):
        return what.render(lang(), CATALOG)
    if isinstance(what, BaseException):
        problems = as_problems(what)
        return render_all(problems, lang(), CATALOG) if problems else str(what)
    if isinstance(what, str):
        return what
    return render_all(list(what), lang(), CATALOG)


def duration(seconds: float | None) -> str:
    return duration_text(seconds, lang())


def option_labels(keys: Mapping[str, str]) -> Callable[[str], str]:
    """A widget's ``format_func``: each option's text key (written in full by the caller), in this
    run's language. Looked up now, so the function means the same wherever Streamlit calls it later."""
    table = {option: t(key) for option, key in keys.items()}
    return table.__getitem__
