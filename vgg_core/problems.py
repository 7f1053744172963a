"""Refusals as data: a stable code and its parameters, rendered to a sentence only when shown.

Why: the CLI prints the English sentence, the app shows the same refusal in Chinese, and a run
folder keeps it for later. If the core only wrote English, the page would have to read the English
back; here the page renders the same code from its own catalog, so rewording the English can never
break the Chinese. The sentences live in ``vgg_core/locales/<lang>.toml`` under ``refusal.<code>``.

A parameter is a plain value, a ``Count`` (a number with its noun: "1 block", "5 blocks"), another
``Problem`` (a reason quoting a reason) or a tuple of problems (a list of places tried). A ``block``
parameter prefixes the sentence with the block it is about ("block 2: ...").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from .locale import CORE, Catalog

PREFIX = "refusal."
_MAX_DEPTH = 4  # nesting accepted from a file on disk (a reason that quotes a reason ...)


@dataclass(frozen=True)
class Count:
    """A count with its noun, so each language writes its own plural: ``Count("blocks", 5)``."""

    noun: str
    n: int

    def render(self, lang: str = "en", catalog: Catalog = CORE) -> str:
        return catalog.plural(lang, f"count.{self.noun}", self.n)


@dataclass(frozen=True)
class Problem:
    """One refusal: ``code`` names its sentence, ``params`` fill it."""

    code: str
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not CORE.has(PREFIX + self.code):
            raise KeyError(f"no refusal text for code {self.code!r}")

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.params)

    def render(self, lang: str = "en", catalog: Catalog = CORE) -> str:
        args = {k: _render_value(v, lang, catalog) for k, v in self.params}
        block = args.pop("block", None)
        text = catalog.text(lang, PREFIX + self.code, **args)
        return text if block is None else catalog.text(lang, PREFIX + "in_block", block=block, text=text)

    def __str__(self) -> str:
        return self.render("en")

    def to_dict(self) -> dict[str, Any]:
        """JSON for a run folder; ``from_dict`` reads it back without trusting it."""
        return {"code": self.code, "params": {k: _value_to_json(v) for k, v in self.params}}

    @classmethod
    def from_dict(cls, data: Any, depth: int = 0) -> "Problem | None":
        """A problem read from disk, or None if anything about it is not what ``to_dict`` writes."""
        if depth > _MAX_DEPTH or not isinstance(data, dict) or not isinstance(data.get("code"), str):
            return None
        params = data.get("params", {})
        if not isinstance(params, dict) or not CORE.has(PREFIX + data["code"]):
            return None
        values = {}
        for key, value in params.items():
            parsed = _value_from_json(value, depth)
            if parsed is _BAD or not isinstance(key, str):
                return None
            values[key] = parsed
        found = cls(data["code"], tuple(values.items()))
        try:  # every placeholder filled, nothing that breaks formatting
            found.render("en")
        except (KeyError, IndexError, ValueError, TypeError):
            return None
        return found


def problem(code: str, **params: Any) -> Problem:
    return Problem(code, tuple(params.items()))


class ProblemsError(ValueError):
    """Refused input: ``problems`` holds each problem; the message joins their English on one line."""

    def __init__(self, problems: Iterable[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    def render(self, lang: str = "en", catalog: Catalog = CORE) -> str:
        return render_all(self.problems, lang, catalog)


def render_all(problems: Iterable[Problem], lang: str = "en", catalog: Catalog = CORE) -> str:
    return catalog.text(lang, PREFIX + "separator").join(p.render(lang, catalog) for p in problems)


def _render_value(value: Any, lang: str, catalog: Catalog) -> Any:
    if isinstance(value, (Problem, Count)):
        return value.render(lang, catalog)
    if isinstance(value, tuple) and all(isinstance(v, Problem) for v in value):
        return render_all(value, lang, catalog)
    return value


def _value_to_json(value: Any) -> Any:
    if isinstance(value, Problem):
        return value.to_dict()
    if isinstance(value, Count):
        return {"count": value.noun, "n": value.n}
    if isinstance(value, tuple):
        return [_value_to_json(v) for v in value]
    return value


_BAD = object()


def _value_from_json(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:2000]
    if isinstance(value, list):
        items = tuple(Problem.from_dict(v, depth + 1) for v in value[:20])
        return _BAD if any(i is None for i in items) else items
    if isinstance(value, dict) and set(value) == {"count", "n"}:
        noun, n = value["count"], value["n"]
        ok = isinstance(noun, str) and isinstance(n, int) and CORE.has(f"count.{noun}")
        return Count(noun, n) if ok else _BAD
    nested = Problem.from_dict(value, depth + 1)
    return _BAD if nested is None else nested


def as_problems(error: BaseException) -> list[Problem] | None:
    """The problems a refusal carries, or None for an error that is not a refusal."""
    found = getattr(error, "problems", None)
    return list(found) if isinstance(found, list) and all(isinstance(p, Problem) for p in found) else None


__all__ = ["Problem", "Count", "ProblemsError", "problem", "render_all", "as_problems"]
