"""The package's shape: no import cycles, the arrows one way (domain modules never import the report layer),
and every module a snapshot is computed with counted in its code version.

The import graph is read from the source (ast), not by importing, so a cycle hidden inside a function (an
import placed there to dodge the cycle) is found too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from perfkit import monthly

PACKAGE = Path(monthly.__file__).resolve().parent

# Presentation: tables, charts, HTML, files, the runner and the command line. The domain never imports them.
REPORT_LAYER = {
    "perfkit.report",
    "perfkit.markup",
    "perfkit.brief_data",
    "perfkit.document",
    "perfkit.docx_layout",
    "perfkit.unitpage",
    "perfkit.tables",
    "perfkit.charts",
    "perfkit.brief",
    "perfkit.cli",
}
DOMAIN = {
    "perfkit.months",
    "perfkit.catalogue",
    "perfkit.scoring",
    "perfkit.growth",
    "perfkit.investment",
    "perfkit.risks",
    "perfkit.rules",
    "perfkit.monthly",
    "perfkit.workplan",
}
# Modules a snapshot is computed through that only define how input workbooks look (their content is in the
# fingerprint as data) or how errors are worded: editing them need not recompute a month.
NOT_COMPUTING = {
    "perfkit.errors",
    "perfkit.exports",
    "perfkit.forms",
    "perfkit.sheet_style",
    "perfkit.template",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path, known: dict, top_only: bool) -> set[str]:
    """perfkit modules `module` imports (at its top level only, or anywhere in it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in tree.body if top_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                name = f"{target}.{alias.name}"
                found.add(name if name in known else target)
    return {m for m in found if m in known and m != module}


def _graph(top_only: bool) -> dict[str, set[str]]:
    known = _modules()
    return {m: _imports(m, p, known, top_only) for m, p in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for w in graph[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_the_graph_reader_finds_a_cycle_hidden_in_a_function():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [{"a", "b"}]
    tree = _imports("perfkit.risks", PACKAGE / "risks.py", _modules(), top_only=False)
    assert "perfkit.rules" in tree and "perfkit.catalogue" in tree


def test_no_import_cycles_at_module_level():
    assert _cycles(_graph(top_only=True)) == []


def test_no_import_cycles_hidden_in_functions_either():
    assert _cycles(_graph(top_only=False)) == []


def test_the_ledger_format_has_one_home():
    """The ledger (template) reads and writes through perfkit.forms; intake reads through both and neither
    imports intake back."""
    graph = _graph(top_only=False)
    assert "perfkit.forms" in graph["perfkit.template"] and "perfkit.intake" not in graph["perfkit.template"]
    assert "perfkit.intake" not in graph["perfkit.forms"] and "perfkit.template" not in graph["perfkit.forms"]


def test_the_form_registry_is_plain_imports_the_graph_sees():
    """perfkit.form_kinds dispatches to each form's module through imports the ast reader sees (no import
    by name at run time); the format module imports none of the forms and nothing imports by name."""
    graph = _graph(top_only=True)
    forms = {"perfkit.workplan", "perfkit.assessments", "perfkit.selfeval"}
    assert forms <= graph["perfkit.form_kinds"]
    assert not (_closure(graph, "perfkit.forms") & (forms | {"perfkit.form_kinds"}))
    from perfkit import form_kinds

    assert set(form_kinds.FORMS) == {"workplan", "assessment", "selfeval"}
    for path in PACKAGE.rglob("*.py"):
        assert "importlib.import_module(FORMS" not in path.read_text(encoding="utf-8"), path


@pytest.mark.parametrize("module", sorted(DOMAIN))
def test_domain_modules_do_not_import_the_report_layer(module):
    graph = _graph(top_only=True)
    reached = _closure(graph, module) | {module}
    if module == "perfkit.investment":
        reached |= {m for m in graph if m.startswith("perfkit.investment.")}
    assert not (reached & REPORT_LAYER), f"{module} reaches {sorted(reached & REPORT_LAYER)}"


# Modules counted in part: labels' words are rendered when read, but for the ones stored as data
# (labels.STORED, hashed by code_version; tests/test_labels.py shows the rest change no snapshot).
COUNTED_IN_PART = {"perfkit.labels"}


def test_every_module_a_snapshot_is_computed_with_is_in_its_code_version():
    counted = {f"perfkit.{name}" for name in monthly.COMPUTING_MODULES}
    used = _closure(_graph(top_only=True), "perfkit.monthly")
    missing = {m for m in used if m not in counted and m.rsplit(".", 1)[0] not in counted}
    assert missing - NOT_COMPUTING - COUNTED_IN_PART == set()
    assert COUNTED_IN_PART <= used  # still used, or the exception has no reason to stay
