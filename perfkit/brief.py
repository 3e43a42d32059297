"""The brief runner: execute the analysis notebooks with papermill, then export the leaders' HTML brief.

One command goes from the store to `outputs/<as-of>/`: the notebooks listed in plan.toml [brief] run with
their parameters injected (executed copies are kept for analysts under `notebooks/`), and `brief.html` is
exported from the brief notebook without code. Everything is built in a temporary sibling folder whose files
are published into the month's folder only after every notebook succeeded; a failed run keeps its partly
executed copies in `<out>.failed/` and leaves the earlier folder as it was. The languages sit side by side
in one folder: Chinese files keep their plain names, the English ones carry `.en` before the extension
(`brief.en.html`, `risk_flags.en.xlsx`, `notebooks/risks.en.ipynb`; `lang_name`), and publishing one
language replaces that language's files, each atomically, without touching the other's. The build folder is locked while its run
lives, so a later run removes the folders of runs that were killed (`remove_stale_builds`) and never one
still being built.

The month is computed once: the runner brings the month's snapshot (perfkit.monthly) up to date in its own
process while the kernels start, and the notebooks only read it. A folder records what it was built from
(`.brief.json`, `.brief.en.json`: one per language); when the snapshot, kind, language and notebooks are
the same and its files are all there, nothing runs.

Speed: a kernel start plus the pandas/statsmodels/altair imports costs seconds per notebook. The runner
starts one kernel per worker (plan.toml [brief] workers) and runs notebooks one after another in it,
clearing the user namespace between them so none can lean on another's variables; imports stay loaded.
Kernels skip an unused grammar compile and the debugger's imports (perfkit.startup), and the reset between
notebooks uses a shell-only client (no 0.25 s readiness wait). The notebooks get the snapshot's fingerprint
(`fingerprint`), so none hashes the store's inputs again; page exports run beside the kernels, not between
their notebooks; kernels are killed and waited for directly (jupyter_client polls every 0.1 s). Figures:
benchmarks/README.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import chart_fonts
from .config import NOTEBOOKS_DIR, SINGLE_THREAD_ENV, db_path, outputs_dir
from .errors import InputError, Problem
from .exports import (
    DISK_FULL,
    DISK_FULL_ERRNOS,
    OutputError,
    check_folder,
    check_writable,
    disk_full,
    folder_problem,
)
from .lab import KERNEL_NAME, ensure_kernel
from .startup import KERNEL_LAUNCH, defer_iri_grammar

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
KERNEL = KERNEL_NAME
# Hand runs (out_dir left empty) write here, under the outputs folder; only the brief publishes a month.
SCRATCH = "scratch"
# The brief's kernels draw static charts (perfkit.charts): the HTML and the kept copies need no trust.
KERNEL_ENV = {"PERFKIT_CHARTS": "static"}
CHART_CACHE_ENV = "PERFKIT_CHART_CACHE"  # perfkit.charts.CACHE_ENV (charts is not imported here: altair)
_BUILDING = re.compile(r"^\..+\.building-")
_OUT_DIR_LINE = re.compile(r"^out_dir = .*$", re.MULTILINE)
_FINGERPRINT_LINE = re.compile(r"^fingerprint = .*$", re.MULTILINE)
# Imported in each kernel while the parent process is still loading papermill and computing the month's
# snapshot: the slow imports overlap. The notebooks only read the snapshot, so nothing here pulls in
# statsmodels or scipy.
PRELOAD = (
    "pandas",
    "numpy",
    "altair",
    "vl_convert",
    "perfkit.scoring",
    "perfkit.charts",
    "perfkit.monthly",
    "perfkit.report",
    "perfkit.tables",
)
# The first chart a kernel draws starts vl-convert's JavaScript engine and its PNG renderer (0.3 s): started
# with the kernel, while it waits for the snapshot, rather than inside the first notebook.
WARM_UP = "import vl_convert as _vlc\n_vlc.svg_to_png(_vlc.vegalite_to_svg({'mark': 'point'}))\ndel _vlc"
# What each kernel runs once started, before its first notebook (the grammar is deferred already: launched
# through perfkit.startup, KERNEL_LAUNCH); the imports' objects are frozen: never garbage, never walked again
# by a collection (RESET).
KERNEL_SETUP = (
    f"import importlib\nfor _m in {PRELOAD!r}: importlib.import_module(_m)\n"
    + WARM_UP
    + "\nimport gc\ngc.freeze()"
)
# Clears the user namespace (modules stay imported) and restarts the cell counter, so the next notebook
# sees a fresh session: In [1] again, and none of the previous notebook's variables. The reset ends in a full
# garbage collection, which walked every object of pandas, altair and statsmodels (0.4-0.9 s a notebook on
# this machine, paid 23 times with the unit pages); what is left after it is the modules' own state, so it
# is frozen (gc.freeze: kept out of later collections) and the next reset walks only the next notebook's
# objects (0.01 s).
RESET = "get_ipython().reset(new_session=True, aggressive=False); __import__('gc').freeze()"


class BriefError(Exception):
    """A brief run failed; the message names the notebook and cell and where the partial copy is."""


class DiskFull(str):
    """A run's failure message whose cause is a full disk (or a quota or file-size limit): not a notebook's
    fault, so it is an OutputError (exit 2) and the partial copies are removed, not kept on the full disk."""


def _failure(message: str, exc: BaseException | None = None, ename: str = "", evalue: str = "") -> str:
    """`message`, marked DiskFull when the exception (or a kernel's error name and value) says the disk is
    full: ENOSPC, EDQUOT or EFBIG here, or in a notebook's OSError or OutputError."""
    full = exc is not None and (disk_full(exc) or (isinstance(exc, OutputError) and DISK_FULL in str(exc)))
    full = full or (ename in ("OSError", "OutputError") and any(w in evalue for w in DISK_FULL_WORDS))
    return DiskFull(message) if full else message


# how a kernel's OSError or OutputError (seen only as its name and text) says the disk is full
DISK_FULL_WORDS = (DISK_FULL, *(f"[Errno {n}]" for n in DISK_FULL_ERRNOS))


@dataclass(frozen=True)
class NotebookJob:
    file: str  # relative to the notebooks folder
    writes: tuple[str, ...] = ()
    unit: str = ""  # a unit page: the notebook runs with this `unit` and exports `html`
    html: str = ""  # relative to the build folder (units/<name>.html)

    @property
    def name(self) -> str:
        """How the run names it (`unit.ipynb [市道管处]`)."""
        return f"{self.file} [{self.unit}]" if self.unit else self.file

    @property
    def copy(self) -> str:
        """Its executed copy, relative to the build folder's notebooks/."""
        return str(Path(self.html).with_suffix(".ipynb")) if self.unit else Path(self.file).name


@dataclass
class BriefRun:
    out: Path
    as_of: str
    kind: str
    lang: str
    sample: bool
    seconds: dict[str, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    up_to_date: bool = False  # the folder was already built from the same snapshot: nothing ran
    warnings: list[str] = field(default_factory=list)  # e.g. no browser for --pdf (the HTML was written)
    pages: dict[str, str] = field(default_factory=dict)  # unit → its page, relative to `out`

    @property
    def html(self) -> Path:
        """The brief page of this run's language (brief.html, brief.en.html)."""
        return self.out / lang_name("brief.html", self.lang)


# ---------------------------------------------------------------------------------------- languages

LANGS = ("zh", "en")


def lang_suffix(lang: str) -> str:
    """What a file of `lang` carries before its extension: nothing for Chinese (the bureau's language keeps
    the plain names), `.en` for English. The one place files are named by language."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}: expected one of {', '.join(LANGS)}")
    return "" if lang == "zh" else f".{lang}"


def lang_name(name: str | os.PathLike, lang: str) -> str:
    """A file's name for `lang`: 'brief.html' → 'brief.en.html', 'notebooks/risks.ipynb' →
    'notebooks/risks.en.ipynb', 'units/市道管处.html' → 'units/市道管处.en.html' (relative paths, '/')."""
    path = PurePosixPath(Path(name).as_posix())
    suffix = lang_suffix(lang)
    return str(path.with_name(f"{path.stem}{suffix}{path.suffix}")) if suffix else str(path)


def file_lang(name: str | os.PathLike) -> str:
    """The language a published file belongs to, from its name (see `lang_name`)."""
    stem = PurePosixPath(Path(name).as_posix()).stem
    return next((lang for lang in LANGS if lang != "zh" and stem.endswith(lang_suffix(lang))), "zh")


# ----------------------------------------------------------------------------------------- settings


def settings(plan: dict | None = None) -> dict:
    """plan.toml [brief] with defaults filled in."""
    if plan is None:
        from .catalogue import load_plan

        plan = load_plan()
    cfg = dict(plan.get("brief", {}))
    cfg.setdefault("workers", 2)
    cfg.setdefault("html_from", "brief.ipynb")
    cfg.setdefault("unit_notebook", "unit.ipynb")  # run once per reporting unit (monthly kind)
    cfg.setdefault("cell_timeout_s", 600)
    cfg.setdefault("notebooks", [{"file": "scores.ipynb", "writes": ["scores.csv"]}, {"file": "brief.ipynb"}])
    return cfg


def notebook_jobs(cfg: dict) -> list[NotebookJob]:
    return [NotebookJob(str(n["file"]), tuple(n.get("writes", ()))) for n in cfg["notebooks"]]


def default_out_dir(as_of: str, kind: str = "monthly") -> Path:
    """outputs/<as-of>/ for the monthly brief, outputs/<as-of>-<kind>/ for the others."""
    return outputs_dir() / (as_of if kind == "monthly" else f"{as_of}-{kind}")


def scratch_dir(as_of: str, kind: str = "monthly") -> Path:
    """outputs/scratch/<as-of>[-<kind>]/: where a notebook run by hand writes."""
    return outputs_dir() / SCRATCH / default_out_dir(as_of, kind).name


def is_published(path: str | os.PathLike) -> bool:
    """True for a month's folder under outputs/ (anything there but scratch/ and the runner's hidden
    build folders): only `perfkit brief` writes those."""
    root = outputs_dir().resolve()
    try:
        parts = Path(path).resolve().relative_to(root).parts
    except ValueError:
        return False
    return bool(parts) and parts[0] != SCRATCH and not parts[0].startswith(".")


def output_dir(as_of: str, out_dir: str = "", kind: str = "monthly") -> Path:
    """The folder a notebook writes into, created if missing.

    Empty `out_dir` (a run by hand) gives the scratch folder; the brief runner passes its build folder. A
    build folder that is gone (a kept copy of an earlier brief run again) is not re-created: the scratch
    folder is used. A published month folder is refused, so a hand run never changes what was published.
    """
    path = Path(out_dir) if out_dir else scratch_dir(as_of, kind)
    if out_dir and _BUILDING.match(path.name) and not path.exists():
        path = scratch_dir(as_of, kind)
    if is_published(path):
        raise InputError(
            Problem(
                str(path), "published by `perfkit brief`; leave out_dir empty to write to outputs/scratch/"
            )
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


# ------------------------------------------------------------------------------------------ kernels


def _ready_client_class():
    """The client papermill gets for this runner's kernels (`_ReadyClient`), made on first use: jupyter_client
    is imported with the kernels, not with this module."""
    from jupyter_client.asynchronous import AsyncKernelClient

    class _ReadyClient(AsyncKernelClient):
        """Ready once a kernel_info request is answered on the shell channel and the kernel's status for it
        reaches the output channel (a new client's output subscription is live, so no cell output is lost).
        jupyter_client's own check then waits for 0.2 s of silence on the output channel: 0.2 s before every
        notebook, 3.6 s over a brief's 18 unit pages. Nothing stale can pass for a cell's output without it:
        nbclient keeps only the messages answering the request it sent."""

        async def wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.monotonic() + (timeout if timeout is not None else 60)
            while True:
                msg_id = self.kernel_info()
                try:
                    while True:
                        reply = await self.shell_channel.get_msg(timeout=1)
                        if reply["parent_header"].get("msg_id") == msg_id:
                            break
                    await self.iopub_channel.get_msg(timeout=0.2)  # the output channel is connected
                    return
                except queue.Empty:
                    pass
                if not await self._async_is_alive():
                    raise RuntimeError("the kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the kernel did not reply in {timeout} s")

    return _ReadyClient


class _Kernel:
    """One warm kernel in its worker thread (jupyter_client's async objects belong to that thread's loop)."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None):
        from jupyter_client.manager import AsyncKernelManager

        # IPC sockets in a private folder: local only, no TCP ports (and no plain-TCP warning from
        # ipykernel). Unix socket paths are short-limited, hence the system temp folder.
        self.sockets = Path(tempfile.mkdtemp(prefix="perfkit-kernel-"))
        self.km = AsyncKernelManager(kernel_name=KERNEL, transport="ipc", ip=str(self.sockets / "k"))
        self.km.client_factory = _ready_client_class()
        self.cwd = cwd
        self.env = KERNEL_ENV if env is None else env  # the brief's kernels: static charts

    def start(self) -> None:
        from jupyter_core.utils import run_sync

        # nbclient does the same for kernels it starts: no history database written per run.
        # One BLAS thread per kernel: the parallelism is across notebooks, and OpenBLAS threads that
        # spin-wait on a core another kernel needs made a brief 6× slower on this 2-core machine.
        env = {**os.environ, **SINGLE_THREAD_ENV, **self.env}
        # the kernel spec's Python, started through perfkit.startup: no debugger loaded (0.13 s of CPU)
        spec = self.km.kernel_spec
        spec.argv = [spec.argv[0], *KERNEL_LAUNCH]
        run_sync(self.km.start_kernel)(
            cwd=str(self.cwd), env=env, extra_arguments=["--HistoryManager.hist_file=:memory:"]
        )
        run_sync(self._wait_for_ready)(120)

    async def _wait_for_ready(self, timeout: float) -> None:
        kc = self.km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=timeout)
        finally:
            kc.stop_channels()

    def run_code(self, code: str, timeout: float = 120) -> None:
        from jupyter_core.utils import run_sync

        run_sync(self._run_code)(code, timeout)

    async def _run_code(self, code: str, timeout: float) -> None:
        # A shell-only blocking client per call (the kernel is known to be ready since start()): a full
        # client waits ~0.25 s for the kernel's output channel to be quiet, which was paid before every
        # notebook; the shell reply says when the code has run. (A client kept open across papermill's
        # runs stopped receiving replies, hence one per call.)
        from jupyter_client.blocking import BlockingKernelClient

        kc = BlockingKernelClient(**self.km.get_connection_info(session=True))
        kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        try:
            msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    reply = kc.get_shell_msg(timeout=1)
                except queue.Empty:
                    # a kernel that died (e.g. between notebooks) is reported now, not after the timeout
                    if not await self.km.is_alive():
                        raise RuntimeError("the kernel died") from None
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"no reply from the kernel in {timeout:.0f} s") from None
                    continue
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
        finally:
            kc.stop_channels()
        content = reply["content"]
        if content["status"] != "ok":
            raise RuntimeError(f"kernel setup failed: {content.get('ename')}: {content.get('evalue')}")

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        try:
            # Killed and waited for here first: jupyter_client's own wait polls every 0.1 s and the kernel is
            # never gone at its first look, so each brief ended 0.1 s after its last notebook for nothing.
            process = getattr(self.km.provisioner, "process", None)
            if process is not None:
                run_sync(self.km.provisioner.kill)()
                process.wait(timeout=5)
        except Exception:  # noqa: BLE001 - gone already, or not killed in time: shutdown_kernel sees to it
            pass
        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - the kernel may already be gone; nothing else to do
            pass
        shutil.rmtree(self.sockets, ignore_errors=True)


