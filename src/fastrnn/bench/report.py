"""What surrounds the numbers: machine, versions and BLAS, and the printed tables."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

from .cases import TASK_DESCRIPTIONS


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict:
    from .threads import available_cpus

    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_available": len(available_cpus()),
        "platform": platform.platform(),
        "loadavg_start": loadavg(),
    }


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, where the platform has them."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def _git_state(package_dir: Path) -> dict:
    """Commit and dirtiness of the checkout fastrnn is imported from, if it is one (an
    installed wheel is not: its files are tracked by no repository)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(package_dir), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    if git("ls-files", "--error-unmatch", "__init__.py") is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def versions(backends) -> dict:
    import numpy as np
    import threadpoolctl

    import fastrnn

    found = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "fastrnn": fastrnn.__version__,
        "threadpoolctl": threadpoolctl.__version__,
    }
    for backend in backends:
        found.update(backend.versions())
    package_dir = Path(fastrnn.__file__).resolve().parent
    kernels = getattr(fastrnn._kernels, "__file__", None)
    found["fastrnn_source"] = {
        "path": str(package_dir),
        "kernels": kernels,
        "kernels_built": None
        if kernels is None
        else datetime.datetime.fromtimestamp(os.path.getmtime(kernels))
        .astimezone()
        .isoformat(timespec="seconds"),
        "git": _git_state(package_dir),
    }
    return found


def blas_info() -> dict:
    """The BLAS fastrnn calls and the one NumPy calls (which measures the GEMM peak)."""
    import numpy as np

    import fastrnn

    try:
        numpy_blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError):  # NumPy < 1.25 has no dict mode
        numpy_blas = None
    return {"fastrnn": fastrnn.blas_info(), "numpy": numpy_blas}


# ---- text ---------------------------------------------------------------------------------


def _loadavg(values) -> str:
    return " ".join(f"{v:.2f}" for v in values) if values else "unknown"


def _pool(pool: dict, blas: dict) -> str:
    """One thread pool as threadpoolctl sees it, and whose it is."""
    path = pool.get("filepath") or ""
    owner = " (fastrnn)" if path == blas["fastrnn"]["library"] else ""
    if not owner and "numpy" in path:
        owner = " (NumPy: the GEMM peak)"
    arch = f" {pool['architecture']}" if pool.get("architecture") else ""
    return (
        f"{pool.get('internal_api')} {pool.get('version') or ''}{arch}, "
        f"{pool.get('num_threads')} thread(s): {os.path.basename(path)}{owner}"
    )


def _peak_line(peak: dict | None) -> str:
    if not peak:
        return "peak      not measured (no cells)"
    line = (
        f"peak      {peak['routine']} {peak['n']}^3 through NumPy, best of {peak['trials']} at "
        f"the start: {peak['gflops']:.1f} GFLOP/s"
    )
    if peak.get("each_round"):
        line += "; the same GEMM runs again in every round of every case"
    return line


def format_header(result: dict) -> str:
    m, v, s = result["machine"], result["versions"], result["settings"]
    blas = result["blas"]
    peak = result["peak"]
    others = "   ".join(f"{name} {v[name]}" for name in ("torch", "jax", "jaxlib") if name in v)
    git = v["fastrnn_source"]["git"]
    source = "installed"
    if git["commit"]:
        source = f"git {git['commit'][:10]}" + (" (dirty)" if git["dirty"] else "")
    pinned = result["threads"]["pinned_cpus"]
    rounds = f"{s['rounds']} interleaved rounds per case"
    if s["rounds"] > s["min_rounds"]:
        rounds = (
            f"up to {s['rounds']} interleaved rounds per case (at least {s['min_rounds']}, "
            f"about {s['budget_s']:g} s per case)"
        )
    lines = [
        f"fastrnn bench   {m['date']}   {s['mode']} run, {s['dtype']}, {s['threads']} thread(s)",
        f"machine   {m['cpu_model']}, {m['logical_cpus']} logical CPUs ({m['cpus_available']} "
        f"available), load average {_loadavg(m['loadavg_start'])}",
        f"versions  Python {v['python']}   NumPy {v['numpy']}   fastrnn {v['fastrnn']} ({source})"
        + (f"   {others}" if others else ""),
        f"BLAS      fastrnn calls {blas['fastrnn']['config']}",
        *(f"  pool    {_pool(pool, blas)}" for pool in result["threads"]["threadpools"]),
        f"threads   {s['threads']}: threadpoolctl limit on every BLAS/OpenMP pool, "
        f"torch.set_num_threads, CPU affinity "
        + (f"pinned to CPU(s) {', '.join(map(str, pinned))} (JAX)" if pinned else "unsupported"),
        _peak_line(peak),
        f"timing    {rounds}, samples of >= {1e3 * s['target_s']:g} ms after a warm-up; "
        "every backend checked against the float64 reference first",
    ]
    return "\n".join(lines)


