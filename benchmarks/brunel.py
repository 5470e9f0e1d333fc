"""The Brunel benchmark (issue 5): one network in nmgraph, Brian2, NEST and a scatter-add roofline.

    python -m benchmarks.brunel                                       # all sizes, all peers
    python -m benchmarks.brunel --sizes 4000:400,20000:400 --repeats 3
    python -m benchmarks.brunel --sizes 80000:400 --hardware all      # every built-in profile
    python -m benchmarks.brunel --sizes 80000:400 --no-nmgraph --peers brian2,brian2-standalone,nest
    python -m benchmarks.brunel --empty                               # per-step cost, empty network
    python -m benchmarks.brunel --check                               # same model? spike for spike
    python -m benchmarks.brunel --report a.json b.json                # one table from --json files

Run from the repository root after ``pip install -e ".[bench]"`` (Brian2, ``numpy<2.4``, psutil,
and NEST on Linux x86-64, where ``nest-simulator`` has wheels; a peer that is not installed gets a
row saying so). Every (size, tool) case runs in its own subprocess, so that its peak memory is its
own and a crash loses one row, not the table; the case prints its figures as JSON and the parent
prints one markdown table, the firing rates of every tool, and the targets of issue 5 with the
measured ratios. ``--json out.json`` keeps everything.

The network, and why it is the same network in every tool
----------------------------------------------------------
:func:`benchmarks.networks.brunel` builds it in nmgraph (read that module's docstring): ``N`` LIF
neurons (80% ``exc``, 20% ``inh``), fixed in-degree ``K`` (``0.8 K`` from ``exc``, ``0.2 K`` from
``inh``, no self-connections), delays uniform in {1, 2} steps, a constant bias and a one-to-one
Poisson drive (probability 0.05 per step), ``dt`` = 1 ms, at about 10 Hz. One helper case per size
(``prepare``) builds it, lowers it and quantizes it for the first ``--hardware`` profile, and writes
the connectivity as a global CSR by source unit (the weights as the runtime applies them,
``w << weight_exp``); Brian2, NEST and the roofline all read that file, so every tool runs **the
same synapses with the same delays**. In units of nmgraph's ``v`` (a spike of weight ``w`` adds
``w << 6``; threshold ``theta = vth << 6``):

* Neurons: per step ``v <- v * (1 - dv / 4096) + bias + (input arriving this step)``; spike when
  ``v > theta``; reset to 0; no refractory period. Brian2: ``dv/dt = (mu - v) / tau`` integrated
  exactly with ``tau = -dt / ln(1 - dv / 4096)`` (19.99 ms, so the decay per step is nmgraph's
  factor) and ``mu = bias / (1 - decay)`` (so a step adds exactly ``bias``), threshold
  ``v > theta``, reset ``v = 0``. NEST: ``iaf_psc_delta`` with the same ``tau_m``, ``t_ref = 0``,
  ``E_L = V_reset = 0``, ``V_th = theta + 1/2`` (NEST fires on ``>=``), in mV scaled so that
  ``theta`` is 20 mV, and ``I_e`` giving the same ``bias`` per step. nmgraph truncates its decay
  product toward zero, the peers use floats: a difference below one unit of ``v`` per step, against
  ``theta`` = 20,352 units at K = 400.
* Synapses: delta currents, ``v += w << 6`` (``exc`` ``w = 16``, ``inh`` ``w = -128``).
  Brian2 ``Synapses(..., on_pre="v_post += w")`` from the ``exc`` and the ``inh`` subgroup,
  ``connect(i=..., j=...)`` from the file. nmgraph's step order is: input arrives, then the update,
  then the threshold; Brian2's default schedule runs ``synapses`` after ``thresholds`` (input would
  count one step later and decayed), so the Brian2 network runs the schedule ``start, groups,
  synapses, thresholds, resets, end`` and its delays are nmgraph's minus one step (a spike is queued
  when the pathway runs in the next step; a delay-1 nmgraph synapse is a delay-0 Brian2 synapse).
  NEST's ``iaf_psc_delta`` already adds the input of a step before its threshold, and a NEST delay
  of ``d`` ms is nmgraph's ``d`` steps.
* Drive: nmgraph's ``PoissonSource`` units, one per neuron, delay 1, weight
  ``drive_weight << drive_weight_exp``. Brian2: ``PoissonGroup(N, rates=0.05 / dt)`` one-to-one
  (``rand() < 0.05`` per step, the same Bernoulli process) with delay 0 in the shifted schedule.
  NEST: one ``poisson_generator`` at 50 Hz connected to every neuron (an independent train per
  target, Poisson counts per step instead of Bernoulli: the same mean, 5% more variance), delay 1.

``--check`` tests this equivalence directly: the same code builds a small network (N = 500,
K = 50) without the Poisson drive, from random initial ``v``, in all three tools, and compares the
spikes step by step. Brian2 and NEST give nmgraph's spikes exactly for the first 95 of 100 steps
(over the 100 steps: 1,316 spikes each, nmgraph 1,324); then a neuron within rounding of its
threshold parts the float peers from nmgraph's truncating fixed point, and the network's chaos
spreads the difference. With the drive, the random streams differ between tools, so the benchmark
runs agree statistically, not spike for spike: the rates line under the table shows every tool in
the same regime. nmgraph itself gives bit-identical spikes for every profile and worker count.

What is counted
---------------
* **Synaptic events**: one per synapse per spike of its source unit, neurons and drive alike
  (nmgraph's ``Counters.synaptic_ops``). Brian2 and NEST: each neuron's spike count in the timed run
  times its out-degree in the shared connectivity, plus one event per drive spike (Brian2 counts
  its Poisson spikes; NEST's generator spikes are not observable, so its drive events are the
  expected ``0.05 N`` per step). Roofline: the same spike trains over the same CSR.
* **Timed run**: every tool first runs 50 steps (``--warmup``; this also compiles Brian2's code,
  starts nmgraph's workers and lets the start-up transient pass), then ``--steps`` steps, timed with
  ``time.perf_counter`` (median of ``--repeats`` consecutive runs; Brian2 C++ standalone: one run,
  the time its binary measures for ``run()``, build and compilation excluded).
* **Compile / build**: nmgraph ``nm.compile`` (the network's construction in Python is not
  included); Brian2 runtime: network construction plus the warm-up run (code generation and
  Cython compilation); Brian2 standalone: ``device.build`` minus the run (code generation, C++
  compilation, loading the arrays); NEST: creating and connecting the network; roofline: nothing.
* **Peak memory**: the parent samples the case's process tree (the case and its children, e.g.
  nmgraph's workers) with psutil every 50 ms or more, summing PSS where the platform gives it
  (shared pages of forked workers counted once) else RSS, and keeps the maximum (or the case
  process's own peak RSS, ``ru_maxrss``, when that is higher: a peak between samples); the C/C++
  toolchain that Brian2 runs to compile its code is left out (Brian2 standalone's peak is its
  Python process plus the binary). nmgraph's peak covers building the network, compiling it and
  running it.
* **Roofline**: ``benchmarks/roofline.pyx`` (built on first use by
  ``benchmarks/build_roofline.py``): a nogil loop that adds each synapse's weight to an
  int32 accumulator of its target for every spike of the nmgraph run (``bare``), and the same
  through a delay ring buffer cleared every step (``delayed``): what the memory system allows, with
  no neuron update, no messages, no barrier. Its spike trains come from a separate helper case
  (``spikes``: the same network, seed and steps on nmgraph, 1 worker, spikes of every unit saved
  as global ids per step), so that extracting them does not weigh on the timed cases' peak
  memory; nmgraph is deterministic, so they are the spikes of the timed cases' first timed run
  (the helper checks that they give exactly the run's synaptic events).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PeakMemory", "check_equivalence", "format_report", "global_csr", "main", "parse_sizes",
           "run_case", "targets"]

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "@@brunel-result "
DEFAULT_SIZES = "4000:400,20000:400,80000:400,1000000:100"
PEERS = ("brian2", "brian2-standalone", "nest", "roofline")
TARGET_SIZE = (80_000, 400)
BIG_SIZE = (1_000_000, 100)
MEMORY_BUDGET_GIB = 6.0
BRIAN2_SCHEDULE = ["start", "groups", "synapses", "thresholds", "resets", "end"]
GIB = 2.0**30
#: Processes whose memory is not the simulator's (Brian2 compiles its code with them).
TOOLCHAIN = frozenset({"cc", "cc1", "cc1plus", "c++", "g++", "gcc", "x86_64-linux-gnu-gcc",
                       "x86_64-linux-gnu-g++", "as", "ld", "ld.bfd", "ld.gold", "collect2", "make",
                       "lto1", "lto-wrapper", "clang", "clang++"})


# -- the parent: cases, memory sampling, table ---------------------------------------------------------

def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"4000:400,80000:400"`` -> ``[(4000, 400), (80000, 400)]`` (empty text: no sizes)."""
    sizes = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        n, _, k = item.partition(":")
        if not k:
            raise argparse.ArgumentTypeError(f"size '{item}' must be N:K, e.g. 80000:400")
        sizes.append((int(n.replace("_", "")), int(k.replace("_", ""))))
    return sizes


