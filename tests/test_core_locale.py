"""The core's two catalogs say the same things: the same keys, the same placeholders, and a text for
every refusal code the core raises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vgg_core.locale import CORE, placeholders

CORE_SOURCE = Path(__file__).resolve().parents[1] / "vgg_core"
EN, ZH = CORE.texts["en"], CORE.texts["zh"]


def test_both_languages_have_every_key() -> None:
    assert sorted(set(EN) - set(ZH)) == [] and sorted(set(ZH) - set(EN)) == []


@pytest.mark.parametrize("key", sorted(EN))
def test_same_placeholders(key: str) -> None:
    assert placeholders(EN[key]) == placeholders(ZH[key]), key


def test_every_code_the_core_raises_has_its_text() -> None:
    """``problem("code", ...)`` anywhere in vgg_core names a refusal both files define."""
    codes = {m for path in CORE_SOURCE.rglob("*.py") for m in re.findall(r'problem\(\s*"(\w+)"', path.read_text())}
    assert len(codes) > 50  # the search found the calls: it can fail
    assert sorted(c for c in codes if f"refusal.{c}" not in EN or f"refusal.{c}" not in ZH) == []


def test_chinese_sentences_use_full_width_punctuation() -> None:
    """Inside a Chinese sentence: ，：；（） not , : ; ( ) after a Han character."""
    half = re.compile(r"[\u4e00-\u9fff][,;(]|[\u4e00-\u9fff]: ")
    bad = [k for k, v in ZH.items() if isinstance(v, str) and half.search(v)]
    assert bad == []