_COLUMNS = (
    "cell",
    "shape",
    "T,B,D,H",
    "task",
    "backend",
    "rounds",
    "median ms",
    "min ms",
    "max ms",
    "tokens/s",
    "GFLOP/s",
    "%peak",
    "x fastrnn",
    "paired",
    "compile s",
)
_TEXT_COLUMNS = 5  # cell .. backend align left; the numbers right


def _ms(seconds: float) -> str:
    ms = 1e3 * seconds
    return f"{ms:.3f}" if ms < 10 else f"{ms:.2f}" if ms < 100 else f"{ms:.1f}"


def _cells(row: dict) -> list[str]:
    dims = row["dims"]
    lead = [
        row["cell"] or "*",
        row["shape"] or "*",
        ",".join(str(dims[k]) for k in "TBDH") if dims else "",
        row["task"] or "*",
        row["backend"] or "*",
    ]
    if row["status"] != "ok":
        return [*lead, f"{row['status']}: {row['reason']}"]

    def ratio(key: str) -> str:
        return "" if row[key] is None else f"{row[key]:.2f}"

    return [
        *lead,
        str(row["rounds"]),
        _ms(row["median_s"]),
        _ms(row["min_s"]),
        _ms(row["max_s"]),
        f"{row['tokens_per_s']:,.0f}",
        f"{row['gflops']:.1f}",
        f"{row['percent_of_peak']:.0f}%",
        ratio("ratio_to_fastrnn"),
        ratio("paired_ratio_to_fastrnn"),
        "" if row["compile_s"] is None else f"{row['compile_s']:.2f}",
    ]


def format_table(result: dict) -> str:
    """The cells' results as an aligned text table, a row per (cell, shape, task,
    backend); rows that were not timed carry their status and reason instead of numbers.
    Empty when the run had no cells."""
    if not result["results"]:
        return ""
    table = [_cells(row) for row in result["results"]]
    head, rule, *body = _aligned(list(_COLUMNS), table, _TEXT_COLUMNS)
    lines = [head, rule]
    previous = None
    for cells, text in zip(table, body, strict=True):
        group = cells[:3]  # a blank line between (cell, shape, dims) groups
        if previous is not None and group != previous:
            lines.append("")
        previous = group
        lines.append(text)
    return "\n".join(lines)


def _aligned(head: list[str], rows: list[list[str]], text_columns: int) -> list[str]:
    """head, a rule and rows, the first text_columns left-aligned, the rest right; a row
    shorter than head ends in a message running to the end of the line."""
    full = [r for r in rows if len(r) == len(head)]
    widths = [max(len(r[i]) for r in (head, *full)) for i in range(len(head))]
    for r in rows:
        for i in range(min(text_columns, len(r) - 1)):
            widths[i] = max(widths[i], len(r[i]))

    def line(cells) -> str:
        out = []
        for i, cell in enumerate(cells):
            if len(cells) < len(head) and i == len(cells) - 1:
                out.append(cell)
            else:
                out.append(cell.ljust(widths[i]) if i < text_columns else cell.rjust(widths[i]))
        return "  ".join(out).rstrip()

    return [line(head), "  ".join("-" * w for w in widths), *map(line, rows)]


