"""What an English page may hold in Chinese: the plan's measure names, the names of organisations (units) and
people, all known from the catalogue (and, where a test says so, text the units themselves wrote). Any other
CJK character is a label left untranslated."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

# CJK ideographs and radicals, CJK punctuation (、。「」〔〕), kana, full-width forms (（）：；～，)
CJK = re.compile(r"[\u2e80-\u2fff\u3000-\u303f\u3040-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")
CJK_RUN = re.compile(CJK.pattern + "+")
TRUNCATED_MIN = 4  # charts cut long measure names: a run that starts a known name, this long or longer


def known_names(catalogue, extra: Iterable[str] = ()) -> list[str]:
    """Measure and indicator names (二级指标), reporting and responsible units, lead leaders and persons of
    the plan, longest first (so a name inside a longer one is not stripped first)."""
    names = set(catalogue.measures["name"]) | set(catalogue.measures["reporting_unit"])
    names |= set(catalogue.indicators["text"])
    for col in ("leaders", "units", "persons"):
        for value in catalogue.indicators[col]:
            names |= set(value)
    names |= set(extra)
    return sorted((str(n) for n in names if str(n).strip()), key=len, reverse=True)


def untranslated(text: str, names: list[str]) -> list[str]:
    """Every place in `text` (HTML or a chart's JSON) with CJK outside `names`, with some context; a run
    that starts one of `names` (a chart's cut label) counts as that name."""
    for name in names:
        text = text.replace(name, " ").replace(html.escape(name), " ")
    found = []
    for m in CJK_RUN.finditer(text):
        run = m.group()
        if len(run) >= TRUNCATED_MIN and any(n.startswith(run) for n in names):
            continue
        found.append(text[max(0, m.start() - 40) : m.end() + 40].replace("\n", " "))
    return found