def _int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


class PeakMemory(threading.Thread):
    """Samples the memory of a process and its descendants until stopped; ``peak`` is the max.

    Sums PSS (``memory_full_info``) where available, else RSS. Reading PSS walks the page tables,
    which costs milliseconds for big processes: the interval grows so that sampling never takes
    more than ``duty`` of one CPU (it shares the machine with the run it measures). Processes
    named in ``exclude`` (by default the C/C++ toolchain that Brian2 runs to compile its code) are
    left out: their memory is the compiler's, not the simulator's.
    """

    def __init__(self, pid: int, interval: float = 0.05, duty: float = 0.03,
                 exclude: frozenset[str] = TOOLCHAIN) -> None:
        super().__init__(daemon=True)
        import psutil

        self._psutil = psutil
        self._process = psutil.Process(pid)
        self._interval = interval
        self._duty = duty
        self._exclude = exclude
        self._halt = threading.Event()
        self.peak = 0
        self.samples = 0
        try:
            self.method = "pss" if hasattr(psutil.Process().memory_full_info(), "pss") else "rss"
        except (psutil.AccessDenied, AttributeError):
            self.method = "rss"

    def _sample(self) -> int:
        psutil = self._psutil
        total = 0
        try:
            procs = [self._process, *self._process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        for proc in procs:
            try:
                if proc.name() in self._exclude:
                    continue
                info = proc.memory_full_info() if self.method == "pss" else proc.memory_info()
                total += info.pss if self.method == "pss" else info.rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                pass
        return total

    def run(self) -> None:
        wait = 0.0
        while not self._halt.wait(wait):
            start = time.perf_counter()
            self.peak = max(self.peak, self._sample())
            self.samples += 1
            cost = time.perf_counter() - start
            wait = max(self._interval, cost / self._duty - cost)

    def stop(self) -> int:
        """Stop sampling; returns the peak in bytes."""
        self._halt.set()
        self.join()
        return self.peak


#: Before a case starts, wait (at most this many seconds) until the CPUs are idle: a peer's
#: compiler processes (make -j) can outlive its case and would slow the next one down.
QUIET_WAIT_S = 60.0
QUIET_BUSY = 0.25    # fraction of all CPUs busy that still counts as idle


def wait_until_quiet(limit_s: float = QUIET_WAIT_S) -> float:
    """Wait until less than ``QUIET_BUSY`` of the CPUs is busy over one second, or ``limit_s``;
    returns the seconds waited."""
    import psutil

    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        if psutil.cpu_percent(interval=1.0) < 100 * QUIET_BUSY:
            break
    return time.perf_counter() - start


def _run_subprocess(spec: dict[str, Any], timeout: float, module: str = "benchmarks.brunel",
                    launcher: tuple[str, ...] = (), mark: str = RESULT_MARK) -> dict[str, Any]:
    """Run one case in a fresh interpreter (``python -m module --case SPEC``, after
    ``launcher``: ``("mpiexec", "-n", "2")`` runs it as an SPMD job); returns its JSON result
    (the line that starts with ``mark``) plus ``peak_bytes`` (of the process tree)."""
    wait_until_quiet()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [*launcher, sys.executable, "-m", module, "--case", json.dumps(spec)]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    sampler = PeakMemory(proc.pid)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)  # the case's own session: the case, its workers or ranks
        out, err = proc.communicate()
        timed_out = True
    peak = sampler.stop()
    lines = [line for line in out.splitlines() if line.startswith(mark)]
    if lines:
        result = json.loads(lines[-1][len(mark):])
    else:
        tail = [line for line in err.strip().splitlines() if line.strip()][-1:] or ["no output"]
        if timed_out:
            reason = f"timed out after {timeout:.0f} s"
        elif proc.returncode < 0:
            reason = f"killed by signal {-proc.returncode} (out of memory?)"
        else:
            reason = f"exit code {proc.returncode}: {tail[0][:200]}"
        result = {"status": "failed", "error": reason}
        if err.strip():
            sys.stderr.write(err[-3000:])
    result.update(spec={k: v for k, v in spec.items() if k != "workdir"},
                  peak_bytes=max(peak, result.get("maxrss_case_bytes", 0)), peak_sampled_bytes=peak,
                  peak_method=sampler.method, case_wall_s=time.perf_counter() - start,
                  load_avg=os.getloadavg()[0])
    return result


def _label(result: dict[str, Any]) -> str:
    spec = result["spec"]
    kind = spec["kind"]
    if kind == "nmgraph":
        cores = f", {result['cores']} cores" if "cores" in result else ""
        return f"nmgraph {spec['hardware']} {spec['workers']}w{cores}"
    if kind == "brian2":
        return "Brian2 Cython runtime"
    if kind == "brian2-standalone":
        threads = spec["threads"]
        return f"Brian2 C++ standalone {threads} thread{'s' if threads > 1 else ''}"
    if kind == "nest":
        threads = spec["threads"]
        version = f" {result['version']}" if "version" in result else ""
        return f"NEST{version} {threads} thread{'s' if threads > 1 else ''}"
    if kind == "roofline":
        return "roofline: " + {"tuned-2cores": "tuned scatter-add, 2 cores",
                               "stream": "row streaming",
                               "bandwidth": "memory bandwidth bound"}.get(
            spec["variant"], f"{spec['variant']} scatter-add")
    return {"prepare": "(connectivity for the peers)",
            "spikes": "(spike trains for the roofline)"}.get(kind, kind)


def _events_per_s(result: dict[str, Any]) -> float | None:
    if result.get("status") != "ok" or not result.get("seconds"):
        return None
    return result["events"] / result["seconds"]


def _si(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f}{suffix}"
    return f"{value:.0f}"