def _workload_cells(row: dict, scale: float) -> list[str]:
    if row["status"] != "ok":
        return [row["backend"], f"{row['status']}: {row['reason']}"]

    def per_item(key: str) -> str:
        value = scale * row[key] / row["items_per_call"]
        return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"

    def ratio(key: str) -> str:
        return "" if row[key] is None else f"{row[key]:.2f}"

    return [
        row["backend"],
        str(row["rounds"]),
        per_item("median_s"),
        per_item("min_s"),
        per_item("max_s"),
        f"{row['items_per_s']:,.0f}",
        ratio("ratio_to_fastrnn"),
        ratio("paired_ratio_to_fastrnn"),
        "" if row["compile_s"] is None else f"{row['compile_s']:.2f}",
    ]


def format_workloads(result: dict) -> str:
    """The workloads' results: per workload a title, an aligned table of its backends
    (times per item: ms, or us when every backend takes under a millisecond) and what
    each backend's timed call runs. Empty when the run had no workloads."""
    described = {w["name"]: w for w in result["settings"].get("workloads", [])}
    blocks = []
    for name in dict.fromkeys(row["workload"] for row in result["workloads"]):
        rows = [row for row in result["workloads"] if row["workload"] == name]
        item = rows[0]["item"]
        timed = [row for row in rows if row["status"] == "ok"]
        fast = timed and max(row["per_item_s"] for row in timed) < 1e-3
        unit, scale = ("us", 1e6) if fast else ("ms", 1e3)
        head = ["backend", "rounds", f"{unit}/{item}", f"min {unit}", f"max {unit}"]
        head += [f"{item}s/s", "x fastrnn", "paired", "compile s"]
        lines = [f"{name}: {described[name]['description']}" if name in described else name]
        lines += _aligned(head, [_workload_cells(row, scale) for row in rows], text_columns=1)
        lines += [f"  {row['backend']}: {row['timed']}" for row in rows if row["timed"]]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _peak_meaning(peak: dict) -> str:
    routine, gflops = peak["routine"], f"{peak['gflops']:.1f} GFLOP/s"
    if peak.get("each_round"):
        return (
            f"the median over rounds of the backend's GFLOP/s over the {routine}'s in the same "
            f"round (the load drifts: {gflops} at the start)."
        )
    return f"of the {routine} peak measured at the start ({gflops})."


def format_notes(result: dict) -> str:
    """What the columns mean (of the tables the run has), the total time and the load."""
    lines = []
    if result["results"]:
        peak = result["peak"]
        tasks = "; ".join(f"{task} = {text}" for task, text in TASK_DESCRIPTIONS.items())
        lines += [
            "ms per call: median (min, max) over interleaved rounds. tokens/s = T*B / median. "
            "GFLOP/s counts 2 flops per multiply-add",
            "of the textbook GEMMs: inference 2*T*B*G*H*(D+H), training 3x that, G = 1 rnn, "
            f"4 lstm, 3 gru. %peak: {_peak_meaning(peak)}",
            "x fastrnn: this backend's median / fastrnn's (above 1: fastrnn is faster); "
            "paired: median over rounds of the same ratio within a round. compile s: JAX's "
            "ahead-of-time compilation, not timed.",
            f"Tasks: {tasks}.",
        ]
    if result["workloads"]:
        lines += [
            "Workloads: per item (sentence, token), the median (min, max) over interleaved "
            "rounds of a call's time over its items.",
            "x fastrnn: this backend's median / fastrnn's (above 1: fastrnn is faster), paired: "
            "the median of that ratio within a round;",
            "on the lm-step, the tutorial's row is fastrnn's speedup over the tutorial's plain "
            "NumPy code. compile s: JAX's, not timed.",
        ]
    lines.append(
        f"Total {result['wall_s']:.0f} s; load average at the end "
        f"{_loadavg(result['machine'].get('loadavg_end'))}."
    )
    return "\n".join(lines)
