"""``run``: check every backend against the reference, then time them side by side.

The cells (cell, shape, task) come first, then the workloads (``workloads``), each
timed the same way (``_time_side_by_side``) under the same thread limits."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from . import backends as backends_module
from . import report, timing
from .backends import BACKEND_NAMES, FORWARD_KEYS, Backend, Runner, TutorialBackend
from .cases import CELLS, SHAPES, TASKS, Case, Cell, Shape, make_problem, parse_shape
from .check import TOLERANCES, Disagreement, compare
from .threads import available_cpus, pinned_cpus
from .workloads import WORKLOADS, Workload

# 2: the workloads (lm-step, generation) replace the "pending" list of version 1.
SCHEMA = "fastrnn-bench/2"

# Timing settings of the two modes: interleaved rounds per case (cut to fit the budget in
# seconds, never below min_rounds), the shortest duration of a sample, and how many GEMMs
# measure the peak at the start (the best counts), and whether the peak's GEMM also runs in
# every round of every case (the machine's speed drifts with its neighbours' load: a peak
# measured minutes earlier can be a third off; --quick has no time for it).
MODES = {
    "full": {
        "rounds": 21,
        "min_rounds": 5,
        "budget_s": 30.0,
        "target_s": 0.040,
        "peak_trials": 5,
        "peak_each_round": True,
    },
    "quick": {
        "rounds": 5,
        "min_rounds": 3,
        "budget_s": 1.5,
        "target_s": 0.015,
        "peak_trials": 3,
        "peak_each_round": False,
    },
}
QUICK_SHAPES = ("tutorial", "small", "medium")  # --quick skips large unless asked for

Progress = Callable[[int, int, str], None]  # (cases done, cases in all, what happens now)


def _choices(kind: str, values, known, allow_none: bool = False) -> list[str]:
    """values without repeats, checked against known; empty only when allow_none."""
    values = list(values)
    unknown = ", ".join(repr(v) for v in values if v not in known)
    if unknown:
        raise ValueError(f"unknown {kind} {unknown}: choose from {', '.join(known)}")
    if not values and not allow_none:
        raise ValueError(f"no {kind} selected")
    return list(dict.fromkeys(values))


# What every timed row holds, cell or workload: the check, the samples and their
# statistics (seconds per call) and the ratios to fastrnn. Untimed rows hold None.
_TIMED = ("check", "compile_s", "rounds", "inner", "samples_s")
_STATS = ("median_s", "q1_s", "q3_s", "min_s", "max_s")
_RATIOS = ("ratio_to_fastrnn", "paired_ratio_to_fastrnn")
# A cell row adds flops and tokens; a workload row the time and rate per item.
TIMING_FIELDS = (
    "flops_per_call",
    "tokens_per_call",
    *_TIMED,
    *_STATS,
    "tokens_per_s",
    "gflops",
    "percent_of_peak",
    "percent_of_start_peak",
    "peak_gflops_in_rounds",
    *_RATIOS,
)
WORKLOAD_TIMING_FIELDS = (*_TIMED, *_STATS, "per_item_s", "items_per_s", *_RATIOS)


def _row(cell, shape: Shape | None, task, backend, status: str, reason: str | None = None) -> dict:
    """A result row; cell, shape, task or backend None means "all" (a whole cell or
    backend unavailable)."""
    row = {
        "cell": cell,
        "shape": None if shape is None else shape.name,
        "dims": None if shape is None else {"T": shape.T, "B": shape.B, "D": shape.D, "H": shape.H},
        "task": task,
        "backend": backend,
        "status": status,  # ok, unavailable, disagrees, failed
        "reason": reason,
    }
    row.update(dict.fromkeys(TIMING_FIELDS))
    return row


def _failure(e: BaseException) -> str:
    return f"raised {type(e).__name__}: {e}"


def run(
    *,
    cells: Sequence[str] | None = None,
    shapes: Sequence[str | Shape] | None = None,
    tasks: Sequence[str] | None = None,
    backends: Sequence[str | Backend] | None = None,
    workloads: Sequence[str | Workload] | None = None,
    dtype: str = "float32",
    threads: int = 1,
    quick: bool = False,
    seed: int = 0,
    rounds: int | None = None,
    target_ms: float | None = None,
    budget_s: float | None = None,
    progress: Progress | None = None,
) -> dict:
    """Benchmark the selected cells, shapes and tasks on every selected backend.

    For each case (cell, shape, task) every backend's result is first compared with
    fastrnn.reference computed in float64 on the same numbers (``check.compare``); a
    backend that disagrees or fails is reported and not timed. The others are warmed up,
    calibrated and timed in interleaved rounds (``timing``). Thread limits and CPU pinning
    (``threads``) hold for the whole run and are undone afterwards.

    Parameters
    ----------
    cells : names from CELLS ("rnn", "lstm", "gru"); default all; [] for none
        Cells this fastrnn does not provide are reported as not available.
    shapes : names from SHAPES, ``"T,B,D,H"`` strings or Shape objects
        Default all four; with quick, all but "large".
    tasks : "inference" and/or "training"; default both
    backends : names from BACKEND_NAMES or Backend objects; default all
        A backend that cannot be imported is reported as not installed. The lm-step's
        baseline, the tutorial's plain NumPy code, runs whatever this says.
    workloads : names from WORKLOADS ("lm-step", "generation") or workload objects
        (``workloads.LMStep(V=..., ...)``, ``workloads.Generation(...)``); default both;
        [] for none. Their sizes and dtypes are their own (``dtype`` and ``shapes`` do
        not apply), and they run after the cells.
    dtype : "float32" or "float64"
    threads : int
        Threads for every BLAS (threadpoolctl), torch (set_num_threads) and JAX (CPU
        affinity of the process, pinned to the first ``threads`` available CPUs).
    quick : bool
        Fewer rounds, shorter samples and smaller default shapes (MODES, QUICK_SHAPES).
    seed : int
        Seed of the generated weights and data.
    rounds, target_ms, budget_s : override the mode's rounds per case, shortest sample
        and seconds per case.
    progress : callable(done, total, message) or None
        Called as the run advances (the CLI draws a progress bar with it).

    Returns
    -------
    dict, JSON-ready
        ``schema``, ``settings``, ``machine``, ``versions``, ``blas``, ``threads``,
        ``peak`` (the GEMM GFLOP/s measured at the start, and each_round; None without
        cells), ``results`` (one row per
        cell, shape, task and backend: status, reason, check errors, samples, median_s,
        q1_s, q3_s, min_s, max_s, tokens_per_s, gflops, percent_of_peak (the median over
        rounds of gflops over the peak's GEMM timed in the same round; quick: of the peak
        measured at the start), percent_of_start_peak, peak_gflops_in_rounds,
        ratio_to_fastrnn, paired_ratio_to_fastrnn, compile_s), ``workloads`` (one row per
        workload and backend: workload, sizes, dtype, item, items_per_call, backend,
        timed, full_bptt, status, reason, check, samples, median_s (per call), q1_s, q3_s,
        min_s, max_s, per_item_s, items_per_s, ratio_to_fastrnn, paired_ratio_to_fastrnn,
        compile_s) and ``wall_s``. Rows whose backend or cell is unavailable use None for the
        fields that do not apply.
    """
    started = time.perf_counter()
    settings = _settings(quick, rounds, target_ms, budget_s, threads, dtype)
    cell_names = _choices("cell", CELLS if cells is None else cells, CELLS, allow_none=True)
    workload_list = _workloads(workloads)
    if not cell_names and not workload_list:
        raise ValueError("neither a cell nor a workload selected: nothing to run")
    task_names = _choices("task", TASKS if tasks is None else tasks, TASKS)
    shape_list = [
        s if isinstance(s, Shape) else parse_shape(s)
        for s in ((QUICK_SHAPES if quick else SHAPES) if shapes is None else shapes)
    ]
    if not shape_list:
        raise ValueError("no shape selected")
    requested = list(BACKEND_NAMES if backends is None else backends)
    if not requested:
        raise ValueError("no backend selected")
    names = [b for b in requested if not isinstance(b, Backend)]
    if names:
        _choices("backend", names, BACKEND_NAMES)
    settings.update(
        seed=seed,
        cells=cell_names,
        shapes=[vars(s) for s in shape_list],
        tasks=task_names,
        backends=[b.name if isinstance(b, Backend) else b for b in requested],
        workloads=[
            {
                "name": w.name,
                "sizes": w.sizes(),
                "dtype": w.dtype.name,
                "item": w.item,
                "description": w.describe(),
            }
            for w in workload_list
        ],
    )
    result = {"schema": SCHEMA, "settings": settings, "results": [], "workloads": []}
    result["machine"] = report.machine_info()
    np_dtype = np.dtype(dtype)

    with pinned_cpus(threads) as cpus:
        # Backends are imported only now: JAX's CPU client must start pinned.
        loaded: list[Backend] = []
        for b in requested:
            backend = b if isinstance(b, Backend) else backends_module.load(b)
            if isinstance(backend, str):
                result["results"].append(_row(None, None, None, b, "unavailable", backend))
            else:
                loaded.append(backend)
        opened: list[Backend] = []
        try:
            for backend in loaded:
                backend.open(threads, np_dtype)
                opened.append(backend)
            # Entered after the imports, so that it sees every BLAS and OpenMP runtime.
            with threadpool_limits(limits=threads):
                result["versions"] = report.versions(loaded)
                result["blas"] = report.blas_info()
                result["threads"] = {
                    "requested": threads,
                    "pinned_cpus": cpus,
                    "threadpools": threadpool_info(),
                    "how": "threadpoolctl limit on every BLAS/OpenMP pool, "
                    "torch.set_num_threads, CPU affinity of every thread of the process (JAX)",
                }
                result["peak"] = gemm = None  # only the cells' %peak needs it
                if cell_names:
                    if progress is not None:
                        progress(0, 1, f"measuring the {dtype} GEMM peak")
                    gemm = timing.GemmPeak(np_dtype)
                    result["peak"] = gemm.measure(settings["peak_trials"])
                    result["peak"]["each_round"] = settings["peak_each_round"]
                    if not settings["peak_each_round"]:
                        gemm = None  # its 32-96 MB go now
                cases = (cell_names, shape_list, task_names, np_dtype, seed)
                steps = _Steps(progress, _count_cases(cases) + len(workload_list))
                _run_cases(result, loaded, cases, settings, steps, gemm)
                if workload_list:
                    # The tutorial's code is the lm-step's yardstick: it always runs.
                    with_baseline = _with_tutorial(loaded)
                    for workload in workload_list:
                        _run_workload(result, with_baseline, workload, seed, settings, steps)
                steps.finish()
        finally:
            for backend in opened:
                backend.close()

    result["machine"]["loadavg_end"] = report.loadavg()
    result["wall_s"] = time.perf_counter() - started
    return result


def _settings(quick, rounds, target_ms, budget_s, threads, dtype) -> dict:
    """The mode's timing settings with the overrides, checked."""
    settings = dict(MODES["quick" if quick else "full"])
    if rounds is not None:
        settings["rounds"] = rounds
    if target_ms is not None:
        settings["target_s"] = target_ms / 1e3
    if budget_s is not None:
        settings["budget_s"] = budget_s
    if settings["rounds"] < 1 or settings["target_s"] <= 0 or settings["budget_s"] < 0:
        raise ValueError("rounds and target_ms must be positive and budget_s >= 0")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1; got {threads!r}")
    cpus = len(available_cpus())
    if threads > cpus:
        raise ValueError(f"threads = {threads}, but this process may use only {cpus} CPUs")
    if dtype not in TOLERANCES:
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    settings.update(
        mode="quick" if quick else "full",
        dtype=dtype,
        threads=threads,
        tolerances=TOLERANCES[dtype],
        flops={
            "inference": "2*T*B*G*H*(D+H)",
            "training": "3 * inference",
            "G": {name: cell.gates for name, cell in CELLS.items()},
        },
    )
    return settings


