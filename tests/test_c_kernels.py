"""The C kernels under AddressSanitizer + UndefinedBehaviorSanitizer, and under valgrind.

The drivers in tests/c/ call csrc/ directly, with the plain-loop BLAS of plain_blas.h and
buffers of exactly the documented sizes, and reach what the binding never lets through
(ids out of range, NULL arrays, bad dims): kernel_check.c compares the RNN kernels with a
plain-loop recurrence in double, test_lm.c the language-model kernels with plain loops,
test_tutorial_bptt.c the one-call bptt of the tutorial's language model with the
tutorial's loops, test_cells.c the LSTM and GRU kernels with U NULL (x the input
projection) against the same kernels with U the identity.
test_gated.c the LSTM and GRU kernels with plain-loop cells, central differences and, for
truncated backward passes, sums of full ones over each window; test_generate.c the
generation kernel against the same stream drawn step by step through the public kernels.
test_packed_gemm.c the packed recurrent products and the weight-gradient products
fastrnn_tn_gemm (SIMD and plain loops) with a triple loop; test_stream_gemm.c the
products with W read in place and the transposes (SIMD and plain loops) likewise.
These tests compile and run them; they need the source tree (csrc/) and a C compiler
(and valgrind for the memcheck runs, skipped without it).

All of that (6 libraries, 16 binaries, 16 runs) is one pipeline per driver and tool,
started in the background when the session starts (tests/conftest.py) and run at most
one subprocess at a time while the other tests run, as many as the machine has cores once
the tests below wait for them (tests/conftest.py runs them last). A source that
preprocesses to the same text under two sets of defines is compiled once.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
DRIVERS = {
    "rnn": "kernel_check.c",
    "lm": "test_lm.c",
    "tutorial_bptt": "test_tutorial_bptt.c",
    "cells": "test_cells.c",
    "gated": "test_gated.c",
    "generate": "test_generate.c",
    "packed": "test_packed_gemm.c",
    "stream": "test_stream_gemm.c",
}
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
# Compile-time settings of a driver (for the library it links too): the gated cells'
# inference kernels project 3 rows at a time, so that the small problems there are split
# into several chunks (cells.h), and run in the transposed domain from B = 3 and H = 4 on
# (cell_streams), so that both paths meet small problems; the RNN's full BPTT keeps da for
# 3 rows' worth of steps and its forward streams W from H = 1 on (rnn.c), for its problems
# of 16 rows or more.
DEFINES = {
    "test_gated.c": ["-DCELL_CHUNK_ROWS=3", "-DCELL_STREAM_MIN_B=3", "-DCELL_STREAM_MIN_H=4"],
    "kernel_check.c": ["-DRNN_CHUNK_ELEMENTS=1", "-DRNN_CHUNK_ROWS=3", "-DRNN_STREAM_MIN_H=1"],
}


COMPILE = ["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror"]
# The flags of each tool's builds, and the test that runs its binaries.
TOOLS = {"sanitizers": SANITIZE, "valgrind": []}
TESTS = {"test_kernels_pass_under_sanitizers": "sanitizers",
         "test_kernels_pass_under_valgrind": "valgrind"}  # fmt: skip


def find_compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def run_command(tool: str, binary: Path) -> tuple[list[str], dict | None, int]:
    """The command that runs a driver under the tool, its environment and its timeout (s)."""
    if tool == "sanitizers":
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="")
        return [str(binary)], env, 300
    valgrind = [shutil.which("valgrind"), "-q", "--error-exitcode=3", "--leak-check=full",
                "--errors-for-leak-kinds=definite"]  # fmt: skip
    return [*valgrind, str(binary)], None, 600


class Pipelines:
    """Per (tool, driver): csrc/ compiled with the driver's flags, archived, the driver
    compiled and linked against it, and run under the tool, each pair in a thread of its
    own. At most `slots` subprocesses run at once (one until widen()); a source whose
    preprocessed text and flags other than the defines match an earlier compile's reuses
    its object, so the libraries with a driver's defines recompile only what they change."""

    def __init__(self, compiler: str):
        self.compiler = compiler
        self.work = Path(tempfile.mkdtemp(prefix="fastrnn-c-kernels-"))
        self.slots = threading.Semaphore(1)
        # The CPUs of the session: a test may pin the process's threads to fewer for a
        # while (fastrnn.bench.threads.pinned_cpus), which a child started then would keep.
        self.cpus = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else None
        self.widened = False
        self.stopped = False
        self.lock = threading.Lock()
        self.running: set[subprocess.Popen] = set()
        self.objects: dict[tuple, Future] = {}
        self.pairs: dict[tuple[str, str], Future] = {}

    def want(self, pairs) -> None:
        """Start the pipelines of these (tool, driver) pairs not started yet."""
        for pair in pairs:
            with self.lock:
                if pair in self.pairs:
                    continue
                self.pairs[pair] = future = Future()
            threading.Thread(target=self._settle, args=(future, self._pipeline, *pair),
                             daemon=True).start()  # fmt: skip

    def outcome(self, tool: str, driver: str) -> dict:
        self.want([(tool, driver)])
        return self.pairs[tool, driver].result()

    def widen(self) -> None:
        """As many subprocesses at once as the process may use cores (the tests wait)."""
        with self.lock:
            if self.widened:
                return
            self.widened = True
        for _ in range(len(self.cpus or [0]) - 1):
            self.slots.release()

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            running = list(self.running)
        for process in running:
            try:
                os.killpg(process.pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.work, ignore_errors=True)

    @staticmethod
    def _settle(future: Future, work, *args) -> None:
        try:
            future.set_result(work(*args))
        except BaseException as error:  # reraised by future.result() in the test
            future.set_exception(error)

    def _run(self, command, *, timeout=None, **kwargs) -> subprocess.CompletedProcess:
        """subprocess.run in a slot, killed with its children by stop()."""
        with self.slots:
            with self.lock:
                if self.stopped:
                    raise RuntimeError("the session ended")
                if self.cpus is not None:
                    os.sched_setaffinity(0, self.cpus)  # this thread's, for the child
                process = subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                    start_new_session=True, **kwargs,
                )  # fmt: skip
                self.running.add(process)
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.communicate()
                raise
            finally:
                with self.lock:
                    self.running.discard(process)
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    def _object(self, source: Path, flags: list[str]):
        """(the compile, the object file) of one source with these flags."""
        include = f"-I{CSRC}"
        text = self._run([self.compiler, *COMPILE, *flags, include, "-E", str(source)])
        if text.returncode != 0:
            return text, None
        code = tuple(f for f in flags if not f.startswith(("-D", "-U")))
        key = (hashlib.sha256(text.stdout.encode()).hexdigest(), code)
        with self.lock:
            mine = key not in self.objects
            if mine:
                self.objects[key] = Future()
                directory = self.work / f"objects-{len(self.objects)}"
            future = self.objects[key]
        if mine:
            directory.mkdir()
            obj = directory / (source.stem + ".o")
            self._settle(future, lambda: (self._run(
                [self.compiler, *COMPILE, *flags, include, "-c", str(source), "-o", str(obj)]
            ), obj))  # fmt: skip
        return future.result()

    def _pipeline(self, tool: str, driver: str) -> dict:
        """The builds (subprocess.CompletedProcess; if a source fails, that one alone)
        and the run (None if a build failed) of one driver under one tool."""
        flags = TOOLS[tool] + DEFINES.get(driver, [])
        directory = self.work / f"{tool}-{Path(driver).stem}"
        directory.mkdir()
        sources = sorted(CSRC.glob("*.c"))
        with ThreadPoolExecutor(len(sources)) as pool:
            compiled = list(pool.map(lambda source: self._object(source, flags), sources))
        builds = [done for done, _ in compiled]
        if any(done.returncode != 0 for done in builds):
            return {"builds": [done for done in builds if done.returncode != 0][:1], "run": None}
        archive = directory / "libfastrnn.a"
        builds.append(self._run(["ar", "rcs", str(archive), *(str(obj) for _, obj in compiled)]))
        binary = directory / "driver"
        builds.append(self._run(
            [self.compiler, *COMPILE, *flags, f"-I{CSRC}", str(ROOT / "tests" / "c" / driver),
             str(archive), "-lm", "-o", str(binary)]
        ))  # fmt: skip
        if builds[-2].returncode != 0 or builds[-1].returncode != 0:
            return {"builds": builds, "run": None}
        command, env, timeout = run_command(tool, binary)
        return {"builds": builds, "run": self._run(command, env=env, timeout=timeout)}


