"""Translations as data: both languages have the same keys and placeholders, every key in use exists,
every key exists because it is used, the Chinese reads as Chinese, and rewording the core's English
cannot change what the Chinese page shows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages import i18n
from vgg_core import locale as core_locale
from vgg_core.locale import CORE, CORE_LOCALES, Catalog, placeholders
from vgg_core.problems import Count, Problem, problem
from vgg_core.spec import SpecError, parse_conv_arch

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "vgg_core").rglob("*.py"))]
CATALOGS = {"core": Catalog.load(CORE_LOCALES), "pages": Catalog.load(i18n.LOCALES)}
KEY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
HAN = r"\u3400-\u9fff"


def literals() -> set[str]:
    """Every string constant in the app's and the core's code."""
    found = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def calls(name: str) -> set[str]:
    """The first argument of every ``name("literal", ...)`` call (``problem``, ``Count``)."""
    found = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    found.add(node.args[0].value)
    return found


def test_every_part_has_both_languages() -> None:
    for folder in (CORE_LOCALES, i18n.LOCALES):
        parts = {p.name.split(".", 1)[1] for p in folder.glob("*.toml")}
        for part in parts:
            assert {(folder / f"{lang}.{part}").exists() for lang in ("en", "zh")} == {True}, (folder, part)


@pytest.mark.parametrize("name", list(CATALOGS))
def test_both_languages_have_the_same_keys_and_placeholders(name: str) -> None:
    en, zh = CATALOGS[name].texts["en"], CATALOGS[name].texts["zh"]
    assert set(en) == set(zh), set(en) ^ set(zh)
    for key in en:
        assert placeholders(en[key]) == placeholders(zh[key]), key
        assert isinstance(en[key], dict) == isinstance(zh[key], dict), key  # plural forms in both or neither


def test_every_key_the_code_names_exists() -> None:
    known = set(i18n.CATALOG.texts["en"])
    prefixes = {k.split(".")[0] for k in known}
    used = {s for s in literals() if KEY.fullmatch(s) and s.split(".")[0] in prefixes and not s.endswith(".py")}
    assert used - known == set()
    assert {f"refusal.{c}" for c in calls("problem")} - known == set()
    assert {f"count.{c}" for c in calls("Count")} - known == set()


def test_every_key_is_used_somewhere() -> None:
    """No stale text: a key is written out in full where it is used (refusals by their code)."""
    strings = literals()  # a refusal's code may be chosen before the call: written out in full all the same
    used = strings | {f"refusal.{c}" for c in strings} | {f"count.{c}" for c in calls("Count")}
    used |= {f"image_note.{c}" for c in strings}  # vgg_core.images.note("padded", ...): the code in full
    used |= {"refusal.separator", "refusal.in_block"}  # how problems.py joins and prefixes refusals
    used |= {k for k in CORE.texts["en"] if k.startswith("glossary.")}  # walked by vgg_core.glossary.KEYS
    unused = set(i18n.CATALOG.texts["en"]) - used
    assert unused == set(), sorted(unused)


def _samples(entry) -> list[str]:
    forms = entry.values() if isinstance(entry, dict) else [entry]
    return [re.sub(r"\{(\w+)\}", "X1", form) for form in forms]  # a placeholder reads as a Latin token


@pytest.mark.parametrize("name", list(CATALOGS))
def test_chinese_uses_full_width_punctuation_and_spaces_latin_terms(name: str) -> None:
    bad_punct = re.compile(rf"[{HAN}][,;:!?()]|[,;:!?(][{HAN}]|[{HAN}] [,;:!?]")
    bad_space = re.compile(rf"[{HAN}][A-Za-z0-9]|[A-Za-z0-9][{HAN}]")
    problems = []
    for key, entry in CATALOGS[name].texts["zh"].items():
        for text in _samples(entry):
            plain = re.sub(r"`[^`]*`", "`c`", text)  # code spans keep their own punctuation
            if bad_punct.search(plain) or bad_space.search(plain):
                problems.append(f"{key}: {text}")
    assert problems == []


def test_counts_have_plural_forms() -> None:
    assert Count("blocks", 1).render("en") == "1 block" and Count("blocks", 5).render("en") == "5 blocks"
    assert Count("blocks", 1).render("zh") == "1 个块" and Count("blocks", 5).render("zh") == "5 个块"


def _reworded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every English refusal of the core reworded, as a later edit of en.toml could."""
    for catalog in (CORE, i18n.CATALOG):
        for key, text in list(catalog.texts["en"].items()):
            if key.startswith("refusal.") and key not in ("refusal.separator", "refusal.in_block"):
                monkeypatch.setitem(catalog.texts["en"], key, "REWORDED " + text.replace(" ", "  "))


def test_rewording_the_english_cannot_change_the_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    cases: list[Problem] = []
    for text in ("1x64 zz", "((1, 64)", "1x0"):
        try:
            parse_conv_arch(text) if text != "1x0" else __import__("vgg_core").ArchSpec(conv_arch=((1, 0),))
        except SpecError as e:
            cases += e.problems
    cases.append(problem("no_gpu", reason=problem("nvml_no_driver")))
    before = [p.render("zh", i18n.CATALOG) for p in cases]
    _reworded(monkeypatch)
    assert all("REWORDED" in str(p) for p in cases)  # the English did change
    assert [p.render("zh", i18n.CATALOG) for p in cases] == before


def test_the_chinese_page_shows_a_reworded_refusal_in_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page, for real: a bad shared link and a bad edit, in Chinese, with the English reworded."""
    _reworded(monkeypatch)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update({"lang": "zh", "arch": "1x64 zz"})
    at.run()
    assert not at.exception
    warning = at.warning[0].value.replace("\\", "")
    assert "第 2 块：'zz' 不是形如 2x256（层数 x 通道数）或 2x256k5（层数 x 通道数 k 卷积核）的写法" in warning and "REWORDED" not in warning
    at.number_input(key="explore_ratio").set_value(99).run()
    error = at.error[0].value.replace("\\", "")
    assert "ratio 必须在 1 到 64 之间，当前为 99" in error and "REWORDED" not in error


def test_a_problem_read_from_disk_is_checked() -> None:
    good = problem("out_of_memory", where="GPU", batch=128, size=224)
    assert Problem.from_dict(good.to_dict()) == good
    for bad in ({"code": "no_such_code"}, {"code": "out_of_memory", "params": {"where": "GPU"}}, "x", None,
                {"code": "no_gpu", "params": {"reason": {"code": "no_gpu", "params": {"reason": {"code": "x"}}}}},
                {"code": "out_of_memory", "params": {"where": [1], "batch": 1, "size": 2}}):
        assert Problem.from_dict(bad) is None, bad
    assert core_locale.LANGUAGES == ("en", "zh")