def _workloads(workloads) -> list[Workload]:
    """The workload objects of names (WORKLOADS) or objects, without repeats."""
    if workloads is None:
        return list(WORKLOADS.values())
    names = [w for w in workloads if isinstance(w, str)]
    _choices("workload", names, WORKLOADS, allow_none=True)
    chosen = [WORKLOADS[w] if isinstance(w, str) else w for w in workloads]
    return list(dict.fromkeys(chosen))


def _with_tutorial(loaded: list[Backend]) -> list[Backend]:
    """The backends with the tutorial's code right after fastrnn (first without it)."""
    names = [b.name for b in loaded]
    at = names.index("fastrnn") + 1 if "fastrnn" in names else 0
    return [*loaded[:at], TutorialBackend(), *loaded[at:]]


class _Steps:
    """Progress over the cases and workloads of a run: (done, total, message) calls."""

    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, message)

    def advance(self) -> None:
        self.done += 1

    def finish(self) -> None:
        if self.total:
            self.done = self.total
            self.say("done")


def _count_cases(cases) -> int:
    """The (cell, shape, task) cases of a run that will be timed."""
    cell_names, shapes, task_names = cases[:3]
    runnable = [name for name in cell_names if _cell_unavailable(CELLS[name]) is None]
    return len(runnable) * len(shapes) * len(task_names)


