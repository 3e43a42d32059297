"""perfkit.startup: the IRI grammar is compiled on first use, not at import, and the checker still works.

Each check runs in a fresh interpreter: whether the grammar was compiled depends on what the process
imported before.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("rfc3987_syntax")


def _run(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_altair_import_does_not_compile_the_grammar_and_iri_checks_still_work():
    got = _run(
        "import json, sys\n"
        "from perfkit.startup import defer_iri_grammar\n"
        "registered = defer_iri_grammar()\n"
        "import altair, jsonschema\n"
        "compiled_at_import = 'rfc3987_syntax.syntax_helpers' in sys.modules\n"
        "checker = jsonschema.Draft7Validator.FORMAT_CHECKER\n"
        "good = checker.conforms('https://例子.测试/路径?q=1', 'iri')\n"
        "bad = checker.conforms('not an iri', 'iri')\n"
        "print(json.dumps({'registered': registered, 'compiled_at_import': compiled_at_import,\n"
        "  'good': good, 'bad': bad, 'compiled_after': 'rfc3987_syntax.syntax_helpers' in sys.modules}))"
    )
    assert got == {
        "registered": True,
        "compiled_at_import": False,
        "good": True,
        "bad": False,
        "compiled_after": True,
    }


def test_does_nothing_once_the_real_package_is_imported():
    got = _run(
        "import json, rfc3987_syntax\n"
        "from perfkit.startup import defer_iri_grammar\n"
        "print(json.dumps({'registered': defer_iri_grammar(),\n"
        "  'real': hasattr(rfc3987_syntax, 'syntax_parser')}))"
    )
    assert got == {"registered": False, "real": True}


def test_the_real_modules_names_stay_reachable():
    got = _run(
        "import json\n"
        "from perfkit.startup import defer_iri_grammar\n"
        "defer_iri_grammar()\n"
        "import rfc3987_syntax\n"
        "print(json.dumps({'terms': 'iri' in rfc3987_syntax.RFC3987_SYNTAX_TERMS,\n"
        "  'parse': rfc3987_syntax.parse('iri', 'http://a.b/c').data}))"
    )
    assert got == {"terms": True, "parse": "iri"}


def test_the_briefs_kernels_start_without_the_debugger(tmp_path):
    """The runner's kernels start through perfkit.startup: a working kernel, no debugpy or pydevd loaded,
    the grammar deferred, the working folder left off sys.path as ipykernel_launcher leaves it."""
    from perfkit.brief import _Kernel

    kernel = _Kernel(tmp_path, env={})
    kernel.start()
    try:
        found = tmp_path / "found.json"
        kernel.run_code(
            "import json, sys\n"
            f"json.dump({{'debugpy': 'debugpy' in sys.modules and sys.modules['debugpy'] is not None,"
            f" 'pydevd': 'pydevd' in sys.modules, 'deferred': 'rfc3987_syntax.syntax_helpers' not in sys.modules,"
            f" 'argv': sys.argv[0]}}, open({str(found)!r}, 'w'))"
        )
    finally:
        kernel.shutdown()
    got = json.loads(found.read_text())
    assert got["debugpy"] is False and got["pydevd"] is False and got["deferred"] is True
    assert got["argv"].endswith("startup.py")
