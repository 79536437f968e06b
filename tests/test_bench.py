"""The benchmark (fastrnn.bench, ``fastrnn bench``) on tiny shapes: what it reports and
refuses, never how fast anything is."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastrnn
import fastrnn.reference
from fastrnn import bench
from fastrnn.bench import backends, cases, check, threads, timing, workloads
from fastrnn.cli import main as cli_main

TINY = "4,2,3,5"  # T,B,D,H: every run below takes well under a second of timing
FAST = dict(quick=True, rounds=2, target_ms=1.0, budget_s=0.05)
# The workloads on sizes that keep every call under a millisecond; odd sizes, T > K + 1
# so that the per-output window matters.
TINY_LM = bench.LMStep(V=23, H=7, T=6, truncate=2)
TINY_GENERATION = bench.Generation(vocab=11, H=9, length=13, prime=3)
TINY_WORKLOADS = [TINY_LM, TINY_GENERATION]


@pytest.fixture(scope="module")
def tiny_run():
    """One run of fastrnn and the reference on the tiny shape and tiny workloads, shared
    by the tests that only read it."""
    return bench.run(
        shapes=[TINY], backends=["fastrnn", "reference"], workloads=TINY_WORKLOADS, **FAST
    )


def _rows(result, **match):
    return [r for r in result["results"] if all(r[k] == v for k, v in match.items())]


def test_run_times_every_task_of_the_rnn_on_both_backends(tiny_run):
    rows = _rows(tiny_run, cell="rnn")
    assert [(r["task"], r["backend"]) for r in rows] == [
        ("inference", "fastrnn"),
        ("inference", "reference"),
        ("training", "fastrnn"),
        ("training", "reference"),
    ]
    for r in rows:
        assert r["status"] == "ok", r["reason"]
        assert r["shape"] == "custom" and r["dims"] == {"T": 4, "B": 2, "D": 3, "H": 5}
        assert r["rounds"] == 2 and len(r["samples_s"]) == 2
        assert r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["gflops"] == pytest.approx(r["flops_per_call"] / r["median_s"] / 1e9)
        assert r["tokens_per_s"] == pytest.approx(8 / r["median_s"])
        # --quick measures the peak at the start only
        assert r["percent_of_peak"] == pytest.approx(100 * r["gflops"] / tiny_run["peak"]["gflops"])
        assert r["percent_of_start_peak"] == r["percent_of_peak"]
        assert r["peak_gflops_in_rounds"] is None
        assert r["check"]["worst_err_over_scale"] < check.TOLERANCES["float32"]["rtol"]
        assert r["compile_s"] is None
    training = _rows(tiny_run, cell="rnn", task="training", backend="reference")[0]
    assert set(training["check"]["arrays"]) == {
        "out",
        "h_n",
        "dx",
        "dh0",
        "dweight_ih_l0",
        "dweight_hh_l0",
        "dbias_ih_l0",
        "dbias_hh_l0",
    }
    for r in _rows(tiny_run, cell="rnn", backend="fastrnn"):
        assert r["ratio_to_fastrnn"] == pytest.approx(1.0)
        assert r["paired_ratio_to_fastrnn"] == pytest.approx(1.0)


def test_a_full_run_times_the_peaks_gemm_in_every_round_and_compares_within_rounds(
    monkeypatch,
):
    gemm_samples = []
    run_sample = timing.run_sample

    def recording(call, inner):
        seconds = run_sample(call, inner)
        if isinstance(call, timing.GemmPeak):
            gemm_samples.append(seconds)
        return seconds

    monkeypatch.setattr(timing, "run_sample", recording)
    result = bench.run(
        cells=["rnn"],
        shapes=[TINY],
        tasks=["training"],
        backends=["fastrnn"],
        workloads=[],
        rounds=3,
        target_ms=1.0,
        budget_s=0.05,
    )
    assert result["peak"]["each_round"] is True
    assert [r["backend"] for r in result["results"]] == ["fastrnn"]  # the GEMM is no row
    row = result["results"][0]
    # the start's trials, then one sample to estimate its duration, then one per round
    start = result["peak"]["trials"] + 1
    in_rounds = gemm_samples[start:]
    assert len(in_rounds) == row["rounds"] == 3
    gemm_flops = 2 * result["peak"]["n"] ** 3
    expected = [
        100 * (row["flops_per_call"] / s) / (gemm_flops / g)
        for s, g in zip(row["samples_s"], in_rounds, strict=True)
    ]
    assert row["percent_of_peak"] == pytest.approx(float(np.median(expected)))
    assert row["peak_gflops_in_rounds"] == pytest.approx(
        gemm_flops / float(np.median(in_rounds)) / 1e9
    )
    assert row["percent_of_start_peak"] == pytest.approx(
        100 * row["gflops"] / result["peak"]["gflops"]
    )
    assert "in the same round" in bench.format_notes(result)


def test_run_reports_missing_cells(tiny_run):
    for cell in ("lstm", "gru"):
        class_name = bench.CELLS[cell].class_name
        rows = _rows(tiny_run, cell=cell)
        if hasattr(fastrnn.reference, class_name):
            assert rows and all(r["status"] == "ok" for r in rows)
        else:
            assert len(rows) == 1 and rows[0]["status"] == "unavailable"
            assert "not available in this fastrnn" in rows[0]["reason"]


def test_result_is_json_with_machine_versions_blas_and_threads(tiny_run):
    result = json.loads(json.dumps(tiny_run))
    assert result["schema"] == bench.SCHEMA
    for key in ("cpu_model", "logical_cpus", "cpus_available", "loadavg_start", "loadavg_end"):
        assert key in result["machine"]
    versions = result["versions"]
    assert versions["fastrnn"] == fastrnn.__version__ and versions["numpy"] == np.__version__
    assert versions["python"].count(".") == 2
    assert result["blas"]["fastrnn"] == fastrnn.blas_info()
    assert result["threads"]["requested"] == 1
    assert any(pool["num_threads"] == 1 for pool in result["threads"]["threadpools"])
    if hasattr(os, "sched_setaffinity"):
        assert len(result["threads"]["pinned_cpus"]) == 1
    assert result["peak"]["routine"] == "sgemm" and result["peak"]["gflops"] > 0
    settings = result["settings"]
    assert settings["dtype"] == "float32" and settings["backends"] == ["fastrnn", "reference"]
    assert settings["rounds"] == 2 and settings["tolerances"] == check.TOLERANCES["float32"]


def test_table_has_a_line_per_row_and_the_status_of_untimed_ones(tiny_run):
    table = bench.format_table(tiny_run)
    timed = [line for line in table.splitlines() if line.startswith("rnn ")]
    assert len(timed) == 4 and all("custom" in line for line in timed)
    if not hasattr(fastrnn, "LSTM"):
        assert "unavailable: not available in this fastrnn (no fastrnn.LSTM)" in table
    assert "lm-step" not in table and "pending" not in table  # workloads have their own
    header = bench.format_header(tiny_run)
    assert "sgemm 2048^3" in header and fastrnn.blas_info()["config"] in header


class _OffByOne(backends.LayerBackend):
    """fastrnn with one gradient entry changed: what the check exists to catch."""

    def __init__(self):
        super().__init__("off-by-one", fastrnn)

    def prepare(self, case):
        runner = super().prepare(case)

        def to_numpy(result):
            arrays = runner.to_numpy(result)
            if "dweight_hh_l0" in arrays:
                arrays["dweight_hh_l0"] = arrays["dweight_hh_l0"].copy()
                arrays["dweight_hh_l0"][1, 2] += 1e-3 * np.abs(arrays["dweight_hh_l0"]).max()
            return arrays

        return runner._replace(to_numpy=to_numpy)


class _Raising(backends.LayerBackend):
    def __init__(self):
        super().__init__("raising", fastrnn)

    def prepare(self, case):
        raise RuntimeError("no kernel for you")


def test_a_backend_that_disagrees_or_raises_is_reported_and_not_timed():
    result = bench.run(
        shapes=[TINY], cells=["rnn"], backends=["fastrnn", _OffByOne(), _Raising()], **FAST
    )
    inference, training = (_rows(result, backend="off-by-one", task=t)[0] for t in bench.TASKS)
    assert inference["status"] == "ok"  # its forward is fastrnn's
    assert training["status"] == "disagrees"
    assert "dweight_hh_l0 disagrees" in training["reason"] and "(1, 2)" in training["reason"]
    assert training["median_s"] is None and training["samples_s"] is None
    for r in _rows(result, backend="raising"):
        assert r["status"] == "failed" and "RuntimeError: no kernel for you" in r["reason"]
    assert all(r["status"] == "ok" for r in _rows(result, backend="fastrnn"))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a + 1e-7, None),  # float32 rounding: agrees
        (lambda a: a * (1 + 1e-3), "disagrees with the float64 reference"),
        (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 1, np.nan, a), "worst at"),
        (lambda a: a.astype(np.float64), "as float64 in a float32 benchmark"),
        (lambda a: a[:-1], "has shape"),
    ],
)
def test_compare(change, message):
    want = {"dW": np.linspace(-1.0, 1.0, 12).reshape(3, 4)}
    got = {"dW": change(want["dW"].astype(np.float32))}
    if message is None:
        assert check.compare(got, want, np.float32)["worst_err_over_scale"] < 1e-6
    else:
        with pytest.raises(check.Disagreement, match=message):
            check.compare(got, want, np.float32)


def test_compare_needs_every_array():
    with pytest.raises(check.Disagreement, match="returned no dx"):
        check.compare({}, {"dx": np.zeros(2)}, np.float64)


def test_flops_count_two_per_multiply_add_of_the_gemms():
    tutorial = bench.SHAPES["tutorial"]
    rnn = 2 * 50 * 1 * 100 * (100 + 100)
    assert bench.flops(bench.CELLS["rnn"], tutorial, "inference") == rnn
    assert bench.flops(bench.CELLS["rnn"], tutorial, "training") == 3 * rnn
    assert bench.flops(bench.CELLS["lstm"], tutorial, "inference") == 4 * rnn
    assert bench.flops(bench.CELLS["gru"], tutorial, "training") == 9 * rnn


def test_parse_shape():
    assert cases.parse_shape("large") is bench.SHAPES["large"]
    assert cases.parse_shape("7,1,2,3") == bench.Shape("custom", T=7, B=1, D=2, H=3)
    for bad in ("huge", "1,2,3", "1,0,2,3", "1,2,3,x"):
        with pytest.raises(ValueError, match="choose from tutorial, small, medium, large"):
            cases.parse_shape(bad)


def test_interleave_rotates_which_backend_goes_first():
    order = []
    calls = {name: (lambda name=name: order.append(name)) for name in "abc"}
    samples = timing.interleave(calls, dict.fromkeys("abc", 1), rounds=3)
    assert order == list("abcbcacab")
    assert all(len(s) == 3 for s in samples.values())


def test_affordable_rounds():
    assert timing.affordable_rounds(round_s=1.0, rounds=21, min_rounds=5, budget_s=30) == 21
    assert timing.affordable_rounds(round_s=4.0, rounds=21, min_rounds=5, budget_s=30) == 7
    assert timing.affordable_rounds(round_s=60.0, rounds=21, min_rounds=5, budget_s=30) == 5
    assert timing.affordable_rounds(round_s=60.0, rounds=3, min_rounds=5, budget_s=30) == 3


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity control")
def test_pinned_cpus_pins_every_thread_and_restores_them():
    before = os.sched_getaffinity(0)
    started, stop = threading.Event(), threading.Event()
    worker = threading.Thread(target=lambda: (started.set(), stop.wait()))
    worker.start()
    started.wait()
    try:
        with threads.pinned_cpus(1) as cpus:
            assert cpus == [min(before)]
            assert os.sched_getaffinity(worker.native_id) == {min(before)}
            assert os.sched_getaffinity(0) == {min(before)}
        assert os.sched_getaffinity(worker.native_id) == before
        assert os.sched_getaffinity(0) == before
    finally:
        stop.set()
        worker.join()


def test_layer_backend_names_the_missing_class():
    backend = backends.LayerBackend("reference", fastrnn.reference)
    assert backend.layer_class("NoSuchCell") == (
        "not available in this fastrnn (no fastrnn.reference.NoSuchCell)"
    )


def test_problems_are_seeded_in_the_dtype_with_torch_shapes():
    gru, shape = bench.CELLS["gru"], cases.parse_shape("3,2,4,5")
    p = cases.make_problem(gru, shape, np.float32, seed=7)
    again = cases.make_problem(gru, shape, np.float32, seed=7)
    other = cases.make_problem(gru, shape, np.float32, seed=8)
    assert np.array_equal(p.x, again.x) and not np.array_equal(p.x, other.x)
    assert {name: a.shape for name, a in p.params.items()} == {
        "weight_ih_l0": (15, 4),
        "weight_hh_l0": (15, 5),
        "bias_ih_l0": (15,),
        "bias_hh_l0": (15,),
    }
    assert p.h0.shape == p.dh_n.shape == (1, 2, 5) and p.dout.shape == (3, 2, 5)
    assert all(a.dtype == np.float32 for a in (p.x, p.h0, p.dout, p.dh_n, *p.params.values()))
    assert cases.make_problem(bench.CELLS["lstm"], shape, np.float64, 0).h0 is None
    exact = p.astype(np.float64)
    assert exact.x.dtype == np.float64 and np.array_equal(exact.x, p.x)


@pytest.mark.parametrize("cell", list(bench.CELLS))
def test_torch_and_jax_compute_the_cells_as_the_reference_or_each_other(cell):
    """torch and JAX against the float64 reference where it has the cell, else against
    each other (the LSTM and GRU equations of the JAX backend are written here)."""
    jax = pytest.importorskip("jax")
    torch = pytest.importorskip("torch")
    problem = cases.make_problem(bench.CELLS[cell], cases.parse_shape("5,3,4,6"), np.float64, 1)
    x64, torch_threads = jax.config.jax_enable_x64, torch.get_num_threads()
    found = {}
    for name in ("torch", "jax"):
        backend = backends.load(name)
        backend.open(1, np.dtype(np.float64))
        try:
            runner = backend.prepare(cases.Case(problem, "training"))
            found[name] = runner.to_numpy(runner.call())
        finally:
            backend.close()
    assert (jax.config.jax_enable_x64, torch.get_num_threads()) == (x64, torch_threads)
    want = backends.oracle(problem)
    if isinstance(want, str):  # no reference for this cell yet
        want = found["torch"]
    for name, got in found.items():
        assert set(got) == set(want), name
        check.compare(got, want, np.float64)


# ---- the workloads ----------------------------------------------------------------------


def _workload_rows(result, **match):
    return [r for r in result["workloads"] if all(r[k] == v for k, v in match.items())]


def test_workloads_run_after_the_cells_with_the_tutorial_as_lm_step_baseline(tiny_run):
    lm = _workload_rows(tiny_run, workload="lm-step")
    generation = _workload_rows(tiny_run, workload="generation")
    # The tutorial's code runs although backends did not name it, right after fastrnn.
    assert [r["backend"] for r in lm] == ["fastrnn", "tutorial", "reference"]
    assert [r["backend"] for r in generation] == ["fastrnn", "reference"]
    for r in lm + generation:
        assert r["status"] == "ok", r["reason"]
        assert r["rounds"] == 2 and len(r["samples_s"]) == 2
        assert r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["per_item_s"] == pytest.approx(r["median_s"] / r["items_per_call"])
        assert r["items_per_s"] == pytest.approx(1 / r["per_item_s"])
        assert r["timed"] and r["compile_s"] is None and r["full_bptt"] is False
    for r in lm:
        assert r["sizes"] == {"V": 23, "H": 7, "B": 1, "T": 6, "truncate": 2}
        assert (r["dtype"], r["item"], r["items_per_call"]) == ("float64", "sentence", 1)
        assert set(r["check"]["arrays"]) == {"dLdU", "dLdV", "dLdW"}
        assert r["check"]["worst_err_over_scale"] < 1e-12
    for r in generation:
        assert (r["dtype"], r["item"], r["items_per_call"]) == ("float32", "token", 13)
        assert r["check"] == {"tokens": 13, "compared": ["greedy", "sampled"]}
    for r in _workload_rows(tiny_run, backend="fastrnn"):
        assert r["ratio_to_fastrnn"] == pytest.approx(1.0)
        assert r["paired_ratio_to_fastrnn"] == pytest.approx(1.0)
    tutorial = _workload_rows(tiny_run, backend="tutorial")[0]
    assert tutorial["ratio_to_fastrnn"] == pytest.approx(
        tutorial["median_s"] / _workload_rows(tiny_run, workload="lm-step")[0]["median_s"]
    )


def test_workloads_are_in_the_json_and_their_own_table(tiny_run):
    result = json.loads(json.dumps(tiny_run))
    assert [w["name"] for w in result["settings"]["workloads"]] == ["lm-step", "generation"]
    assert result["settings"]["workloads"][0]["sizes"] == TINY_LM.sizes()
    fields = {"workload", "sizes", "dtype", "item", "items_per_call", "backend", "timed"}
    fields |= {"full_bptt", "status", "reason", "check", "median_s", "per_item_s"}
    fields |= {"items_per_s", "ratio_to_fastrnn", "paired_ratio_to_fastrnn", "compile_s"}
    assert all(fields <= set(row) for row in result["workloads"])
    text = bench.format_workloads(tiny_run)
    assert text.startswith("lm-step: " + TINY_LM.describe())
    assert "\ngeneration: " + TINY_GENERATION.describe() in text
    assert re.search(r"(us|ms)/sentence .* sentences/s", text)
    assert re.search(r"(us|ms)/token .* tokens/s", text)
    assert "  tutorial: the tutorial's RNNNumpy.bptt(x, y)" in text
    rows = [line for line in text.splitlines() if line.startswith(("fastrnn ", "tutorial "))]
    assert len(rows) == 3


def test_a_run_of_the_workloads_alone():
    result = bench.run(cells=[], backends=["fastrnn"], workloads=[TINY_GENERATION], **FAST)
    assert result["results"] == [] and bench.format_table(result) == ""
    assert [(r["workload"], r["backend"]) for r in result["workloads"]] == [
        ("generation", "fastrnn")
    ]
    with pytest.raises(ValueError, match="neither a cell nor a workload"):
        bench.run(cells=[], workloads=[], **FAST)
    with pytest.raises(ValueError, match="unknown workload 'sampling'"):
        bench.run(workloads=["sampling"], **FAST)


def test_the_benchs_tutorial_code_is_the_tests_independent_copy():
    """tutorial_numpy (the baseline the package ships) against the tests' oracle of the
    tutorial, written separately: the same statements, so the same bits."""
    sys.path.insert(0, os.path.dirname(__file__))
    from _compat_oracles import TutorialRNNNumpy

    problem = TINY_LM.make_problem(seed=3)
    for window in (TINY_LM.truncate, 1000):
        oracle = TutorialRNNNumpy(TINY_LM.V, TINY_LM.H, bptt_truncate=window)
        oracle.U, oracle.V, oracle.W = problem.U, problem.V, problem.W
        ours = workloads.TutorialRNNNumpy(problem.U, problem.V, problem.W, window)
        got, want = ours.bptt(problem.x, problem.y), oracle.bptt(problem.x, problem.y)
        for name, a, b in zip(workloads.GRADIENT_NAMES, got, want, strict=True):
            assert np.array_equal(a, b), name


def _fastrnn_runner(problem, tamper=None, **fields):
    """fastrnn's runner for a workload problem, its checked arrays changed in place by
    tamper(arrays) and its fields replaced by fields: what the checks exist to catch."""
    runner = backends.LayerBackend("fastrnn", fastrnn).prepare_workload(problem)
    if tamper is not None:
        outputs = runner.outputs

        def tampered():
            arrays = {name: np.array(a) for name, a in outputs().items()}
            tamper(arrays)
            return arrays

        runner = runner._replace(outputs=tampered)
    return runner._replace(**fields)


def _nudge(name, index):
    def tamper(arrays):
        arrays[name][index] += 1e-9 * np.abs(arrays[name]).max()

    return tamper


def _next_token(name, i):
    def tamper(arrays):
        arrays[name][i] = (arrays[name][i] + 1) % TINY_GENERATION.vocab

    return tamper


@pytest.mark.parametrize(
    "workload, tamper, fields, message",
    [
        (TINY_LM, None, {}, None),
        (TINY_LM, _nudge("dLdW", (1, 2)), {}, r"dLdW disagrees .* worst at \(1, 2\)"),
        (TINY_LM, _nudge("dLdU", (0, 5)), {}, "dLdU disagrees"),
        (TINY_LM, _nudge("dLdV", (4, 0)), {}, "dLdV disagrees"),
        # the tutorial's window presented as exact BPTT
        (TINY_LM, None, {"full_bptt": True}, "disagrees with the float64 reference"),
        (TINY_LM, lambda a: a.pop("dLdV"), {}, "returned no dLdV"),
        (TINY_LM, lambda a: a.update(dLdW=a["dLdW"][:, :-1]), {}, "dLdW has shape"),
        (TINY_GENERATION, None, {}, None),
        (TINY_GENERATION, _next_token("greedy", 7), {}, "greedy tokens differ .* token 7 on"),
        (TINY_GENERATION, _next_token("sampled", 0), {}, "sampled tokens differ .* token 0 on"),
        (TINY_GENERATION, lambda a: a.pop("greedy"), {}, "returned no greedy tokens"),
        (TINY_GENERATION, lambda a: a.update(greedy=a["greedy"][:-1]), {}, "shape"),
        (TINY_GENERATION, lambda a: a.update(greedy=a["greedy"] + 0.0), {}, "float64"),
    ],
)
def test_workload_checks_reject_wrong_results(workload, tamper, fields, message):
    problem = workload.make_problem(seed=0)
    runner = _fastrnn_runner(problem, tamper, **fields)
    check_runner = workload.checker(problem)
    if message is None:
        check_runner(runner)
    else:
        with pytest.raises(check.Disagreement, match=message):
            check_runner(runner)


def test_a_workload_backend_that_disagrees_is_reported_and_not_timed():
    class Tampered(backends.LayerBackend):
        def __init__(self):
            super().__init__("tampered", fastrnn)

        def prepare_workload(self, problem):
            return _fastrnn_runner(problem, _nudge("dLdW", (1, 2)))

    result = bench.run(cells=[], backends=["fastrnn", Tampered()], workloads=[TINY_LM], **FAST)
    row = _workload_rows(result, backend="tampered")[0]
    assert row["status"] == "disagrees" and "dLdW disagrees" in row["reason"]
    assert row["reason"].endswith("; not timed")
    assert row["median_s"] is None and row["samples_s"] is None
    assert [r["status"] for r in result["workloads"]] == ["ok", "ok", "disagrees"]


def test_a_wrong_window_or_a_wrong_temperature_disagrees():
    """The checks see the semantics, not only corrupted arrays: bptt with a window one
    step wider, and sampling at another temperature."""
    lm = TINY_LM.make_problem(seed=0)
    wider = bench.LMStep(V=23, H=7, T=6, truncate=3).make_problem(seed=0)
    assert np.array_equal(wider.U, lm.U) and wider.x == lm.x  # only the window differs
    wrong = backends.LayerBackend("fastrnn", fastrnn).prepare_workload(wider)
    with pytest.raises(check.Disagreement, match="dLd[UW] disagrees"):
        TINY_LM.checker(lm)(wrong)

    problem = TINY_GENERATION.make_problem(seed=0)
    model = workloads.load_rnnlm(fastrnn, problem)
    hot = workloads.WorkloadRunner(
        call=lambda: None,
        outputs=lambda: {
            "greedy": model.sample(problem.prime, 13, top_k=1),
            "sampled": model.sample(problem.prime, 13, temperature=2.0, seed=problem.seed),
        },
        timed="",
    )
    with pytest.raises(check.Disagreement, match="sampled tokens differ"):
        TINY_GENERATION.checker(problem)(hot)


def test_workload_problems_are_seeded_and_generation_has_rnnlms_names():
    a, b = TINY_LM.make_problem(1), TINY_LM.make_problem(1)
    assert np.array_equal(a.U, b.U) and a.x == b.x
    assert not np.array_equal(a.W, TINY_LM.make_problem(2).W)
    assert (a.U.shape, a.V.shape, a.W.shape) == ((7, 23), (23, 7), (7, 7))
    assert a.x[1:] == a.y[:-1] and len(a.x) == len(a.y) == 6  # y_t = x_{t+1}
    g = TINY_GENERATION.make_problem(0)
    model = fastrnn.RNNLM(11, 9)
    assert {name: p.shape for name, p in g.params.items()} == model.param_shapes()
    assert all(p.dtype == np.float32 for p in g.params.values()) and g.prime.shape == (3,)


def test_jax_offers_no_generation_and_a_failing_backend_is_reported():
    class Raising(backends.LayerBackend):
        def __init__(self):
            super().__init__("raising", fastrnn)

        def prepare_workload(self, problem):
            raise RuntimeError("no model for you")

    result = bench.run(cells=[], backends=[Raising()], workloads=[TINY_GENERATION], **FAST)
    (row,) = result["workloads"]
    assert row["status"] == "failed" and "RuntimeError: no model for you" in row["reason"]
    assert backends.Backend().prepare_workload(TINY_GENERATION.make_problem(0)) is None


def test_torch_and_jax_run_the_workloads_and_agree():
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    result = bench.run(
        cells=[], backends=["fastrnn", "torch", "jax"], workloads=TINY_WORKLOADS, **FAST
    )
    rows = {(r["workload"], r["backend"]): r for r in result["workloads"]}
    assert list(rows) == [
        ("lm-step", "fastrnn"),
        ("lm-step", "tutorial"),
        ("lm-step", "torch"),
        ("lm-step", "jax"),
        ("generation", "fastrnn"),
        ("generation", "torch"),  # JAX takes no part in generation
    ]
    for (workload, backend), r in rows.items():
        assert r["status"] == "ok", (workload, backend, r["reason"])
        assert r["full_bptt"] is (workload == "lm-step" and backend in ("torch", "jax"))
    assert rows[("lm-step", "jax")]["compile_s"] > 0
    assert rows[("generation", "torch")]["check"]["compared"] == ["greedy"]
    assert "exact BPTT" in rows[("lm-step", "torch")]["timed"]


def _quick_cli_run(out, *args) -> subprocess.CompletedProcess:
    """``fastrnn bench --quick`` on fastrnn and the reference with the shortest timing,
    writing the JSON to out; must exit 0."""
    args += ("--backends", "fastrnn", "reference", "--rounds", "2", "--target-ms", "1")
    done = subprocess.run(
        [sys.executable, "-m", "fastrnn", "bench", "--quick", *args, "--budget", "0.05"]
        + ["--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_cli_runs_the_workloads_alone(tmp_path):
    out = tmp_path / "bench.json"
    done = _quick_cli_run(out, "--cells", "none", "--workloads", "generation")
    assert "\ngeneration: 100 tokens per call" in done.stdout and "tokens/s" in done.stdout
    assert "cell  shape" not in done.stdout  # no cell table
    assert "[1/1] done" in done.stderr
    result = json.loads(out.read_text())
    assert [r["backend"] for r in result["workloads"]] == ["fastrnn", "reference"]
    assert all(r["status"] == "ok" for r in result["workloads"])


# ---- the command ----------------------------------------------------------------------


def test_cli_quick_run_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    done = _quick_cli_run(out, "--shapes", TINY, "--cells", "rnn", "--workloads", "none")
    assert "x fastrnn" in done.stdout and "GFLOP/s" in done.stdout
    assert len([line for line in done.stdout.splitlines() if line.startswith("rnn ")]) == 4
    assert "[2/2] done" in done.stderr  # progress, one line per step off a terminal
    result = json.loads(out.read_text())
    assert result["schema"] == bench.SCHEMA and len(result["results"]) == 4
    assert result["workloads"] == [] and "lm-step" not in done.stdout


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--threads", "0"], "expected a positive integer; got 0"),
        (["--threads", "4096"], "4096 threads, but this process may use only"),
        (["--shapes", "huge"], "unknown shape 'huge'"),
        (["--backends", "tensorflow"], "invalid choice: 'tensorflow'"),
        (["--cells", "transformer"], "invalid choice: 'transformer'"),
        (["--tasks", "inference", "sampling"], "invalid choice: 'sampling'"),
        (["--dtype", "float16"], "invalid choice: 'float16'"),
        (["--json", "/no/such/dir/out.json"], "no directory /no/such/dir"),
        (["--rounds", "many"], "expected a positive integer; got 'many'"),
        (["--workloads", "training"], "invalid choice: 'training'"),
        (["--cells", "none", "rnn"], "--cells: none cannot be combined with other names"),
        (["--cells", "none", "--workloads", "none"], "leave nothing to run"),
    ],
)
def test_bad_flags_exit_2_with_one_error_line(flags, message, capsys):
    try:
        status = cli_main(["bench", *flags])
    except SystemExit as e:  # argparse's errors
        status = e.code
    assert status == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err