def _run_cases(result, loaded, cases, settings, steps: _Steps, gemm: timing.GemmPeak | None):
    """Append a row per (cell, shape, task, backend) to result["results"]; gemm, when
    given, runs in every round beside the backends."""
    cell_names, shapes, task_names, dtype, seed = cases
    rows = result["results"]
    for name in cell_names:
        cell = CELLS[name]
        unavailable = _cell_unavailable(cell)
        if unavailable is not None:
            rows.append(_row(name, None, None, None, "unavailable", unavailable))
            continue
        for shape in shapes:
            problem = make_problem(cell, shape, dtype, seed)
            steps.say(f"{cell.name} {shape.name}: float64 reference")
            expected = backends_module.oracle(problem)
            for task in task_names:
                case = Case(problem, task)
                want = expected
                if task == "inference":
                    want = {k: v for k, v in expected.items() if k in FORWARD_KEYS}

                def say(message: str, case=case) -> None:
                    steps.say(f"{case.label()}: {message}")

                peak = (result["peak"], gemm)
                rows.extend(_bench_case(case, want, loaded, settings, peak, say))
                steps.advance()


def _cell_unavailable(cell: Cell) -> str | None:
    """Why cell cannot be benchmarked (the reference checks every backend), or None."""
    import fastrnn

    from .. import reference

    if getattr(reference, cell.class_name, None) is not None:
        return None
    if getattr(fastrnn, cell.class_name, None) is None:
        return f"not available in this fastrnn (no fastrnn.{cell.class_name})"
    return f"no fastrnn.reference.{cell.class_name} to check against"