def _short(text: Any, limit: int = 240) -> str:
    """One line of an error: its first line, and its last when it has more (a traceback)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()] or [""]
    short = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
    return short if len(short) <= limit else short[:limit - 3] + "..."


def _find(results: list[dict[str, Any]], size: tuple[int, int], kind: str,
          **spec: Any) -> dict[str, Any] | None:
    for result in results:
        s = result["spec"]
        if (s["kind"] == kind and (s.get("n"), s.get("k")) == size
                and all(s.get(key) == value for key, value in spec.items())
                and result.get("status") == "ok"):
            return result
    return None


def format_report(results: list[dict[str, Any]]) -> str:
    """The markdown table, the rates lines and the targets section of a list of case results."""
    from nmgraph.core import markdown

    header = ("tool", "N", "K", "synapses", "spikes", "synaptic events/s", "wall s / sim s",
              "peak GiB", "compile / build s", "vs Brian2 Cython", "note")
    rows = []
    sizes = list(dict.fromkeys((r["spec"]["n"], r["spec"]["k"]) for r in results
                               if r["spec"]["kind"] != "empty"))
    for size in sizes:
        brian = _find(results, size, "brian2")
        base = _events_per_s(brian) if brian else None
        for result in results:
            spec = result["spec"]
            if (spec.get("n"), spec.get("k")) != size or spec["kind"] == "empty":
                continue
            rate = _events_per_s(result)
            ok = result.get("status") == "ok"
            note = result.get("note", "") if ok else _short(result.get("error", result.get("status")))
            build = result.get("compile_s", result.get("build_s"))
            wall = result["seconds"] / (result["steps"] * 1e-3) if ok else None
            rows.append([
                _label(result), f"{size[0]:,}", f"{size[1]:,}",
                f"{result['synapses']:,}" if "synapses" in result else "-",
                f"{result['spikes']:,}" if ok and "spikes" in result else "-",
                _si(rate), f"{wall:.3f}" if wall is not None else "-",
                f"{result['peak_bytes'] / GIB:.2f}" if result.get("peak_bytes") else "-",
                f"{build:.1f}" if ok and build is not None else "-",
                f"{rate / base:.2f}x" if rate and base else "-",
                note])
    lines = [markdown.table(header, rows), ""]
    for size in sizes:
        parts = []
        for result in results:
            spec = result["spec"]
            if ((spec.get("n"), spec.get("k")) == size and result.get("rate_hz") is not None
                    and result.get("status") == "ok" and spec["kind"] != "roofline"):
                name = ("nmgraph" if spec["kind"] == "nmgraph" else _label(result))
                parts.append(f"{name} {result['rate_hz']:.2f}")
        parts = list(dict.fromkeys(parts))  # nmgraph's rate is the same on every profile
        if parts:
            lines.append(f"- rates (Hz, mean over neurons, timed run) at N={size[0]:,} K={size[1]}: "
                         + ", ".join(parts))
    for size in sizes:
        starts = [f"{_label(r).split(',')[0].removeprefix('nmgraph ')} {r['start_s']:.1f} s"
                  for r in results if r["spec"]["kind"] == "nmgraph" and "start_s" in r
                  and (r["spec"]["n"], r["spec"]["k"]) == size]
        if starts:
            lines.append(f"- nmgraph runtime start (worker programs built, workers started) at "
                         f"N={size[0]:,}: " + ", ".join(starts))
    for size in sizes:  # nmgraph is bit-exact: every worker count and profile, same spikes
        runs = [r for r in results if r["spec"]["kind"] == "nmgraph" and r.get("status") == "ok"
                and (r["spec"]["n"], r["spec"]["k"]) == size]
        # the table shows the median repeat; repeats cover successive steps, so compare them all
        seen = {tuple((run["spikes"], run.get("all_spikes")) for run in r.get("runs", [r]))
                for r in runs}
        if len(seen) > 1:
            lines.append(f"- WARNING: nmgraph cases at N={size[0]:,} disagree on spike counts "
                         f"{sorted(seen)}: they must be identical (bit-exact runtime)")
        elif runs:
            lines.append(f"- nmgraph at N={size[0]:,}: all {len(runs)} cases (worker counts, "
                         f"profiles) gave the same spikes in every repeat")
    empties = [r for r in results if r["spec"]["kind"] == "empty"]
    for result in empties:
        if result.get("status") == "ok":
            for row in result["rows"]:
                lines.append(f"- empty network ({row['variant']}): {row['us_per_step']:.2f} us per "
                             f"step with {row['workers']} worker(s), window {row['window']} "
                             f"step(s), {row['cores']} cores")
        else:
            lines.append(f"- empty network: {result.get('error')}")
    loads = [r["load_avg"] for r in results if "load_avg" in r]
    cpus = os.cpu_count() or 1
    if loads:
        busy = max(loads) > cpus + 0.5
        lines.append(f"- machine load (1-minute load average at the end of each case): "
                     f"{min(loads):.1f} to {max(loads):.1f} on {cpus} CPUs"
                     + ("; ABOVE the CPU count: other work shared the CPUs, so the timings (above "
                        "all those with 2 workers or threads) are not reliable" if busy else ""))
    lines += ["", "Targets (issue 5; ratios of synaptic events per second from this one run):", "",
              markdown.table(("target", "measured", "met"), targets(results)),
              "", "Targets (issue 18, performance round two; from this one run):", "",
              markdown.table(("target", "measured", "met"), targets_round_two(results))]
    return "\n".join(lines)


def targets(results: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """``(target, measured, met)`` for each target of issue 5 (``met``: yes, no or not measured)."""
    out: list[tuple[str, str, str]] = []

    def verdict(value: float | None, ok: bool | None) -> tuple[str, str]:
        if value is None or ok is None:
            return "-", "not measured"
        return f"{value:.2f}", "yes" if ok else "no"

    nm = [r for r in results if r["spec"]["kind"] == "nmgraph" and r.get("status") == "ok"]
    k400 = sorted({(r["spec"]["n"], r["spec"]["k"]) for r in nm if r["spec"]["k"] == 400})
    size = TARGET_SIZE if TARGET_SIZE in k400 else (k400[-1] if k400 else TARGET_SIZE)
    where = "" if size == TARGET_SIZE else f" [measured at N={size[0]:,} K={size[1]}]"
    here = [r for r in nm if (r["spec"]["n"], r["spec"]["k"]) == size]
    profiles = sorted({r["spec"]["hardware"] for r in here},
                      key=lambda hw: min(r["cores"] for r in here if r["spec"]["hardware"] == hw))
    best = profiles[0] if profiles else None

    def nm_rate(hardware: str | None, workers: int) -> float | None:
        result = _find(results, size, "nmgraph", hardware=hardware, workers=workers)
        return _events_per_s(result) if result else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    brian = _find(results, size, "brian2")
    brian_rate = _events_per_s(brian) if brian else None
    two = nm_rate(best, 2)
    one = nm_rate(best, 1)
    value = ratio(two, brian_rate)
    out.append((f"N=80k K=400, 2 workers >= 3x Brian2 Cython ({best}, fewest cores){where}",
                *verdict(value, value >= 3 if value else None)))
    standalone = (_find(results, size, "brian2-standalone", threads=2)
                  or _find(results, size, "brian2-standalone", threads=1))
    value = ratio(two, _events_per_s(standalone) if standalone else None)
    threads = f"{standalone['spec']['threads']} thread(s)" if standalone else "-"
    out.append((f"N=80k K=400, 2 workers >= 1.5x Brian2 C++ standalone ({threads}){where}",
                *verdict(value, value >= 1.5 if value else None)))
    worst = None
    for hardware in profiles:
        value = ratio(nm_rate(hardware, 2) or nm_rate(hardware, 1), brian_rate)
        if value is not None and (worst is None or value < worst[1]):
            worst = (hardware, value)
    no_fit = sorted({r["spec"]["hardware"] for r in results if r["spec"]["kind"] == "nmgraph"
                     and (r["spec"]["n"], r["spec"]["k"]) == size and r.get("status") == "no-fit"})
    extra = f"; does not fit: {', '.join(no_fit)}" if no_fit else ""
    out.append((f">= 2x Brian2 Cython on every profile the network fits ({len(profiles)} fit, worst: "
                f"{worst[0] if worst else '-'}{extra}){where}",
                *verdict(worst[1] if worst else None, worst[1] >= 2 if worst else None)))
    value = ratio(two, one)
    out.append((f"2 workers >= 1.7x 1 worker ({best}){where}",
                *verdict(value, value >= 1.7 if value else None)))
    for variant, goal in (("bare", 0.5), ("delayed", None)):
        roof = _find(results, size, "roofline", variant=variant)
        value = ratio(one, _events_per_s(roof) if roof else None)
        if goal is None:
            out.append((f"(for reference) 1 worker / {variant} scatter-add roofline{where}",
                        f"{value:.2f}" if value else "-", "-"))
        else:
            out.append((f"1 worker >= 50% of the {variant} scatter-add roofline{where}",
                        *verdict(value, value >= goal if value else None)))
    big = [r for r in nm if (r["spec"]["n"], r["spec"]["k"]) == BIG_SIZE]
    if big:
        worst_peak = max(big, key=lambda r: r["peak_bytes"])
        peak = worst_peak["peak_bytes"] / GIB
        out.append((f"N=1M K=100 compile + 1000 steps within {MEMORY_BUDGET_GIB:g} GiB peak (worst: "
                    f"{worst_peak['spec']['hardware']} {worst_peak['spec']['workers']}w)",
                    f"{peak:.2f} GiB", "yes" if peak <= MEMORY_BUDGET_GIB else "no"))
    else:
        out.append((f"N=1M K=100 compile + 1000 steps within {MEMORY_BUDGET_GIB:g} GiB peak", "-",
                    "not measured"))
    rows = [row for r in results if r["spec"]["kind"] == "empty" and r.get("status") == "ok"
            for row in r["rows"] if row["workers"] == 2]
    if rows:
        worst_row = max(rows, key=lambda row: row["us_per_step"])
        out.append((f"empty-network step with 2 workers < 20 us ({worst_row['variant']})",
                    f"{worst_row['us_per_step']:.2f} us",
                    "yes" if worst_row["us_per_step"] < 20 else "no"))
    else:
        out.append(("empty-network step with 2 workers < 20 us", "-", "not measured"))
    return out


#: Issue 18's sizes for the roofline and scaling targets.
SCALING_SIZES = ((20_000, 400), (80_000, 400))
#: Issue 18's targets: 1 worker / tuned scatter-add, 2 workers / 1 worker, events/s at BIG_SIZE
#: with 2 workers, start seconds and peak GiB there, and a Loihi profile / generic.
ROOFLINE_FRACTION, WORKER_SCALING, BIG_RATE, BIG_START_S, BIG_PEAK_GIB, PROFILE_FRACTION = (
    0.6, 1.8, 100e6, 10.0, 4.0, 0.8)


def targets_round_two(results: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """``(target, measured, met)`` for each target of issue 18 (performance, round two)."""
    out: list[tuple[str, str, str]] = []

    def rate(size: tuple[int, int], kind: str, **spec: Any) -> float | None:
        result = _find(results, size, kind, **spec)
        return _events_per_s(result) if result else None

    def row(name: str, value: float | None, goal: float | None, unit: str = "",
            above: bool = True) -> None:
        if value is None:
            out.append((name, "-", "not measured"))
            return
        text = f"{value:.2f}{unit}" if unit != "M" else f"{value / 1e6:.1f}M"
        met = "-" if goal is None else ("yes" if (value >= goal if above else value <= goal)
                                        else "no")
        out.append((name, text, met))

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    for size in SCALING_SIZES:
        where = f"N={size[0] // 1000}k"
        one = rate(size, "nmgraph", hardware="generic", workers=1)
        two = rate(size, "nmgraph", hardware="generic", workers=2)
        tuned = rate(size, "roofline", variant="tuned")
        row(f"{where}: 1 worker >= {ROOFLINE_FRACTION:.0%} of the tuned scatter-add", ratio(one, tuned),
            ROOFLINE_FRACTION)
        for variant, what in (("stream", "row streaming (rows read, nothing added)"),
                              ("bandwidth", "memory bandwidth bound")):
            row(f"{where}: (for reference) 1 worker / {what}", ratio(one, rate(size, "roofline",
                                                                                variant=variant)),
                None)
        row(f"{where}: 2 workers >= {WORKER_SCALING}x 1 worker (generic)", ratio(two, one),
            WORKER_SCALING)
        row(f"{where}: (for reference) tuned scatter-add on 2 cores / on 1 core",
            ratio(rate(size, "roofline", variant="tuned-2cores"), tuned), None)
        for profile in ("loihi1", "loihi2"):
            for workers in (1, 2):
                row(f"{where}: {profile} >= {PROFILE_FRACTION:.0%} of generic, {workers} worker(s)",
                    ratio(rate(size, "nmgraph", hardware=profile, workers=workers),
                          rate(size, "nmgraph", hardware="generic", workers=workers)),
                    PROFILE_FRACTION)
    big = [r for r in results if r["spec"]["kind"] == "nmgraph" and r.get("status") == "ok"
           and (r["spec"]["n"], r["spec"]["k"]) == BIG_SIZE]
    row(f"N=1M K=100: 2 workers >= {BIG_RATE / 1e6:.0f}M events/s",
        rate(BIG_SIZE, "nmgraph", workers=2), BIG_RATE, "M")
    row(f"N=1M K=100: runtime start < {BIG_START_S:g} s (worst worker count)",
        max((r["start_s"] for r in big if "start_s" in r), default=None), BIG_START_S, " s",
        above=False)
    row(f"N=1M K=100: build + compile + run within {BIG_PEAK_GIB:g} GiB (worst worker count)",
        max((r["peak_bytes"] / GIB for r in big if r.get("peak_bytes")), default=None),
        BIG_PEAK_GIB, " GiB", above=False)
    return out


def _plan(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """The cases of one invocation, in the order they run."""
    cases: list[dict[str, Any]] = []
    common = {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats,
              "seed": args.seed}
    for n, k in args.sizes:
        folder = workdir / f"brunel_{n}_{k}"
        size = {"n": n, "k": k, "workdir": str(folder), "hardware0": args.hardware[0], **common}
        full = n <= args.all_cases_up_to   # bigger: first profile and the roofline only
        if args.peers:
            cases.append({"kind": "prepare", **size})
        if args.nmgraph:
            for hardware in args.hardware if full else args.hardware[:1]:
                for workers in args.workers:
                    cases.append({"kind": "nmgraph", "hardware": hardware, "workers": workers,
                                  **size})
        if "brian2" in args.peers and full:
            cases.append({"kind": "brian2", **size})
        if "brian2-standalone" in args.peers and full:
            for threads in args.threads:
                cases.append({"kind": "brian2-standalone", "threads": threads, **size})
        if "nest" in args.peers and full:
            for threads in args.threads:
                cases.append({"kind": "nest", "threads": threads, **size})
        if "roofline" in args.peers:
            cases.append({"kind": "spikes", "hardware": args.hardware[0], "workers": 1, **size})
            for variant in ROOFLINE_VARIANTS:
                cases.append({"kind": "roofline", "variant": variant, **size})
    if args.empty or not args.no_empty:
        cases.append({"kind": "empty", "steps": args.empty_steps, "repeats": args.repeats,
                      "workdir": str(workdir)})
    return cases


def _missing(kind: str) -> str | None:
    """Why a case cannot run here (a peer that is not installed), or None."""
    if kind in ("brian2", "brian2-standalone") and importlib.util.find_spec("brian2") is None:
        return "Brian2 is not installed: pip install -e \".[bench]\""
    if kind == "nest" and importlib.util.find_spec("nest") is None:
        return "NEST is not installed: pip install -e \".[bench]\" (Linux x86-64 wheels)"
    return None


def main(argv: list[str] | None = None) -> None:
    """Command line entry point (``python -m benchmarks.brunel --help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                        help=f"N:K pairs, comma separated (default {DEFAULT_SIZES})")
    parser.add_argument("--steps", type=int, default=1000, help="timed steps (1 ms each)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed steps before timing")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median counts")
    parser.add_argument("--workers", type=_int_list, default=[1, 2], help="nmgraph worker counts")
    parser.add_argument("--threads", type=_int_list, default=[1, 2],
                        help="thread counts of Brian2 C++ standalone (OpenMP) and NEST")
    parser.add_argument("--hardware", default="generic",
                        help="nmgraph profiles, comma separated, or 'all' (the built-in ones)")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"any of {','.join(PEERS)}, comma separated, or 'none'")
    parser.add_argument("--all-cases-up-to", type=int, default=100_000, metavar="N",
                        help="run Brian2, NEST and every --hardware profile only up to N neurons; "
                             "bigger sizes run the first profile and the roofline (Brian2's and "
                             "NEST's construction of 100M synapses takes many minutes here)")
    parser.add_argument("--nmgraph", action=argparse.BooleanOptionalAction, default=True,
                        help="run the nmgraph cases (--no-nmgraph: peers only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--empty", action="store_true",
                        help="only measure the per-step cost of an empty network")
    parser.add_argument("--no-empty", action="store_true", help="skip the empty-network case")
    parser.add_argument("--empty-steps", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per case")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the cases keep connectivity and spike files (default: a "
                             "temporary folder, removed at the end)")
    parser.add_argument("--json", type=Path, default=None, help="also write all results here")
    parser.add_argument("--check", action="store_true",
                        help="only check that Brian2 and NEST run the same model as nmgraph: spike "
                             "for spike on a small deterministic network")
    parser.add_argument("--report", type=Path, nargs="+", default=None, metavar="JSON",
                        help="only print the table and targets of earlier --json files, merged")
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.report:
        merged = [result for path in args.report
                  for result in json.loads(path.read_text())["results"]]
        print(format_report(merged))
        return

    if args.check:
        steps = 100
        result = check_equivalence(steps=steps)
        print(f"Equivalence check: N=500 K=50, no Poisson drive, random initial v, {steps} steps; "
              f"nmgraph (reference backend) {result.pop('nmgraph')} spikes")
        for tool, row in result.items():
            print(f"- {tool}: {row['spikes']} spikes; identical to nmgraph's for the first "
                  f"{row['same_until']} steps (then floats and nmgraph's truncating fixed point "
                  f"part near the threshold, and the network's chaos amplifies it)")
        return

    if args.case is not None:
        answer_case(args.case, run_case, RESULT_MARK)
        return

    from nmgraph.compilers.hardware import BUILTIN_NAMES

    hardware = args.hardware.split(",") if args.hardware != "all" else list(BUILTIN_NAMES)
    args.hardware = [hw.strip() for hw in hardware if hw.strip()]
    peers = [] if args.peers in ("", "none") else [p.strip() for p in args.peers.split(",")]
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        parser.error(f"unknown peers {unknown}; choose from {', '.join(PEERS)}")
    args.peers = peers
    if args.empty:
        args.sizes, args.nmgraph, args.peers = [], False, []
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nmgraph-brunel-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    if "roofline" in args.peers:  # compile it once here, not inside a timed case
        from benchmarks.build_roofline import load

        print(f"[brunel] roofline kernels: {load().__file__}", file=sys.stderr, flush=True)
    try:
        for spec in _plan(args, workdir):
            kind = spec["kind"]
            missing = _missing(kind)
            if missing:
                result = {"status": "skipped", "error": missing,
                          "spec": {k: v for k, v in spec.items() if k != "workdir"}}
                print(f"[brunel] {kind}: {missing}", file=sys.stderr)
            else:
                if kind == "spikes" and Path(spec["workdir"], "spike_units.npy").exists():
                    continue  # an nmgraph case already wrote the spike trains
                options = {k: v for k, v in spec.items()
                           if k in ("hardware", "workers", "threads", "variant")}
                print(f"[brunel] {kind} N={spec.get('n', '-')} K={spec.get('k', '-')} {options} ...",
                      file=sys.stderr, flush=True)
                result = _run_subprocess(spec, args.timeout)
                rate = _events_per_s(result)
                print(f"[brunel]   -> {result.get('status')}: {_si(rate)} events/s, peak "
                      f"{result['peak_bytes'] / GIB:.2f} GiB, case {result['case_wall_s']:.1f} s "
                      f"{result.get('error', '')}", file=sys.stderr, flush=True)
            if kind in ("prepare", "spikes"):
                if result.get("status") != "ok":
                    results.append(result)  # shown in the table so a missing peer is explained
                continue
            results.append(result)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"Brunel benchmark: {args.steps} steps of 1 ms timed after {args.warmup} untimed, median of "
          f"{args.repeats} run(s); events = synapses activated by spikes (neurons and drive).")
    print()
    print(format_report(results))
    if args.json:
        args.json.write_text(json.dumps({"argv": sys.argv, "results": results}, indent=1))