def _cell_label(nb, exc) -> str:
    """'cell 3 (In [3]): `first line of code`', numbered as in the source notebook: papermill's injected
    parameters cell and the error banner it adds on failure are not counted."""
    tags = lambda c: c.get("metadata", {}).get("tags", [])  # noqa: E731
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in tags(c)]
    injected = sum(1 for c in cells[: exc.cell_index] if "injected-parameters" in tags(c))
    first = next((ln for ln in str(exc.source).splitlines() if ln.strip()), "")
    return f"cell {exc.cell_index - injected + 1} (In [{exc.exec_count}]): `{first.strip()[:80]}`"


# ------------------------------------------------------------------------------------------- runner


def run_brief(
    as_of: str | None = None,
    *,
    kind: str = "monthly",
    lang: str = "zh",
    out: str | os.PathLike | None = None,
    db: str | os.PathLike | None = None,
    notebooks: list[NotebookJob] | None = None,
    notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR,
    workers: int | None = None,
    echo: Callable[[str], None] | None = None,
    force: bool = False,
    units: bool | None = None,
    unit: str | None = None,
    pdf: bool = False,
    docx: bool = False,
) -> BriefRun:
    """Run the notebooks into a fresh folder and swap it into place; returns what was built.

    The month's snapshot (perfkit.monthly) is brought up to date first, in this process, while the kernels
    start; the notebooks read it. When the folder was built from the same snapshot, kind, language and
    notebooks, nothing runs (`force` rebuilds anyway): a second brief with no new data fits no model.

    `as_of` defaults to the store's latest month with data, `out` to outputs/<as-of>[-<kind>]/. `kind` and
    `lang` are passed to the notebooks, which check them (a notebook run by hand in JupyterLab takes the
    same values). Raises BriefError naming the notebook and cell when one fails.

    Unit pages: `units` (default: the monthly kind with the plan's notebooks) runs plan.toml [brief]
    unit_notebook once per reporting unit after the others, in the same warm kernels, into
    `units/<unit>.html`, listed in the brief. `unit` builds that one page only, into a copy of the month's
    folder (InputError naming the known units for an unknown one). `pdf` prints the brief and the unit pages
    to A4 PDF with headless Chromium (perfkit.pdf); without a browser the HTML is still written and
    `run.warnings` says how to install one. outputs/index.html is rebuilt after every run (perfkit.index).

    The quarterly and annual kinds also write their Word document (perfkit.document: quarterly.docx,
    annual.docx); `docx` asks for the monthly one too.
    """
    started = time.perf_counter()
    try:
        ensure_kernel()  # the notebooks' kernel, registered in this environment (perfkit.lab)
    except OSError as exc:
        raise BriefError(f"cannot register the {KERNEL} kernel: {exc}; run `make venv`") from None
    defer_iri_grammar()  # before papermill/nbformat import jsonschema (see perfkit.startup)
    say = echo or (lambda line: print(line, flush=True))

    def echo(line: str) -> None:
        say(f"[{time.perf_counter() - started:5.1f} s] {line}")

    from . import unitpage
    from .catalogue import english_names
    from .months import resolve_as_of
    from .store import is_sample, open_store, plan_dir, read_catalogue, read_plan

    store = db_path(db).resolve()
    conn = open_store(store)
    try:
        as_of = str(resolve_as_of(conn, as_of))  # a wrong month stops here, before any kernel starts
        sample = is_sample(conn)
        plan = read_plan(conn)  # the store's plan, as the notebooks read it (checked when read)
        plan_folder = plan_dir(conn)
        # English measure names are presentation, not in the snapshot: a changed name rebuilds the English brief
        names_en = english_names(plan_folder / str(plan["plan"].get("measures", "measures.csv")))
        unit_names = unitpage.reporting_units(read_catalogue(conn))
    finally:
        conn.close()
    cfg = settings(plan)
    jobs = list(notebooks if notebooks is not None else notebook_jobs(cfg))
    # names from every unit: one page's name never depends on which pages ran
    # built under the plain names; published under the language's (lang_name), as every file is
    pages = unitpage.file_names(unit_names)
    if unit is not None:
        pages = {unitpage.check_unit(unit_names, unit): pages[unit]}
        jobs = []
    elif not (units if units is not None else (kind == "monthly" and notebooks is None)):
        pages = {}
    jobs += [NotebookJob(str(cfg["unit_notebook"]), unit=u, html=path) for u, path in pages.items()]
    notebooks_dir = Path(notebooks_dir).resolve()
    missing = [j.file for j in jobs if not (notebooks_dir / j.file).exists()]
    if missing:
        raise BriefError(f"notebook(s) not found in {notebooks_dir}: {', '.join(missing)}")

    final = Path(out).resolve() if out else default_out_dir(as_of, kind).resolve()
    stamp = {
        "as_of": as_of,
        "kind": kind,
        "lang": lang,
        "notebooks": _notebooks_version(jobs, notebooks_dir, cfg),
        "code": package_version(),
    } | ({"pdf": True} if pdf else {})
    if lang != "zh":
        stamp["names_en"] = hashlib.sha256(json.dumps(names_en, sort_keys=True).encode()).hexdigest()[:16]
    documents = _documents(kind, lang, docx)
    if documents:  # a folder built without its Word document is not up to date
        stamp["documents"] = documents

    params: dict = {}  # the notebooks' parameters (filled below; `fingerprint` by prepare)

    def prepare() -> dict:
        """The month's snapshots brought up to date in this process (the notebooks only read them)."""
        from . import monthly  # imported here, while the kernels start (perfkit.monthly pulls in the domain)

        with closing(open_store(store)) as c:
            done = monthly.ensure(c, as_of)
        if done.computed:
            reused = [p for p in monthly.KEPT_PARTS if p not in done.kept_computed]
            echo(
                f"  snapshot computed for {', '.join(done.computed)}"
                + (f" (reused, inputs unchanged: {', '.join(reused)})" if reused else "")
            )
        # the notebooks read the snapshot made current here: no notebook hashes the store's inputs again, and
        # all read the one the folder's stamp records (monthly.ensure's `fingerprint`)
        params["fingerprint"] = done.fingerprint
        return {**stamp, "snapshot": done.fingerprint}

    if not force and unit is None and final.exists():
        current = prepare()
        if _is_current(final, lang, current):
            run = BriefRun(out=final, as_of=as_of, kind=kind, lang=lang, sample=sample, up_to_date=True)
            run.files = _files(final, lang)
            _rebuild_index(final, run, echo)
            echo(f"{final} is up to date (no new data, same plan, code and notebooks): nothing to run")
            run.seconds["total"] = time.perf_counter() - started
            return run
        prepare = lambda: current  # noqa: E731 - already brought up to date above
    if final.exists() and not final.is_dir():
        raise OutputError(Problem(str(final), "is a file, not a folder for the brief"))
    if final.is_dir():  # read-only: refused before any kernel starts (it failed after them all, exit 1)
        check_folder(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        removed = remove_stale_builds(final)
        build, lock = _claim_build(final)
    except OSError as exc:  # before any kernel starts: one line naming the folder, not a build folder
        # a file where a folder above it should be ($PERFKIT_OUTPUTS=/dev/null, --out store.sqlite/x) is
        # named, as ingest --archive names it ('cannot write the brief there: File exists' before)
        in_the_way = isinstance(exc, FileExistsError | NotADirectoryError) and folder_problem(
            final, named=True
        )
        reason = in_the_way or f"cannot write the brief there: {exc.strerror or exc}"
        raise OutputError(Problem(str(final), reason)) from None
    if removed:
        echo(
            f"removed {len(removed)} build folder(s) left by killed runs: {', '.join(p.name for p in removed)}"
        )
    try:
        (build / "notebooks").mkdir(exist_ok=True)
        params.update(as_of=as_of, db=str(store), out_dir=str(build), lang=lang, kind=kind)
        echo(
            f"brief {kind} as of {as_of} ({lang}) from {store}"
            + (" [synthetic sample data]" if sample else "")
            + f": {len(jobs) - len(pages)} notebooks"
            + (f" and {len(pages)} unit page(s)" if pages else "")
            + f" on {min(workers or cfg['workers'], len(jobs))} kernel(s)"
        )

        # papermill warns about parameters a notebook does not declare: every notebook gets all of them
        # (so one whose parameters cell it cannot parse still writes into the build folder), which is fine.
        logging.getLogger("papermill").setLevel(logging.ERROR)
        published = {u: lang_name(path, lang) for u, path in pages.items()}
        run = BriefRun(out=final, as_of=as_of, kind=kind, lang=lang, sample=sample, pages=published)
        html_meta = {"as_of": as_of, "kind": kind, "lang": lang, "sample": sample, "plan": plan}
        unit_links = unitpage.links(published) if unit is None else []
        prepared: dict = {}
        # one chart cache for this run's kernels (perfkit.charts.CACHE_ENV), removed with the run
        chart_cache = tempfile.mkdtemp(prefix="perfkit-charts-")
        try:
            failure = _execute_all(
                jobs,
                notebooks_dir,
                build,
                params,
                workers=min(workers or int(cfg["workers"]), len(jobs)),
                timeout=float(cfg["cell_timeout_s"]),
                html_from=str(cfg["html_from"]),
                html_meta=html_meta,
                unit_links=unit_links,
                run=run,
                echo=echo,
                prepare=lambda: prepared.update(prepare()),
                # the measuring font for the plan's texts (perfkit.chart_fonts): charts drawn several times faster
                kernel_env=KERNEL_ENV
                | {CHART_CACHE_ENV: chart_cache}
                | chart_fonts.kernel_env(plan_folder, chart_cache),
            )
        except KeyboardInterrupt:
            # kernels notice their parent is gone and exit; what ran so far is kept for a look
            echo(f"interrupted; partly executed copies kept in {_keep_failed(build, final)}")
            raise
        finally:
            shutil.rmtree(chart_cache, ignore_errors=True)
        if failure is None:
            failure = _missing_outputs(jobs, build, str(cfg["html_from"]))
        if failure is None and documents and unit is None:
            failure = _write_documents(store, as_of, kind, lang, build, run, echo)
        if isinstance(failure, DiskFull):
            # copies kept on a full disk would only keep it full: the month's folder is as it was
            shutil.rmtree(build, ignore_errors=True)
            left = f"; {final} was left as it was" if final.exists() else ""
            raise OutputError(
                Problem(
                    str(final), f"{DISK_FULL} (or a file-size limit was reached): nothing published{left}"
                )
            )
        if failure is not None:
            kept = _keep_failed(build, final)
            raise BriefError(
                failure
                + f"\npartly executed copies kept in {kept}"
                + (f"\n{final} was left as it was" if final.exists() else "")
            )
        if pdf:
            html = [] if unit is not None else ["brief.html"]
            if not _print_pdfs(build, html + [j.html for j in jobs if j.html], run, echo):
                # a folder without its PDFs is not up to date for the next --pdf (it said so, and never printed)
                prepared = {k: v for k, v in prepared.items() if k != "pdf"}
        if unit is None:
            _write_stamp(build, prepared)
        # one unit's page (--unit) replaces that page only: the month's other files and its record stay
        try:
            run.files = _publish(build, final, lang, partial=unit is not None)
        except OutputError as exc:  # nothing was replaced: the new files wait in <out>.failed/
            kept = _keep_failed(build, final)
            raise OutputError(
                [Problem(p.file, f"{p.reason}; the new brief is in {kept}") for p in exc.problems]
            ) from None
        if unit is None:
            _remove_superseded_failure(final, echo)
        _rebuild_index(final, run, echo)
        run.seconds["total"] = time.perf_counter() - started
        echo(f"wrote {final} ({len(run.files)} files) in {run.seconds['total']:.1f} s")
        return run
    finally:
        _release(lock)


def _execute_all(
    jobs: list[NotebookJob],
    notebooks_dir: Path,
    build: Path,
    params: dict,
    *,
    workers: int,
    timeout: float,
    html_from: str,
    html_meta: dict,
    run: BriefRun,
    echo: Callable[[str], None],
    prepare: Callable[[], None] = lambda: None,
    unit_links: list[dict] | None = None,
    kernel_env: dict[str, str] | None = None,
) -> str | None:
    """Run `jobs` in order on `workers` warm kernels; returns a failure message or None.

    `prepare` runs in this thread while the kernels start (the month's snapshot); no notebook starts
    before it has finished, so the notebooks read what it computed instead of computing it again. A
    notebook's page export and its copy's hand-run parameters are done on a thread of their own, so its
    kernel takes the next notebook at once (a page export is 0.05-0.1 s of CPU, 18 times with the unit
    pages); all are done, or the first failure recorded, before this returns."""
    ready = threading.Event()
    pending: queue.Queue[NotebookJob] = queue.Queue()
    for job in jobs:
        pending.put(job)
    stop = threading.Event()
    failures: list[str] = []
    lock = threading.Lock()
    total = len(jobs)
    done = [0]
    from concurrent.futures import ThreadPoolExecutor

    finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brief-export")

    def finish(job: NotebookJob, dst: Path, seconds: float) -> None:
        try:
            if stop.is_set():
                return
            if job.unit:
                page = unit_chrome(html_meta, job.unit)
                export_html(dst, build / job.html, **html_meta, chrome=page)
            elif job.file == html_from:
                export_html(dst, build / "brief.html", **html_meta, units=unit_links)
            _hand_run_parameters(dst)
        except Exception as exc:  # noqa: BLE001 - a failed export stops the run with the notebook's name
            with lock:
                failures.append(_failure(f"notebook {job.name} failed: {type(exc).__name__}: {exc}", exc))
            stop.set()
            return
        with lock:
            done[0] += 1
            run.seconds[job.name] = seconds
            echo(f"  done {job.name} in {seconds:.1f} s ({done[0]}/{total})")

    def work() -> None:
        kernel = None
        job = None
        try:
            kernel = _Kernel(notebooks_dir, kernel_env)
            kernel.start()
            kernel.run_code(KERNEL_SETUP)
            import papermill as pm

            ready.wait()
            while not stop.is_set():
                try:
                    job = pending.get_nowait()
                except queue.Empty:
                    return
                src = notebooks_dir / job.file
                dst = build / "notebooks" / job.copy
                dst.parent.mkdir(parents=True, exist_ok=True)
                kernel.run_code(RESET)
                echo(f"  run  {job.name}")
                t0 = time.perf_counter()
                try:
                    pm.execute_notebook(
                        str(src),
                        str(dst),
                        parameters=params | ({"unit": job.unit} if job.unit else {}),
                        km=kernel.km,
                        kernel_name=KERNEL,
                        progress_bar=False,
                        execution_timeout=timeout,
                        # written once at the end (and on failure), not after every cell: 0.25 s a unit page
                        request_save_on_cell_execute=False,
                    )
                except pm.PapermillExecutionError as exc:
                    import nbformat

                    where = _cell_label(nbformat.read(dst, as_version=4), exc)
                    message = f"notebook {job.name} failed at {where}: {exc.ename}: {exc.evalue}"
                    with lock:
                        failures.append(_failure(message, ename=exc.ename, evalue=str(exc.evalue)))
                    stop.set()
                    return
                finisher.submit(finish, job, dst, time.perf_counter() - t0)
                job = None
        except Exception as exc:  # noqa: BLE001 - any failure (dead kernel, export) stops the run with its name
            with lock:
                name = job.name if job else "kernel start"
                failures.append(_failure(f"notebook {name} failed: {type(exc).__name__}: {exc}", exc))
            stop.set()
        finally:
            if kernel is not None:
                kernel.shutdown()

    threads = [threading.Thread(target=work, name=f"brief-kernel-{i}", daemon=True) for i in range(workers)]
    for th in threads:
        th.start()
    try:
        prepare()
    except BaseException as exc:
        stop.set()
        if not isinstance(exc, Exception):
            raise
        with lock:
            failures.append(f"the month's snapshot failed: {type(exc).__name__}: {exc}")
    finally:
        ready.set()
    try:
        while any(th.is_alive() for th in threads):
            for th in threads:
                th.join(timeout=0.2)  # short waits keep Ctrl-C responsive
    finally:
        # the exports in hand finish (a fraction of a second) before the build folder is published or kept
        finisher.shutdown(wait=True, cancel_futures=True)
    return failures[0] if failures else None


def unit_chrome(html_meta: dict, unit: str) -> dict:
    """The page chrome of a unit page (the brief's, titled for the unit: perfkit.unitpage.chrome)."""
    from .unitpage import chrome

    m = html_meta
    return chrome(m["plan"], m["as_of"], unit, lang=m["lang"], sample=m["sample"])


def _print_pdfs(build: Path, pages: list[str], run: BriefRun, echo: Callable[[str], None]) -> bool:
    """Each page printed to an A4 PDF beside it; no browser or a failed print is a warning (run.warnings),
    the HTML is published all the same (False)."""
    from .pdf import PdfError, print_pdfs

    t0 = time.perf_counter()
    try:
        written = print_pdfs([build / p for p in pages if (build / p).exists()])
    except PdfError as exc:
        run.warnings.append(f"PDF not written: {exc}")
        echo(f"PDF not written: {exc}")
        return False
    run.seconds["pdf"] = time.perf_counter() - t0
    echo(f"  printed {len(written)} PDF(s) in {run.seconds['pdf']:.1f} s")
    return True


# A brief's folder under outputs/: YYYY-MM, YYYY-MM-quarterly, YYYY-MM-annual
MONTH_FOLDER = re.compile(r"^\d{4}-\d{2}(?:-[a-z]+)?$")


def _rebuild_index(final: Path, run: BriefRun, echo: Callable[[str], None]) -> None:
    """outputs/index.html rebuilt beside a brief's month folder (not for a brief written elsewhere);
    a failure to write it is a warning, never a failed brief."""
    from .index import write_index

    if not MONTH_FOLDER.match(final.name):
        return
    try:
        path = write_index(final.parent)
    except (OSError, InputError) as exc:  # exports.OutputError: cannot be written there
        run.warnings.append(f"index not rebuilt: {exc}")
        echo(f"index not rebuilt: {exc}")
        return
    echo(f"  index {path}")


def _documents(kind: str, lang: str, docx: bool) -> list[str]:
    from .document import KINDS, file_name

    return [file_name(kind, lang)] if docx or kind in KINDS else []


def _write_documents(
    store: Path, as_of: str, kind: str, lang: str, build: Path, run: BriefRun, echo: Callable[[str], None]
) -> str | None:
    """The Word document of the brief's kind, from the snapshot the notebooks read; a failure message or None."""
    from .document import file_name, write_document
    from .store import open_store

    t0 = time.perf_counter()
    name = file_name(kind, lang)
    try:
        with closing(open_store(store)) as conn:
            # built under the plain name, published under the language's (lang_name), as every file is
            write_document(conn, as_of, kind, lang, build / file_name(kind))
    except Exception as exc:  # noqa: BLE001 - named like a notebook's failure; the build is kept for a look
        return _failure(f"the Word document {name} failed: {type(exc).__name__}: {exc}", exc)
    run.seconds[name] = time.perf_counter() - t0
    echo(f"  wrote {name} in {run.seconds[name]:.1f} s")
    return None


STAMP_FILE = ".brief.json"  # what the folder was built from (hidden: not one of the brief's files)


PACKAGE_DIR = Path(__file__).resolve().parent


def package_version(root: Path = PACKAGE_DIR) -> str:
    """Every file of the package, the report layer's too: the snapshot's fingerprint covers only the modules
    that compute, so a perfkit that prints, rounds or words the month differently would otherwise call the
    folder built by the one before it up to date and leave leaders the old pages (~3 ms)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _notebooks_version(jobs: list[NotebookJob], notebooks_dir: Path, cfg: dict) -> str:
    h = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode())
    for file in dict.fromkeys(job.file for job in jobs):
        h.update(file.encode())
        h.update((notebooks_dir / file).read_bytes())
    for job in jobs:
        h.update(job.name.encode())
    return h.hexdigest()[:16]


def _files(folder: Path, lang: str | None = None) -> list[str]:
    """The published files in `folder` (of `lang` only, when given), stamps left out."""
    found = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    # hidden files are the runner's own (the per-language stamps)
    return sorted(
        rel for rel in found if not rel.startswith(".") and (lang is None or file_lang(rel) == lang)
    )


def _read_stamp(folder: Path, lang: str = "zh") -> dict | None:
    try:
        return json.loads((folder / lang_name(STAMP_FILE, lang)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_current(folder: Path, lang: str, current: dict) -> bool:
    """True when `folder`'s files of `lang` were built from `current` and are all still there."""
    recorded = _read_stamp(folder, lang)
    if not isinstance(recorded, dict):
        return False
    files = recorded.pop("files", None)
    if recorded != current or not isinstance(files, list):
        return False
    return all((folder / str(f)).is_file() for f in files)


def _write_stamp(build: Path, stamp: dict) -> None:
    if stamp:
        (build / STAMP_FILE).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------- build folders

# A build folder no lock can vouch for (this platform or file system has no flock, or the run was killed
# between creating and locking it) is taken as abandoned when untouched for this long.
UNLOCKED_STALE_S = 24 * 3600


def _claim_build(final: Path) -> tuple[Path, int | None]:
    """A new hidden build folder beside `final`, locked (flock on the folder itself) while this run lives.
    It is made under a `.claim-` name, locked, then renamed, so no `.building-` folder is ever unlocked
    while its run is alive."""
    prefix = f".{final.name}.claim-"
    claim = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    claim.chmod(0o755)  # mkdtemp makes it private; the month's folder is read by others
    lock = _lock_folder(claim)
    build = claim.with_name(f".{final.name}.building-{claim.name[len(prefix) :]}")
    os.rename(claim, build)  # the lock belongs to the folder, not its name
    return build, lock


def _lock_folder(folder: Path) -> int | None:
    try:
        import fcntl
    except ImportError:  # Windows: folders are judged by age alone
        return None
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _release(lock: int | None) -> None:
    if lock is not None:
        os.close(lock)  # closing drops the flock


def remove_stale_builds(final: Path) -> list[Path]:
    """Remove the hidden build folders of `final` whose runs are gone (killed: their lock went with them),
    never one a live run holds; returns what was removed."""
    removed = []
    for entry in sorted(final.parent.glob(f".{final.name}.*")):
        kind = entry.name[len(final.name) + 2 :].split("-", 1)[0]
        if kind in ("building", "claim") and entry.is_dir() and _abandoned(entry, kind):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _abandoned(folder: Path, kind: str) -> bool:
    if kind == "building":
        state = _lock_state(folder)
        if state != "unknown":
            return state == "free"  # nobody holds it: its run is gone
    try:
        return time.time() - folder.stat().st_mtime > UNLOCKED_STALE_S
    except OSError:
        return False


def _lock_state(folder: Path) -> str:
    """'held' while a live run holds the folder's lock, 'free' when none does, 'unknown' without flock."""
    try:
        import fcntl
    except ImportError:
        return "unknown"
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return "unknown"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return "held"
    except OSError:
        return "unknown"
    finally:
        os.close(fd)  # also drops the lock just taken
    return "free"


def _hand_run_parameters(path: Path) -> None:
    """Point a kept copy's injected `out_dir` at nothing: run again by hand, it writes to the scratch folder
    instead of re-creating the build folder (which became the published month); and its `fingerprint`: run
    again by hand, it brings the month up to date (data may have come in since) instead of reading the
    snapshot the brief read."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = _OUT_DIR_LINE.sub(
                'out_dir = ""  # the brief wrote to its build folder; a hand run writes to outputs/scratch/',
                cell.source,
            )
            cell.source = _FINGERPRINT_LINE.sub(
                'fingerprint = ""  # the brief read the snapshot it made current; a hand run brings it up to date',
                cell.source,
            )
    nbformat.write(nb, str(path))


def _missing_outputs(jobs: list[NotebookJob], build: Path, html_from: str) -> str | None:
    expected = [(j.name, w) for j in jobs for w in j.writes] + [(j.name, j.html) for j in jobs if j.html]
    if any(j.file == html_from and not j.unit for j in jobs):
        expected.append((html_from, "brief.html"))
    gone = [f"{name} (from {nb})" for nb, name in expected if not (build / name).exists()]
    return f"the notebooks ran but did not write: {', '.join(gone)}" if gone else None


def _remove_superseded_failure(final: Path, echo: Callable[[str], None]) -> None:
    """The month published whole: an earlier failed or interrupted run's `<out>.failed/` is stale (it stayed
    beside the month's folder for good, with a brief.html of its own that a reader could open)."""
    kept = final.with_name(final.name + ".failed")
    if kept.is_dir() and not kept.is_symlink():
        shutil.rmtree(kept, ignore_errors=True)
        if not kept.exists():
            echo(f"  removed {kept.name} (an earlier failed run's copies; this run replaced them)")


def _keep_failed(build: Path, final: Path) -> Path:
    """Move a failed build to <out>.failed/ (replacing an earlier failed attempt, never a month's folder)."""
    kept = final.with_name(final.name + ".failed")
    if kept.exists():
        shutil.rmtree(kept)
    os.replace(build, kept)
    return kept


def _publish(build: Path, final: Path, lang: str, partial: bool = False) -> list[str]:
    """Publish `build`'s files into `final` under `lang`'s names (`lang_name`); returns them.

    Each file replaces its earlier version atomically (os.replace in one file system: a reader sees the old
    file or the new one, never half of one); files of `lang` the new build did not write are removed; the
    other language's files are not touched. The language's up-to-date record is removed first and written
    last, so a run killed half way leaves a folder the next run rebuilds rather than one it trusts. Runs
    publishing into the same folder take turns (a lock on the folder itself). A `partial` build (one unit's
    page) replaces its own files only: nothing else is removed and the language's record is kept."""
    final.mkdir(parents=True, exist_ok=True)
    stamp = final / lang_name(STAMP_FILE, lang)
    with _publish_lock(final), _signals_deferred():
        sources = sorted(p for p in build.rglob("*") if p.is_file() and p.name != STAMP_FILE)
        for src in sources:  # a file open in Word or Excel, or read-only: refused before any is replaced
            dst = final / lang_name(src.relative_to(build).as_posix(), lang)
            if dst.parent.is_dir():
                check_writable(dst)
        if not partial:
            stamp.unlink(missing_ok=True)
        written = []
        for src in sources:
            rel = lang_name(src.relative_to(build).as_posix(), lang)
            dst = final / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            written.append(rel)
        for rel in set() if partial else set(_files(final, lang)) - set(written):
            (final / rel).unlink(missing_ok=True)
            _remove_empty_parents(final / rel, final)
        recorded = None if partial else _read_stamp(build)
        if recorded is not None:
            tmp = build / STAMP_FILE
            tmp.write_text(json.dumps({**recorded, "files": written}, indent=1) + "\n", encoding="utf-8")
            os.replace(tmp, stamp)
    shutil.rmtree(build, ignore_errors=True)
    return sorted(written)


def _remove_empty_parents(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


@contextmanager
def _signals_deferred():
    """Ctrl-C or SIGTERM while the files are swapped in is acted on once they all are (a few renames), so
    the folder is one brief or the other, never a mix; in the main thread only (where signals are handled)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    before = {
        s: signal.signal(s, lambda signum, _frame: got.append(signum))
        for s in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
        if got:
            signal.raise_signal(got[0])  # now, to the handler the run had (KeyboardInterrupt, or the default)


class _publish_lock:
    """An exclusive flock on the month's folder while one run publishes into it (build folders are
    locked the same way, with LOCK_NB; this one waits its turn)."""

    def __init__(self, final: Path):
        self.path = final
        self.fd: int | None = None

    def __enter__(self) -> _publish_lock:
        try:
            import fcntl
        except ImportError:  # Windows: no lock; publishing is still atomic per file
            return self
        self.fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:  # a file system without flock: atomic per file all the same
            pass
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)


# ------------------------------------------------------------------------------------------- export

_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|xlink:href|action|poster|data|srcset)\s*=\s*["']?\s*(?!data:|#|javascript:void)"""
    r"""(?P<attr>[a-z][a-z0-9+.-]*:|//)[^"'\s>]*)"""
    r"""|(?:url\(\s*["']?\s*(?!data:|#)(?P<css>[^)"']+))"""
    r"""|(?:@import\s+(?P<imp>[^;]+))""",
    re.IGNORECASE,
)