def _bench_case(case: Case, want: dict, loaded: list[Backend], settings: dict, peak, say):
    """Check every backend on case, then time those that agree; their rows.

    peak: (the peak measured at the start, the GemmPeak to run in every round or None).
    percent_of_peak is the median over rounds of the backend's GFLOP/s over the GEMM's in
    the same round when the GEMM runs in the rounds, else percent_of_start_peak."""
    start_peak, gemm = peak
    rows: dict[str, dict] = {}
    runners: dict[str, Runner] = {}
    for backend in loaded:
        say(f"checking {backend.name}")
        row = _row(case.cell.name, case.shape, case.task, backend.name, "ok")
        row.update(flops_per_call=case.flops, tokens_per_call=case.tokens)
        rows[backend.name] = row
        try:
            runner = backend.prepare(case)
            if isinstance(runner, str):
                row.update(status="unavailable", reason=runner)
                continue
            row["compile_s"] = runner.compile_s
            row["check"] = compare(runner.to_numpy(runner.call()), want, case.problem.dtype)
        except Disagreement as e:
            row.update(status="disagrees", reason=f"{e}; not timed")
            continue
        except Exception as e:  # a backend that cannot run the case is reported, not fatal
            row.update(status="failed", reason=f"{_failure(e)}; not timed")
            continue
        runners[backend.name] = runner
    if not runners:
        return list(rows.values())

    calls = {name: r.call for name, r in runners.items()}
    timed = _time_side_by_side(calls, settings, say, yardstick=gemm)
    gemm_samples = timed.pop(_YARDSTICK, None)
    for name, stats in timed.items():
        row = rows[name]
        row.update(stats)
        row["tokens_per_s"] = case.tokens / stats["median_s"]
        row["gflops"] = case.flops / stats["median_s"] / 1e9
        row["percent_of_start_peak"] = 100 * row["gflops"] / start_peak["gflops"]
        row["percent_of_peak"] = row["percent_of_start_peak"]
        if gemm_samples is not None:
            # Same round, same load: the backend's rate over the GEMM's.
            per_round = [
                100 * (case.flops / s) / gemm.gflops(g) / 1e9
                for s, g in zip(stats["samples_s"], gemm_samples["samples_s"], strict=True)
            ]
            row["percent_of_peak"] = float(np.median(per_round))
            row["peak_gflops_in_rounds"] = gemm.gflops(gemm_samples["median_s"])
    return list(rows.values())


_YARDSTICK = "(gemm peak)"  # not a backend name: its samples are popped from the timings