# -- the cases (each runs in its own subprocess) -------------------------------------------------------

def check_equivalence(n: int = 500, k: int = 50, steps: int = 100, seed: int = 3,
                      eta: float = 3.0) -> dict[str, Any]:
    """Run nmgraph, Brian2 and NEST on one small network built by this benchmark's own code, with
    no Poisson drive (so that all three are deterministic) and random initial ``v``, and compare
    their spikes step by step.

    The bias (``eta`` above threshold) drives the neurons. nmgraph runs on the reference backend;
    Brian2 with its NumPy target (the same network code as the benchmark's); NEST with 1 thread.

    Returns
    -------
    dict
        ``{"nmgraph": spikes, tool: {"spikes": ..., "same_until": last step with identical spikes
        (``steps`` if all are), "first_step_spikes": ...}}`` for Brian2 and NEST when installed.
    """
    import dataclasses

    import nmgraph as nm
    from benchmarks.networks import brunel, brunel_parameters
    from nmgraph.compilers.lower import lower

    params = brunel_parameters(n, k, eta=eta)
    p = dataclasses.asdict(params)
    net = brunel(n, k, seed=seed, eta=eta, drive=False)
    indptr, targets, weights, delays = global_csr(lower(net))
    if indptr.size != n + 1:
        raise RuntimeError("expected a network of neurons only")
    expected = np.repeat(np.where(np.arange(n) < params.n_exc, params.w_exc, -params.w_inh),
                         np.diff(indptr))
    if not np.array_equal(weights, expected):
        raise RuntimeError("the network's weights are not one per block")
    conn = {"sources": np.repeat(np.arange(n, dtype=np.int32), np.diff(indptr)),
            "targets": targets, "delays": delays}
    theta = params.theta
    v0 = np.random.default_rng(seed).integers(0, theta, n)
    with nm.Runtime(net, backend="reference") as rt:
        rt.set("exc", "v", v0[:params.n_exc])
        rt.set("inh", "v", v0[params.n_exc:])
        rt.run(steps)
        reference = {(int(t), int(i) + offset) for name, offset in (("exc", 0), ("inh", params.n_exc))
                     for t, i in zip(rt.spikes(name).times, rt.spikes(name).indices)}
    result: dict[str, Any] = {"nmgraph": len(reference)}

    def compare(spikes: set[tuple[int, int]]) -> dict[str, int]:
        differ = [t for t, _ in spikes ^ reference]
        return {"spikes": len(spikes), "same_until": min(differ) - 1 if differ else steps}

    if importlib.util.find_spec("brian2") is not None:
        import brian2 as b2

        b2.prefs.codegen.target = "numpy"
        b2.BrianLogger.log_level_error()
        b2_net, group, monitor, _ = _brian2_network(p, n, dict(conn), drive=False, record=True)
        group.v = v0.astype(np.float64)
        b2_net.run(steps * b2.ms)
        result["Brian2"] = compare({(round(float(t / b2.ms)) + 1, int(i))
                                    for t, i in zip(monitor.t, monitor.i)})
    if importlib.util.find_spec("nest") is not None:
        import nest

        neurons, recorder = _nest_network(p, n, dict(conn), 1, seed, drive=False)
        neurons.V_m = list(v0 * (20.0 / theta))
        nest.Simulate(float(steps))
        events = recorder.get("events")
        first = neurons[0].global_id
        result["NEST"] = compare({(round(float(t)), int(s) - first)
                                  for t, s in zip(events["times"], events["senders"])})
    return result


