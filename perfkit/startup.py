"""What a perfkit process does before its heavy imports: defer one optional grammar compile; and how the
brief's kernels start (`python -m perfkit.startup -f <connection file>`, `launch_kernel`).

`jsonschema` (imported by altair and by nbformat) registers an "iri" string-format checker when the optional
`rfc3987_syntax` is installed (jupyterlab's dependencies install it), and that package compiles an Earley
grammar for RFC 3987 at import: about 1.7 s of CPU on this machine, paid by the brief runner and again by
every kernel, for a checker that neither altair, nbformat nor perfkit calls (none validates "iri" formats).

`defer_iri_grammar()` registers `rfc3987_syntax` as a thin package whose `is_valid_syntax` imports the real
module on first use, so the checker still works, just compiled when a schema first asks for it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

IRI_PACKAGE = "rfc3987_syntax"
# How the brief's runner starts its kernels, after the kernel spec's Python (launch_kernel: the grammar
# deferred and no debugger, before the kernel's own imports).
KERNEL_LAUNCH = ("-m", "perfkit.startup", "-f", "{connection_file}")


def defer_iri_grammar() -> bool:
    """Make `rfc3987_syntax` compile its grammar on first use; True if the stand-in was registered.

    Does nothing when the package is absent or already imported (then the cost is paid already).
    """
    if IRI_PACKAGE in sys.modules:
        return False
    spec = importlib.util.find_spec(IRI_PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        return False
    stand_in = types.ModuleType(IRI_PACKAGE, "Deferred rfc3987_syntax: the grammar compiles on first use.")
    # The real submodules import each other as rfc3987_syntax.<name>: they are found through this path.
    stand_in.__path__ = list(spec.submodule_search_locations)
    stand_in.__spec__ = spec
    stand_in.__file__ = spec.origin

    def real():
        return importlib.import_module(f"{IRI_PACKAGE}.syntax_helpers")

    def is_valid_syntax(term: str, value: str) -> bool:
        return real().is_valid_syntax(term, value)

    def parse(term: str, value: str):
        return real().parse(term, value)

    def __getattr__(name: str):  # any other public name: load the real module then
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(real(), name)

    stand_in.is_valid_syntax = is_valid_syntax
    stand_in.parse = parse
    stand_in.__getattr__ = __getattr__
    sys.modules[IRI_PACKAGE] = stand_in
    return True


def launch_kernel() -> None:
    """An IPython kernel as ipykernel_launcher starts one, without the debugger: ipykernel imports debugpy
    and pydevd at start when they are installed (0.13 s of CPU a kernel), for a debugger the brief's kernels
    never attach (JupyterLab's kernels, started from the kernel spec, keep it). The grammar is deferred
    before the kernel's imports as in every perfkit process."""
    import os

    sys.modules.setdefault("debugpy", None)  # ipykernel's `import debugpy` fails: no debugger
    defer_iri_grammar()
    # as ipykernel_launcher: the working folder leaves sys.path while the kernel loads (it puts it back)
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    launch_kernel()