def _time_side_by_side(
    calls: dict[str, Callable], settings: dict, say, yardstick: timing.GemmPeak | None = None
) -> dict[str, dict]:
    """Calibrate every call, then time them in interleaved rounds (``timing``); yardstick,
    when given, runs once per round among them (it is warm already) and its timings come
    back under _YARDSTICK.

    Returns name -> {rounds, inner, samples_s, median_s, q1_s, q3_s, min_s, max_s,
    ratio_to_fastrnn, paired_ratio_to_fastrnn}, the ratios None without a "fastrnn"
    call: seconds per call, and the ratios to fastrnn's (above 1: fastrnn is faster)."""
    inner, estimate = {}, {}
    for name, call in calls.items():
        say(f"warming up and calibrating {name}")
        inner[name], estimate[name] = timing.calibrate(call, settings["target_s"])
    if yardstick is not None:
        calls = {**calls, _YARDSTICK: yardstick}
        inner[_YARDSTICK] = 1
        estimate[_YARDSTICK] = timing.run_sample(yardstick, 1)
    round_s = sum(inner[n] * estimate[n] for n in calls)
    n_rounds = timing.affordable_rounds(
        round_s, settings["rounds"], settings["min_rounds"], settings["budget_s"]
    )
    samples = timing.interleave(
        calls,
        inner,
        n_rounds,
        on_round=lambda r: say(f"round {r + 1}/{n_rounds} of ~{round_s:.2g} s"),
    )
    baseline = samples.get("fastrnn")
    timed = {}
    for name in calls:
        stats = timing.summarize(samples[name])
        stats.update(
            rounds=n_rounds,
            inner=inner[name],
            samples_s=samples[name],
            ratio_to_fastrnn=None,
            paired_ratio_to_fastrnn=None,
        )
        if baseline is not None:
            stats["ratio_to_fastrnn"] = stats["median_s"] / float(np.median(baseline))
            # Each round's samples ran side by side: their ratio sees the same load.
            per_round = [s / f for s, f in zip(samples[name], baseline, strict=True)]
            stats["paired_ratio_to_fastrnn"] = float(np.median(per_round))
        timed[name] = stats
    return timed


def _workload_row(workload: Workload, backend: str, status: str, reason=None) -> dict:
    """A workload's result row, its timing fields None until it is timed."""
    row = {
        "workload": workload.name,
        "sizes": workload.sizes(),
        "dtype": workload.dtype.name,
        "item": workload.item,
        "items_per_call": workload.items_per_call,
        "backend": backend,
        "timed": None,
        "full_bptt": None,
        "status": status,  # ok, unavailable, disagrees, failed
        "reason": reason,
    }
    row.update(dict.fromkeys(WORKLOAD_TIMING_FIELDS))
    return row


def _run_workload(result, loaded, workload: Workload, seed: int, settings: dict, steps: _Steps):
    """Check every backend that takes part in workload, time those that agree, and
    append their rows to result["workloads"]."""

    def say(message: str) -> None:
        steps.say(f"{workload.name}: {message}")

    say("seeded problem")
    problem = workload.make_problem(seed)
    check = workload.checker(problem)
    rows: dict[str, dict] = {}
    calls: dict[str, Callable] = {}
    for backend in loaded:
        try:
            runner = backend.prepare_workload(problem)
        except Exception as e:
            rows[backend.name] = _workload_row(workload, backend.name, "failed", _failure(e))
            continue
        if runner is None:
            continue  # not this backend's business: no row
        row = rows[backend.name] = _workload_row(workload, backend.name, "ok")
        if isinstance(runner, str):
            row.update(status="unavailable", reason=runner)
            continue
        row.update(timed=runner.timed, full_bptt=runner.full_bptt, compile_s=runner.compile_s)
        say(f"checking {backend.name}")
        try:
            row["check"] = check(runner)
        except Disagreement as e:
            row.update(status="disagrees", reason=f"{e}; not timed")
            continue
        except Exception as e:  # reported, not fatal
            row.update(status="failed", reason=f"{_failure(e)}; not timed")
            continue
        calls[backend.name] = runner.call
    if calls:
        for name, stats in _time_side_by_side(calls, settings, say).items():
            row = rows[name]
            row.update(stats)
            row["per_item_s"] = stats["median_s"] / workload.items_per_call
            row["items_per_s"] = 1.0 / row["per_item_s"]
    result["workloads"].extend(rows.values())
    steps.advance()