def answer_case(case: str, run: Any, mark: str) -> None:
    """The child side of a case run in its own subprocess: run the JSON spec ``case`` with
    ``run(spec)`` and print its result as one line ``mark + JSON`` (a failure becomes a result
    with its error; the traceback goes to stderr), with the case's own memory high-water mark (a
    floor under the sampled peak)."""
    import resource

    spec = json.loads(case)
    try:
        result = run(spec)
    except Exception as exc:  # the parent prints the row
        traceback.print_exc()
        result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:2000]}
    result["maxrss_case_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sys.stdout.write("\n" + mark + json.dumps(result) + "\n")
    sys.stdout.flush()


def run_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one case described by ``spec`` (``kind`` and its options) and return its figures."""
    kind = spec["kind"]
    runner = {"prepare": _case_prepare, "nmgraph": _case_nmgraph, "spikes": _case_nmgraph,
              "brian2": _case_brian2, "brian2-standalone": _case_brian2_standalone,
              "nest": _case_nest, "roofline": _case_roofline, "empty": _case_empty}[kind]
    return runner(spec)


def global_csr(ir: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The synapses of a lowered network as one CSR by global source unit.

    Parameters
    ----------
    ir
        A :class:`~nmgraph.compilers.ir.NetworkIR` (for example ``exe.ir``: quantized).

    Returns
    -------
    indptr : numpy.ndarray
        int64, ``n_units + 1``: the synapses of unit ``j`` are ``indptr[j]:indptr[j + 1]``, those
        of each projection in the order of ``ir.projections``, each ordered by target.
    targets : numpy.ndarray
        int32 global target unit of each synapse.
    weights : numpy.ndarray
        int16 ``w << weight_exp``: what the runtime adds to the target's input.
    delays : numpy.ndarray
        uint8 delay in steps.
    """
    n_units = ir.n_units
    degree = np.zeros(n_units, dtype=np.int64)
    for proj in ir.projections:
        pre = ir.population(proj.pre)
        degree[pre.offset:pre.stop] += np.diff(proj.indptr)
    indptr = np.zeros(n_units + 1, dtype=np.int64)
    np.cumsum(degree, out=indptr[1:])
    total = int(indptr[-1])
    targets = np.empty(total, dtype=np.int32)
    weights = np.empty(total, dtype=np.int16)
    delays = np.empty(total, dtype=np.uint8)
    fill = indptr[:-1].copy()
    for proj in ir.projections:
        pre, post = ir.population(proj.pre), ir.population(proj.post)
        counts = np.diff(proj.indptr)
        position = np.repeat(fill[pre.offset:pre.stop] - proj.indptr[:-1], counts)
        position += np.arange(proj.n_synapses, dtype=np.int64)
        effective = proj.effective_weights()
        if effective.size and (effective.min() < -(2**15) or effective.max() >= 2**15):
            raise ValueError(f"'{proj.name}': weights << weight_exp do not fit int16")
        targets[position] = proj.targets + post.offset
        weights[position] = effective
        delays[position] = proj.delays
        fill[pre.offset:pre.stop] += counts
        del position, effective
    return indptr, targets, weights, delays


def _case_prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """Build, lower and quantize the network; write the global CSR and the parameters."""
    import dataclasses

    from benchmarks.networks import brunel, brunel_parameters
    from nmgraph.compilers.hardware import load_profile
    from nmgraph.compilers.lower import lower
    from nmgraph.compilers.quantize import quantize

    folder = Path(spec["workdir"])
    folder.mkdir(parents=True, exist_ok=True)
    n, k = spec["n"], spec["k"]
    start = time.perf_counter()
    params = brunel_parameters(n, k)
    ir, _ = quantize(lower(brunel(n, k, seed=spec["seed"])), load_profile(spec["hardware0"]))
    offsets = {pop.name: (pop.offset, pop.size) for pop in ir.populations}
    if offsets.get("exc") != (0, params.n_exc) or offsets.get("inh") != (params.n_exc, params.n_inh):
        raise RuntimeError(f"unexpected population layout {offsets}")
    n_units = ir.n_units
    indptr, targets, weights, delays = global_csr(ir)
    total = int(indptr[-1])
    # The peers use one weight per block: check that the network has exactly these.
    n_neurons = params.n_exc + params.n_inh
    expected = {"exc": params.w_exc, "inh": -params.w_inh,
                "drive": params.drive_weight << params.drive_weight_exp}
    for name, (lo, hi) in {"exc": (0, params.n_exc), "inh": (params.n_exc, n_neurons),
                           "drive": (n_neurons, n_units)}.items():
        block = weights[indptr[lo]:indptr[hi]]
        if block.size and not np.all(block == expected[name]):
            raise RuntimeError(f"weights of the {name} units are not all {expected[name]}")
    drive = slice(indptr[n_neurons], total)
    if not np.array_equal(np.diff(indptr[n_neurons:]), np.ones(n_units - n_neurons, np.int64)) \
            or not np.array_equal(targets[drive], np.arange(n_neurons, dtype=np.int32)) \
            or not np.all(delays[drive] == 1):
        raise RuntimeError("the drive is not one-to-one with delay 1 in neuron order")
    for name, array in (("indptr", indptr), ("targets", targets), ("weights", weights),
                        ("delays", delays)):
        np.save(folder / f"conn_{name}.npy", array)
    meta = {"params": dataclasses.asdict(params), "n_units": n_units, "n_neurons": n_neurons,
            "synapses": total, "recurrent_synapses": int(indptr[n_neurons]),
            "populations": offsets}
    (folder / "meta.json").write_text(json.dumps(meta))
    return {"status": "ok", "seconds": None, "build_s": time.perf_counter() - start,
            "synapses": total}


def _load_meta(spec: dict[str, Any]) -> dict[str, Any]:
    path = Path(spec["workdir"], "meta.json")
    if not path.exists():
        raise RuntimeError("no connectivity file: the prepare case of this size failed")
    return json.loads(path.read_text())


def _case_nmgraph(spec: dict[str, Any]) -> dict[str, Any]:
    """Build, compile and run the network on the multicore runtime (kind ``spikes``: one run,
    then save its spike trains for the roofline)."""
    import nmgraph as nm
    from benchmarks.networks import brunel
    from nmgraph.core.errors import MappingError

    folder = Path(spec["workdir"])
    folder.mkdir(parents=True, exist_ok=True)
    save = spec["kind"] == "spikes"  # the helper run for the roofline, not timed in the table
    n, k, steps, warmup = spec["n"], spec["k"], spec["steps"], spec["warmup"]
    repeats = 1 if save else spec["repeats"]
    start = time.perf_counter()
    net = brunel(n, k, seed=spec["seed"])
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    try:
        exe = nm.compile(net, hardware=spec["hardware"])
    except MappingError as exc:
        return {"status": "no-fit", "error": f"does not fit: {exc}"[:400], "build_s": build_s}
    compile_s = time.perf_counter() - start
    del net
    neurons = [pop for pop in exe.ir.populations if not pop.is_source]
    n_neurons = sum(pop.size for pop in neurons)
    runs = []
    start = time.perf_counter()
    with nm.Runtime(exe, backend="multicore", workers=spec["workers"]) as rt:
        start_s = time.perf_counter() - start   # worker programs built, workers started
        rt.run(warmup)
        for _ in range(repeats):
            before = rt.counters
            begin = time.perf_counter()
            rt.run(steps)
            seconds = time.perf_counter() - begin
            after = rt.counters
            spikes = sum(after.per_process[p.name]["spikes"] - before.per_process[p.name]["spikes"]
                         for p in neurons)
            runs.append({"seconds": seconds, "events": after.synaptic_ops - before.synaptic_ops,
                         "spikes": spikes, "all_spikes": after.spikes - before.spikes})
        n_workers = getattr(rt.backend, "n_workers", spec["workers"])
        window = getattr(rt.backend, "window", None)
    if save:  # after the workers have stopped: the runtime's spikes stay readable
        _save_spikes(rt, exe, folder, warmup, steps, runs[0]["events"])
    median = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {"status": "ok", **median, "steps": steps, "runs": runs, "build_s": build_s,
            "compile_s": compile_s, "start_s": start_s, "compile_timings_s": exe.options.get("timings_s"),
            "cores": exe.n_cores, "workers": n_workers, "window": window,
            "synapses": exe.ir.n_synapses, "rate_hz": _mean_rate(runs, n_neurons, steps),
            "note": "" if n_workers == spec["workers"] else f"ran on {n_workers} worker(s)"}


def _save_spikes(rt: Any, exe: Any, folder: Path, warmup: int, steps: int, events: int) -> None:
    """Write the first timed run's spikes (global unit ids, CSR by step) for the roofline."""
    units, times = [], []
    for pop in exe.ir.populations:
        ev = rt.spikes(pop.name)
        keep = (ev.times > warmup) & (ev.times <= warmup + steps)
        units.append((ev.indices[keep] + pop.offset).astype(np.int32))
        times.append((ev.times[keep] - warmup).astype(np.int64))
    unit = np.concatenate(units)
    step = np.concatenate(times)
    order = np.argsort(step, kind="stable")
    unit = unit[order]
    step_ptr = np.zeros(steps + 1, dtype=np.int64)
    np.cumsum(np.bincount(step - 1, minlength=steps), out=step_ptr[1:])
    degree = exe.routing_out_degree
    if int(degree[unit].sum()) != events:  # the same run: the same events
        raise RuntimeError(f"saved spikes give {int(degree[unit].sum())} events, the run {events}")
    np.save(folder / "spike_step_ptr.npy", step_ptr)
    np.save(folder / "spike_units.npy", unit)


def _mean_rate(runs: list[dict[str, Any]], n_neurons: int, steps: int) -> float:
    """Mean firing rate (Hz) of the neurons over all timed runs."""
    return sum(run["spikes"] for run in runs) / n_neurons / (len(runs) * steps * 1e-3)


def _out_degree(folder: Path, n_neurons: int) -> np.ndarray:
    return np.diff(np.load(folder / "conn_indptr.npy")[:n_neurons + 1])


def _recurrent(folder: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """Sources, targets and delays (steps) of the synapses between neurons, in CSR order."""
    n_neurons, count = meta["n_neurons"], meta["recurrent_synapses"]
    indptr = np.load(folder / "conn_indptr.npy")[:n_neurons + 1]
    sources = np.repeat(np.arange(n_neurons, dtype=np.int32), np.diff(indptr))
    targets = np.load(folder / "conn_targets.npy", mmap_mode="r")[:count].copy()
    delays = np.load(folder / "conn_delays.npy", mmap_mode="r")[:count].copy()
    return {"sources": sources, "targets": targets, "delays": delays}


def _brian2_network(p: dict[str, Any], n: int, conn: dict[str, np.ndarray], *,
                    drive: bool = True, record: bool = False) -> tuple[Any, Any, Any, Any]:
    """The Brunel network in Brian2 (see the module docstring).

    ``p``: the BrunelParameters as a dict; ``conn``: ``sources``, ``targets`` (neuron ids) and
    ``delays`` (nmgraph steps) of the recurrent synapses, sorted by source; they are popped, so
    that Brian2's copies are the only ones left. Returns the Network, the NeuronGroup and the spike
    monitors of the neurons and of the drive (None without drive).
    """
    import brian2 as b2

    n_exc = p["n_exc"]
    b2.defaultclock.dt = 1 * b2.ms
    decay = 1 - p["dv"] / 4096
    namespace = {
        "tau": -1 * b2.ms / math.log(decay), "mu": (p["bias_mant"] << p["bias_exp"]) / (1 - decay),
        "theta": float(p["vth"] << 6), "w_exc": float(p["w_exc"] << 6),
        "w_inh": float(-p["w_inh"] << 6),
        "w_drive": float(p["drive_weight"] << (6 + p["drive_weight_exp"])),
    }
    group = b2.NeuronGroup(n, "dv/dt = (mu - v) / tau : 1", threshold="v > theta", reset="v = 0",
                           method="exact", namespace=namespace, name="neurons")
    sources, targets, delays = conn.pop("sources"), conn.pop("targets"), conn.pop("delays")
    split = int(np.searchsorted(sources, n_exc))
    exc = b2.Synapses(group[:n_exc], group, on_pre="v_post += w_exc", namespace=namespace,
                      name="exc_synapses")
    exc.connect(i=sources[:split], j=targets[:split])
    exc.delay = (delays[:split].astype(np.float64) - 1) * b2.ms  # the schedule is shifted
    inh = b2.Synapses(group[n_exc:], group, on_pre="v_post += w_inh", namespace=namespace,
                      name="inh_synapses")
    inh.connect(i=sources[split:] - n_exc, j=targets[split:])
    inh.delay = (delays[split:].astype(np.float64) - 1) * b2.ms
    del sources, targets, delays
    neuron_monitor = b2.SpikeMonitor(group, record=record, name="neuron_spikes")
    objects = [group, exc, inh, neuron_monitor]
    drive_monitor = None
    if drive:
        poisson = b2.PoissonGroup(n, rates=p["drive_rate"] / b2.defaultclock.dt, name="drive")
        synapses = b2.Synapses(poisson, group, on_pre="v_post += w_drive", namespace=namespace,
                               name="drive_synapses")
        synapses.connect(j="i")  # delay 0 here is nmgraph's 1 (the schedule is shifted)
        drive_monitor = b2.SpikeMonitor(poisson, record=False, name="drive_spikes")
        objects += [poisson, synapses, drive_monitor]
    net = b2.Network(*objects)
    net.schedule = BRIAN2_SCHEDULE
    return net, group, neuron_monitor, drive_monitor


def _case_brian2(spec: dict[str, Any]) -> dict[str, Any]:
    """Brian2's Cython runtime: build, warm up (compiles the code), then time ``run``."""
    import brian2 as b2

    b2.prefs.codegen.target = "cython"
    b2.BrianLogger.log_level_error()
    folder = Path(spec["workdir"])
    meta = _load_meta(spec)
    n = meta["n_neurons"]
    degree = _out_degree(folder, n)
    start = time.perf_counter()
    net, _, neuron_monitor, drive_monitor = _brian2_network(meta["params"], n, _recurrent(folder, meta))
    net.run(spec["warmup"] * b2.ms)
    build_s = time.perf_counter() - start
    runs = []
    for _ in range(spec["repeats"]):
        counts = np.array(neuron_monitor.count[:])
        drive_before = drive_monitor.num_spikes
        begin = time.perf_counter()
        net.run(spec["steps"] * b2.ms)
        seconds = time.perf_counter() - begin
        counts = np.array(neuron_monitor.count[:]) - counts
        drive = drive_monitor.num_spikes - drive_before
        runs.append({"seconds": seconds, "events": int(counts @ degree) + int(drive),
                     "spikes": int(counts.sum()), "drive_spikes": int(drive)})
    median = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {"status": "ok", **median, "steps": spec["steps"], "runs": runs, "build_s": build_s,
            "synapses": meta["synapses"], "version": b2.__version__,
            "rate_hz": _mean_rate(runs, n, spec["steps"])}


def _case_brian2_standalone(spec: dict[str, Any]) -> dict[str, Any]:
    """Brian2's C++ standalone device (this process only: ``set_device`` is global)."""
    import brian2 as b2

    b2.BrianLogger.log_level_error()
    folder = Path(spec["workdir"])
    meta = _load_meta(spec)
    n = meta["n_neurons"]
    degree = _out_degree(folder, n)
    build_dir = folder / f"standalone_{spec['threads']}"
    b2.set_device("cpp_standalone", directory=str(build_dir), build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = int(spec["threads"])
    start = time.perf_counter()
    net, _, neuron_monitor, drive_monitor = _brian2_network(meta["params"], n, _recurrent(folder, meta))
    neuron_monitor.active = drive_monitor.active = False
    net.run(spec["warmup"] * b2.ms)
    neuron_monitor.active = drive_monitor.active = True
    net.run(spec["steps"] * b2.ms)
    b2.device.build(directory=str(build_dir), compile=True, run=True, with_output=False)
    total = time.perf_counter() - start
    seconds = float(b2.device._last_run_time)  # the timed run() alone, as the binary measured it
    counts = np.array(neuron_monitor.count[:])
    drive = int(drive_monitor.num_spikes)
    shutil.rmtree(build_dir, ignore_errors=True)
    return {"status": "ok", "seconds": seconds, "events": int(counts @ degree) + drive,
            "spikes": int(counts.sum()), "drive_spikes": drive, "steps": spec["steps"],
            "build_s": total - seconds, "synapses": meta["synapses"], "version": b2.__version__,
            "rate_hz": int(counts.sum()) / n / (spec["steps"] * 1e-3),
            "note": f"openmp_threads={spec['threads']}; one timed run"}


def _nest_network(p: dict[str, Any], n: int, conn: dict[str, np.ndarray], threads: int,
                  seed: int, *, drive: bool = True) -> tuple[Any, Any]:
    """The Brunel network in NEST (see the module docstring), after ``ResetKernel``.

    ``conn`` as for :func:`_brian2_network` (popped). Returns the neurons (``iaf_psc_delta``,
    ``v`` in mV = nmgraph's units times ``20 / theta``) and a spike recorder connected to them.
    """
    import nest

    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:  # older NEST
        nest.set_verbosity("M_ERROR")
    n_exc = p["n_exc"]
    theta = p["vth"] << 6
    scale = 20.0 / theta  # mV per unit of nmgraph's v: theta is 20 mV
    decay = 1 - p["dv"] / 4096
    tau_m = -1.0 / math.log(decay)
    c_m = 1.0
    bias = (p["bias_mant"] << p["bias_exp"]) * scale  # mV added per step
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": 1.0, "local_num_threads": int(threads),
                          "rng_seed": int(seed) + 1})
    neurons = nest.Create("iaf_psc_delta", n, params={
        "tau_m": tau_m, "C_m": c_m, "E_L": 0.0, "V_reset": 0.0, "V_m": 0.0, "t_ref": 0.0,
        "V_th": (theta + 0.5) * scale, "I_e": bias * c_m / (tau_m * (1 - decay))})
    first = neurons[0].global_id
    sources, targets, delays = conn.pop("sources"), conn.pop("targets"), conn.pop("delays")
    chunk = 1 << 23
    for lo in range(0, sources.size, chunk):
        hi = min(sources.size, lo + chunk)
        src = sources[lo:hi]
        weight = np.where(src < n_exc, (p["w_exc"] << 6) * scale, (-p["w_inh"] << 6) * scale)
        nest.Connect(src.astype(np.int64) + first, targets[lo:hi].astype(np.int64) + first,
                     "one_to_one", {"synapse_model": "static_synapse", "weight": weight,
                                    "delay": delays[lo:hi].astype(np.float64)})
    del sources, targets, delays
    if drive:
        generator = nest.Create("poisson_generator", params={"rate": p["drive_rate"] * 1000.0})
        nest.Connect(generator, neurons, "all_to_all",
                     {"weight": (p["drive_weight"] << (6 + p["drive_weight_exp"])) * scale,
                      "delay": 1.0})
    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    return neurons, recorder


def _case_nest(spec: dict[str, Any]) -> dict[str, Any]:
    """NEST's ``iaf_psc_delta`` network over the same connectivity (see the module docstring)."""
    import nest

    folder = Path(spec["workdir"])
    meta = _load_meta(spec)
    p = meta["params"]
    n = meta["n_neurons"]
    degree = _out_degree(folder, n)
    start = time.perf_counter()
    neurons, recorder = _nest_network(p, n, _recurrent(folder, meta), spec["threads"], spec["seed"])
    first = neurons[0].global_id
    nest.Prepare()
    nest.Run(float(spec["warmup"]))
    build_s = time.perf_counter() - start
    runs = []
    expected_drive = round(p["drive_rate"] * n * spec["steps"])
    for _ in range(spec["repeats"]):
        seen = int(recorder.get("n_events"))
        begin = time.perf_counter()
        nest.Run(float(spec["steps"]))
        seconds = time.perf_counter() - begin
        senders = np.asarray(recorder.get("events")["senders"], dtype=np.int64)[seen:] - first
        runs.append({"seconds": seconds, "events": int(degree[senders].sum()) + expected_drive,
                     "spikes": int(senders.size)})
    nest.Cleanup()
    median = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {"status": "ok", **median, "steps": spec["steps"], "runs": runs, "build_s": build_s,
            "synapses": meta["synapses"], "version": nest.__version__,
            "rate_hz": _mean_rate(runs, n, spec["steps"]),
            "note": "drive events: expected count"}


def _case_roofline(spec: dict[str, Any]) -> dict[str, Any]:
    """Time a roofline kernel over the nmgraph run's connectivity and spike trains (variants:
    ``ROOFLINE_VARIANTS``)."""
    from benchmarks.build_roofline import load

    roofline = load()  # built by main() before the cases run

    folder = Path(spec["workdir"])
    meta = _load_meta(spec)
    if not (folder / "spike_units.npy").exists():
        raise RuntimeError("no spike trains: the nmgraph case of this size failed")
    conn = {name: np.load(folder / f"conn_{name}.npy")
            for name in ("indptr", "targets", "weights", "delays")}
    step_ptr = np.load(folder / "spike_step_ptr.npy")
    units = np.load(folder / "spike_units.npy")
    n_units = meta["n_units"]
    variant = spec["variant"]
    extra: dict[str, Any] = {}
    note = "nmgraph's spike trains (neurons and drive), 1 core"
    if variant == "bandwidth":
        rate = roofline.read_bandwidth(1 << 30)
        events = int(np.sum(np.diff(conn["indptr"])[units]))
        seconds = events * TARGET_BYTES / rate
        runs = [{"seconds": seconds, "events": events, "checksum": 0}]
        extra = {"bytes_per_s": rate}
        note = (f"bound: {rate / 1e9:.1f} GB/s sequential read of 1 core / {TARGET_BYTES} bytes "
                "per event (a 2-byte target; segments add < 1%)")
    elif variant in ("tuned", "tuned-2cores", "stream"):
        rows = roofline.blocked_rows(conn["indptr"], conn["targets"], conn["weights"])
        del conn
        ahead, unroll, tuning = _tune(roofline, rows, step_ptr, units, stream=variant == "stream")
        extra = {"ahead": ahead, "unroll": unroll, "tuning": tuning}
        if variant == "tuned-2cores":
            runs = _two_cores(roofline, rows, step_ptr, units, ahead, unroll, spec["repeats"])
            note = (f"the tuned loop on 2 cores at once, each on half the targets (as 2 workers "
                    f"split them); ahead {ahead}, unroll {unroll}")
        else:
            runs = []
            for _ in range(spec["repeats"]):
                begin = time.perf_counter()
                if variant == "stream":
                    events, checksum = roofline.stream_rows(*rows, step_ptr, units, ahead)
                else:
                    events, checksum = roofline.scatter_add_tuned(*rows, step_ptr, units, ahead,
                                                                  unroll)
                runs.append({"seconds": time.perf_counter() - begin, "events": events,
                             "checksum": checksum})
            note = (f"rows of 2-byte targets read, nothing added; ahead {ahead}" if variant == "stream"
                    else f"2-byte targets, a weight per segment; ahead {ahead}, unroll {unroll}; "
                         "1 core")
    else:
        runs = []
        for _ in range(spec["repeats"]):
            begin = time.perf_counter()
            if variant == "bare":
                events, checksum = roofline.scatter_add(conn["indptr"], conn["targets"],
                                                        conn["weights"], step_ptr, units, n_units)
            else:
                events, checksum = roofline.scatter_add_delayed(
                    conn["indptr"], conn["targets"], conn["weights"], conn["delays"], step_ptr,
                    units, n_units)
            runs.append({"seconds": time.perf_counter() - begin, "events": events,
                         "checksum": checksum})
    median = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {"status": "ok", **median, "steps": int(step_ptr.size - 1), "runs": runs,
            "synapses": meta["synapses"], "spikes": int(np.count_nonzero(units < meta["n_neurons"])),
            "all_spikes": int(units.size), "note": note, **extra}


#: Bytes one synaptic event must fetch at the least: its 2-byte target (weights are shared).
TARGET_BYTES = 2
#: The roofline kernels of the table, in order (see ``_case_roofline``).
ROOFLINE_VARIANTS = ("bare", "delayed", "tuned", "tuned-2cores", "stream", "bandwidth")


def _tune(roofline: Any, rows: tuple, step_ptr: np.ndarray, units: np.ndarray,
          stream: bool = False) -> tuple[int, int, dict[str, float]]:
    """The prefetch distance and unroll factor that run the first fifth of the steps fastest
    (best of two tries each); ``stream``: tune the distance of :func:`stream_rows` only."""
    steps = max(1, (step_ptr.size - 1) // 5)
    head = step_ptr[:steps + 1]
    spikes = units[:int(head[-1])]
    tried: dict[str, float] = {}
    for ahead in roofline.TUNE_AHEAD:
        for unroll in ((1,) if stream else roofline.TUNE_UNROLL):
            best = math.inf
            for _ in range(2):
                begin = time.perf_counter()
                if stream:
                    events, _ = roofline.stream_rows(*rows, head, spikes, ahead)
                else:
                    events, _ = roofline.scatter_add_tuned(*rows, head, spikes, ahead, unroll)
                best = min(best, time.perf_counter() - begin)
            tried[f"{ahead}/{unroll}"] = events / best if best > 0 else 0.0
    ahead, unroll = (int(x) for x in max(tried, key=tried.get).split("/"))
    return ahead, unroll, tried


def _two_cores(roofline: Any, rows: tuple, step_ptr: np.ndarray, units: np.ndarray, ahead: int,
               unroll: int, repeats: int) -> list[dict[str, Any]]:
    """The tuned scatter-add in two forked processes at once, each on the synapses of its half of
    the targets (every spike's row split in two, as between two workers); a run's time is from
    the common start to the later end."""
    import multiprocessing as mp

    row_seg, segments, tgt = rows
    n_rows = row_seg.size - 1
    width = int(segments["base"].max()) + int(tgt.max()) + 1 if tgt.size else 1
    cut = width // 2
    target = np.repeat(segments["base"][:-1], np.diff(segments["start"])) + tgt
    source_of = np.repeat(np.arange(n_rows), np.diff(segments["start"][row_seg]))
    halves = []
    weight = np.repeat(segments["weight"][:-1], np.diff(segments["start"])).astype(np.int16)
    for first, keep in ((0, target < cut), (cut, target >= cut)):
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(source_of[keep], minlength=n_rows), out=indptr[1:])
        # each half's accumulator starts at its first target, as a worker's does
        halves.append(roofline.blocked_rows(indptr, (target[keep] - first).astype(np.int32),
                                            weight[keep]))
    del target, source_of, weight
    ctx = mp.get_context("fork")
    runs = []
    for _ in range(repeats):
        barrier = ctx.Barrier(3)
        queue = ctx.SimpleQueue()

        def child(half: tuple, barrier: Any = barrier, queue: Any = queue) -> None:
            barrier.wait()
            events, checksum = roofline.scatter_add_tuned(*half, step_ptr, units, ahead, unroll)
            queue.put((time.perf_counter(), events, checksum))

        procs = [ctx.Process(target=child, args=(half,)) for half in halves]
        for proc in procs:
            proc.start()
        barrier.wait()
        begin = time.perf_counter()
        done = [queue.get() for _ in procs]
        for proc in procs:
            proc.join()
        runs.append({"seconds": max(end for end, _, _ in done) - begin,
                     "events": sum(events for _, events, _ in done),
                     "checksum": sum(checksum for _, _, checksum in done)})
    return runs


def empty_executable(idle_synapse: bool) -> Any:
    """Two LIF neurons without input (they never spike), one per core; with ``idle_synapse``, a
    delay-1 synapse from one to the other that never carries a spike (so that two workers or
    ranks exchange every step)."""
    import nmgraph as nm
    from nmgraph.processes import LIF, Sparse

    net = nm.Network("empty")
    idle = net.add(LIF(2, du=4095, dv=0, vth=1000, name="idle"))  # no input: never spikes
    if idle_synapse:
        syn = net.add(Sparse((np.array([1]), np.array([0]), np.array([1], dtype=np.int16)),
                             shape=(2, 2), delay=1, name="idle_synapse"))
        net.connect(idle.s_out, syn.s_in)
        net.connect(syn.a_out, idle.a_in)
    return nm.compile(net, hardware="generic", max_neurons_per_core=1)


def _case_empty(spec: dict[str, Any]) -> dict[str, Any]:
    """Per-step cost of the multicore runtime on networks with (almost) nothing to do."""
    import nmgraph as nm

    rows = []
    for variant in ("no synapses", "one idle delay-1 synapse across workers"):
        exe = empty_executable(variant != "no synapses")
        for workers in (1, 2):
            with nm.Runtime(exe, backend="multicore", workers=workers) as rt:
                rt.run(min(1000, spec["steps"]))
                times = []
                for _ in range(spec["repeats"]):
                    begin = time.perf_counter()
                    rt.run(spec["steps"])
                    times.append(time.perf_counter() - begin)
                rows.append({"variant": variant, "workers": getattr(rt.backend, "n_workers", workers),
                             "window": getattr(rt.backend, "window", None), "cores": exe.n_cores,
                             "us_per_step": statistics.median(times) / spec["steps"] * 1e6})
    return {"status": "ok", "rows": rows}


if __name__ == "__main__":
    main()