PIPELINES: Pipelines | None = None


def start_in_background(items) -> None:
    """Called by tests/conftest.py once the session's tests are collected: the pipelines
    of the tests of this file among them, one subprocess at a time until they are due."""
    global PIPELINES
    here = [item for item in items if getattr(item, "originalname", None) in TESTS]
    pairs = [(TESTS[item.originalname], item.callspec.params["driver"]) for item in here]
    if not pairs or find_compiler() is None or not CSRC.is_dir():
        return  # the compiler fixture skips the tests
    if shutil.which("valgrind") is None:
        pairs = [pair for pair in pairs if pair[0] != "valgrind"]  # skipped by the test
    if PIPELINES is None:
        PIPELINES = Pipelines(find_compiler())
    PIPELINES.want(pairs)


def stop_background() -> None:
    if PIPELINES is not None:
        PIPELINES.stop()


@pytest.fixture(scope="module")
def pipelines():
    global PIPELINES
    compiler = find_compiler()
    if compiler is None:
        pytest.skip("no C compiler on PATH")
    if not CSRC.is_dir():
        pytest.skip("the C sources (csrc/) are not beside the tests")
    if PIPELINES is None:  # not started by tests/conftest.py
        PIPELINES = Pipelines(compiler)
    PIPELINES.widen()
    return PIPELINES


def passed(stdout: str) -> bool:
    last = stdout.rstrip().rsplit("\n", 1)[-1]
    return last.endswith(" passed, 0 failed") or last == "all checks passed"


def check(outcome: dict) -> None:
    for build in outcome["builds"]:
        assert build.returncode == 0, " ".join(build.args) + "\n" + build.stderr
    run = outcome["run"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert passed(run.stdout), run.stdout[-3000:]


@pytest.mark.parametrize("driver", DRIVERS.values(), ids=DRIVERS.keys())
def test_kernels_pass_under_sanitizers(pipelines, driver):
    check(pipelines.outcome("sanitizers", driver))


@pytest.mark.parametrize("driver", DRIVERS.values(), ids=DRIVERS.keys())
def test_kernels_pass_under_valgrind(pipelines, driver):
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    check(pipelines.outcome("valgrind", driver))
