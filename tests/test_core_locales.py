"""The core's two catalogs: every key in both, the same placeholders, every code the core raises defined."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from vgg_core.locale import CORE_LOCALES, placeholders

CORE = Path(__file__).resolve().parents[1] / "vgg_core"


def load(lang: str) -> dict:
    with open(CORE_LOCALES / f"{lang}.toml", "rb") as f:
        return tomllib.load(f)


def test_both_languages_have_the_same_keys_and_placeholders():
    en, zh = load("en"), load("zh")
    assert sorted(set(en) ^ set(zh)) == []
    assert [k for k in en if placeholders(en[k]) != placeholders(zh[k])] == []


def test_every_problem_code_in_the_core_has_its_sentence():
    """A code used on a path no test reaches would only fail when a user meets it: found here by reading the source."""
    en = load("en")
    codes = {m for path in CORE.rglob("*.py") for m in re.findall(r'problem\(\s*"(\w+)"', path.read_text())}
    assert len(codes) > 50  # the scan finds the codes (a broken pattern would pass with none)
    assert sorted(c for c in codes if f"refusal.{c}" not in en) == []


def test_new_chinese_sentences_keep_the_style():
    """Full-width punctuation inside Chinese, never ASCII ',' ':' ';' right after a Chinese character."""
    zh = load("zh")
    keys = [k for k in zh if k.startswith(("refusal.vary", "refusal.sweep", "refusal.resume", "refusal.queue",
                                           "refusal.run_not", "refusal.run_queued", "refusal.checkpoint",
                                           "refusal.text_invalid"))]
    assert len(keys) > 20
    for key in keys:
        assert not re.search(r"[\u4e00-\u9fff][,:;()]", zh[key]), key
        assert not re.search(r"[\u4e00-\u9fff][A-Za-z0-9{]|[A-Za-z0-9}][\u4e00-\u9fff]", zh[key]), key
