"""Texts as data: one TOML file per language, read with ``tomllib``, looked up by a key written in full.

Why files and not Python dicts: a translator edits one file per language, a test compares the two
files key by key and placeholder by placeholder, and no key is ever built from pieces, so an unused
or missing one shows up in a search. The core's own catalog (``vgg_core/locales``) holds what the
core can say in two languages: refusals, the nvidia-smi glossary, durations. The app adds its own
catalog (``pages/locales``) through the same ``Catalog``.

A value is a string with ``{name}`` placeholders, or a table of plural forms (``one``, ``other``)
picked by a count, as in ``"runs.count" = { one = "{n} run", other = "{n} runs" }``.
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

LANGUAGES = ("en", "zh")
PLURAL_FORMS = ("one", "other")
CORE_LOCALES = Path(__file__).resolve().parent / "locales"

Entry = str | dict[str, str]


class CatalogError(ValueError):
    """A locale file that cannot be used (a developer's mistake, found by the tests)."""


@dataclass(frozen=True)
class Catalog:
    """Every text of every language, flat: ``texts[lang][key]``."""

    texts: Mapping[str, Mapping[str, Entry]]

    @classmethod
    def load(cls, *folders: Path) -> "Catalog":
        """Merge every ``<lang>.toml`` and ``<lang>.<part>.toml`` of each folder (a part per feature,
        e.g. ``en.inside.toml``); a key defined twice is a mistake."""
        texts: dict[str, dict[str, Entry]] = {lang: {} for lang in LANGUAGES}
        for folder in folders:
            for lang in LANGUAGES:
                for path in files(Path(folder), lang):
                    with open(path, "rb") as f:
                        table = tomllib.load(f)
                    for key, value in table.items():
                        if key in texts[lang]:
                            raise CatalogError(f"{path}: key {key!r} is defined twice")
                        texts[lang][key] = _entry(path, key, value)
        return cls(texts)

    def has(self, key: str) -> bool:
        return key in self.texts["en"]

    def text(self, lang: str, key: str, **params: Any) -> str:
        """The text for ``key`` in ``lang`` (English where a language lacks it), placeholders filled."""
        entry = self._entry(lang, key)
        if isinstance(entry, dict):
            raise CatalogError(f"{key!r} has plural forms: use plural()")
        return entry.format(**params) if params else entry

    def plural(self, lang: str, key: str, count: int, **params: Any) -> str:
        """The form for ``count`` ('one' for 1 where the language has it, else 'other'), with ``{n}``."""
        entry = self._entry(lang, key)
        if isinstance(entry, str):
            raise CatalogError(f"{key!r} has no plural forms: use text()")
        form = entry.get("one") if count == 1 and "one" in entry else entry["other"]
        return form.format(n=f"{count:,}", **params)

    def _entry(self, lang: str, key: str) -> Entry:
        table = self.texts.get(lang) or self.texts["en"]
        entry = table.get(key, self.texts["en"].get(key))
        if entry is None:
            raise KeyError(f"no text for {key!r}")
        return entry


def files(folder: Path, lang: str) -> list[Path]:
    """A language's files in a folder: ``<lang>.toml``, then its parts ``<lang>.<part>.toml``."""
    return [folder / f"{lang}.toml", *sorted(folder.glob(f"{lang}.*.toml"))]


def placeholders(entry: Entry) -> set[str]:
    """The ``{names}`` a text uses (all forms together for a plural)."""
    forms = entry.values() if isinstance(entry, dict) else (entry,)
    return {name for form in forms for _, name, _, _ in string.Formatter().parse(form) if name}


def _entry(path: Path, key: str, value: Any) -> Entry:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "other" in value and set(value) <= set(PLURAL_FORMS):
        if all(isinstance(v, str) for v in value.values()):
            return dict(value)
    raise CatalogError(f"{path}: {key!r} must be a string or a table of plural forms {PLURAL_FORMS}")


CORE = Catalog.load(CORE_LOCALES)