def external_references(html: str) -> list[str]:
    """Every reference in `html` that a browser would fetch from outside the file (empty when offline)."""
    return [m.group(0).strip() for m in _EXTERNAL.finditer(html)]


_EXPORTERS = threading.local()


def export_html(
    notebook: str | os.PathLike,
    html_path: str | os.PathLike,
    *,
    as_of: str,
    kind: str = "monthly",
    lang: str = "zh",
    sample: bool = False,
    plan: dict | None = None,
    chrome: dict | None = None,
    units: list[dict] | None = None,
) -> Path:
    """Export an executed brief notebook to a self-contained HTML file: no code, no prompts, no requests.
    `plan`: the store's plan settings (default: the bundled plan); `chrome`: the page chrome when it is not
    the brief's (a unit page); `units`: the unit pages listed at the end ({name, href}, perfkit.unitpage)."""
    import nbformat
    from nbconvert import HTMLExporter

    from .catalogue import load_plan
    from .report import page_chrome

    nb = nbformat.read(str(notebook), as_version=4)
    # one exporter per thread, kept: its first export compiles the templates (0.35 s a page, paid once
    # instead of for every unit page)
    exporter = getattr(_EXPORTERS, "html", None)
    if exporter is None:
        exporter = _EXPORTERS.html = HTMLExporter(
            template_name="brief",
            extra_template_basedirs=[str(TEMPLATES_DIR)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
        )
    if chrome is None:
        chrome = page_chrome(plan or load_plan(), as_of, kind=kind, lang=lang, sample=sample)
    if units:
        from .labels import t

        chrome = chrome | {
            "units": units,
            "units_title": t("unit.links.title", lang),
            "units_note": t("unit.links.note", lang),
        }
    body, _ = exporter.from_notebook_node(nb, resources={"brief": chrome})
    outside = external_references(body)
    if outside:
        raise BriefError(f"{notebook}: the brief would load from outside the file: {outside[:5]}")
    path = Path(html_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path
