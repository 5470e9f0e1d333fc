"""MPI ranks against shared-memory workers on the Brunel network, in one invocation.

    python -m benchmarks.mpi                                # 80k: 1w, 2w, 2 ranks; empty; check
    python -m benchmarks.mpi --sizes 20000:400 --steps 500  # another size
    python -m benchmarks.mpi --empty                        # only the per-window exchange cost
    python -m benchmarks.mpi --check                        # only: 2 ranks give 2 workers' spikes
    python -m benchmarks.mpi --no-host --no-empty --no-check --rounds 5

Run from the repository root with mpi4py and an MPI library installed (``pip install -e
".[mpi]"``: MPICH from PyPI puts ``mpiexec`` beside the venv's Python; else the first ``mpiexec``
on PATH, or ``--mpiexec``). Every case runs in its own subprocess, once the machine has been idle
for a second (``benchmarks.brunel.wait_until_quiet``); the case prints its figures as JSON and the
parent prints one markdown table, the ratios and the targets. ``--json out.json`` keeps it all.

The cases
---------
The network is :func:`benchmarks.networks.brunel` (``N`` LIF neurons, fixed in-degree ``K``, delays
of 1 or 2 steps, bias and one-to-one Poisson drive, ``dt`` = 1 ms: the network of
``benchmarks/brunel.py``), compiled for ``--hardware`` (generic). Its shortest delay is one step,
so with two workers or ranks the window is one step: every step ends with an exchange.

* ``1 worker``, ``2 workers``: ``nm.Runtime(exe, backend="multicore", workers=1 or 2)``, the
  shared-memory runtime (forked workers, a spin/futex barrier, mailboxes in shared memory).
* ``2 ranks (SPMD)``: ``mpiexec -n 2 python -m benchmarks.mpi --case ...``; every rank builds and
  compiles the same network and opens ``nm.Runtime(exe, backend="mpi")``; the ranks meet at a
  barrier before each timed run, and rank 0 times it (``rt.run`` returns on rank 0 once every
  rank's reply is gathered: the slower rank's time) and prints the result.
* ``2 ranks (host)``: ``nm.Runtime(exe, backend="mpi", ranks=2)`` in one process, which starts
  ``mpiexec`` itself and drives the ranks over loopback sockets; timed in that process
  (``--no-host`` leaves it out).

Each case builds and compiles the network (untimed), runs ``--warmup`` steps (untimed), then
``--repeats`` timed runs of ``--steps`` steps. The cases run in turn, ``--rounds`` times, so that
a slow spell of the shared machine falls on all of them; a case's figure is the median of all its
timed runs, and the targets also give the ratio within each round. **Synaptic events** are
``Counters.synaptic_ops`` over the timed run (one per synapse per spike of its source, neurons and
drive) over its wall time, as in ``benchmarks/brunel.py``. **CPUs busy**: CPU time of the case's
processes (workers or ranks, host, ``mpiexec``) over the wall time of the median run.

In the first round, the 2-worker and the SPMD cases then run ``--steps`` more steps with the
exchange of each worker or rank timed window by window (a stand-in for its exchange core that
times each call; the shared-memory one through the runtime's ``transport=`` option, in a second
Runtime): the compute of each window (from the end of one exchange to the start of the next:
delivering the last window's spikes and running this one), the exchange, and inside an MPI
exchange the waits for the window's counts and for the payloads. Not part of the table.

``--empty``: the cost of one exchange on 2 ranks (SPMD). Two idle LIF neurons (no input: they
never spike), one per core, and one delay-1 synapse from one to the other: each rank holds one
core and the window is one step, so every step is an exchange (``--empty-steps`` steps, median of
``--repeats``); the same network without the synapse (windows of many steps); and, in the same
ranks, loops of the exchange's parts alone: mpi4py's ``Ialltoall`` of one int64 per rank
completed by a ``Testall`` spin, the same completed by nmgraph's ``wait_requests``, and
``MPIExchange.exchange_counts`` with nothing to send. The shared-memory rows are
``benchmarks.brunel``'s empty case.

``--check``: a small Brunel network (``--check-size`` 4000:400, ``--check-steps`` 300) on 2
workers, 1 worker, 2 ranks (SPMD) and 2 ranks (host); every population's spikes and the neurons'
final ``v`` must equal the 2-worker run's, bit for bit.

Without ``--empty`` or ``--check`` all three parts run (``--no-empty``, ``--no-check`` skip one).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.brunel import (
    GIB,
    REPO_ROOT,
    _case_empty,
    _mean_rate,
    _short,
    _si,
    answer_case,
    empty_executable,
    parse_sizes,
)
from benchmarks.brunel import (
    _run_subprocess as run_case_process,
)

__all__ = ["main", "run_case"]

RESULT_MARK = "@@mpi-result "
DEFAULT_SIZES = "80000:400"
#: Target ratio of events/s: 2 ranks over 2 shared-memory workers.
RANKS_TARGET = 0.90
#: Target cost of one exchange (a window of one step) of an empty network on 2 ranks, in us.
EMPTY_TARGET_US = 20.0
#: Case kinds that run inside an ``mpiexec`` job (every rank runs the case).
SPMD_KINDS = frozenset({"spmd", "empty-spmd"})
LABELS = {"shm": "{workers} worker{s}", "spmd": "{ranks} ranks (SPMD)",
          "host": "{ranks} ranks (host)"}


# -- the parent ---------------------------------------------------------------------------------------

def _run_subprocess(spec: dict[str, Any], timeout: float, mpiexec: str | None) -> dict[str, Any]:
    """Run one case in a fresh interpreter, under ``mpiexec -n ranks`` for an SPMD case (as
    brunel.py runs its cases)."""
    launcher = (mpiexec, "-n", str(spec["ranks"])) if spec["kind"] in SPMD_KINDS else ()
    return run_case_process(spec, timeout, module="benchmarks.mpi", launcher=launcher,
                            mark=RESULT_MARK)


def _tree_state() -> str:
    """The commit of the code measured, and the source files changed since (if any)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no",
                                        "--", "runtimes", "compilers", "nmgraph").splitlines()]
    return f"commit {commit}" + (f" with uncommitted changes to {', '.join(changed)}"
                                 if changed else "")


def _label(spec: dict[str, Any]) -> str:
    workers = spec.get("workers", 0)
    return LABELS[spec["mode"]].format(workers=workers, ranks=spec.get("ranks"),
                                       s="s" if workers != 1 else "")


def _rate(result: dict[str, Any] | None) -> float | None:
    if not result or result.get("status") != "ok" or not result.get("seconds"):
        return None
    return result["events"] / result["seconds"]


def _find(results: list[dict[str, Any]], size: tuple[int, int], mode: str,
          **spec: Any) -> dict[str, Any] | None:
    for result in results:
        s = result["spec"]
        if (s["kind"] in ("shm", "spmd", "host") and s["mode"] == mode
                and (s["n"], s["k"]) == size and all(s.get(k) == v for k, v in spec.items())):
            return result
    return None


def format_report(results: list[dict[str, Any]], steps: int, warmup: int, repeats: int,
                  rounds: int = 1) -> str:
    """The markdown tables, the ratios and the diagnosis of one invocation's results."""
    from nmgraph.core import markdown

    lines: list[str] = []
    timed = [r for r in results if r["spec"]["kind"] in ("shm", "spmd", "host")]
    sizes = list(dict.fromkeys((r["spec"]["n"], r["spec"]["k"]) for r in timed))
    if timed:
        lines += [f"Brunel network, {steps} steps of 1 ms timed after {warmup} untimed; each "
                  f"case ran in {rounds} round(s) of {repeats} timed run(s), the cases in turn; "
                  f"the figures are the median of all its runs; events = synapses activated by "
                  f"spikes (neurons and drive).", ""]
        header = ("case", "N", "K", "cores", "window", "spikes", "synaptic events/s", "ms / step",
                  "CPUs busy", "peak GiB", "vs 2 workers", "note")
        rows = []
        for size in sizes:
            base = _rate(_find(results, size, "shm", workers=2))
            for result in timed:
                spec = result["spec"]
                if (spec["n"], spec["k"]) != size:
                    continue
                ok = result.get("status") == "ok"
                rate = _rate(result)
                rows.append([
                    _label(spec), f"{size[0]:,}", f"{size[1]:,}",
                    str(result.get("cores", "-")), str(result.get("window", "-")),
                    f"{result['spikes']:,}" if ok else "-", _si(rate),
                    f"{1e3 * result['seconds'] / result['steps']:.3f}" if ok else "-",
                    f"{result['cpu_busy']:.2f}" if ok and result.get("cpu_busy") else "-",
                    f"{result['peak_bytes'] / GIB:.2f}" if result.get("peak_bytes") else "-",
                    f"{rate / base:.2f}x" if rate and base else "-",
                    result.get("note", "") if ok else _short(result.get("error", "failed"))])
        lines += [markdown.table(header, rows), ""]
    for size in sizes:
        here = [r for r in timed if (r["spec"]["n"], r["spec"]["k"]) == size
                and r.get("status") == "ok"]
        # every round runs the same steps, so every case has the same set of runs
        seen = {frozenset((run["spikes"], run["all_spikes"], run["events"]) for run in r["runs"])
                for r in here}
        if len(seen) > 1:
            lines.append(f"- WARNING: the cases at N={size[0]:,} disagree on spikes or events "
                         f"{sorted(seen)}: they must be identical (bit-exact runtime)")
        elif here:
            lines.append(f"- N={size[0]:,}: all {len(here)} cases gave the same spikes and events "
                         f"in every repeat")
        for result in here:
            if "placement" in result:
                p = result["placement"]
                loads = " / ".join(f"{100 * x:.1f}%" for x in p["load"])
                cores = " / ".join(map(str, p["cores"]))
                lines.append(f"- {_label(result['spec'])} placement: {p['strategy']}, cores "
                             f"{cores}, load {loads}; measured {p['messages_per_step']:.0f} "
                             f"messages/step between ranks")
        for result in here:
            rates = [run["events"] / run["seconds"] for run in result["runs"]]
            rounds = [_si(rate) for _, rate in sorted(result.get("round_rates", {}).items())]
            lines.append(f"- {_label(result['spec'])} at N={size[0]:,}: {len(rates)} timed runs, "
                         f"{_si(min(rates))} to {_si(max(rates))} events/s; median of each "
                         f"round {', '.join(rounds)}")
    lines += _diagnosis(timed)
    lines += _empty_lines(results)
    lines += _check_lines(results)
    loads = [x for r in results for x in r.get("loads", [r.get("load_avg")]) if x is not None]
    cpus = os.cpu_count() or 1
    if loads:
        busy = max(loads) > cpus + 0.5
        lines.append(f"- machine load (1-minute load average at the end of each case): "
                     f"{min(loads):.1f} to {max(loads):.1f} on {cpus} CPUs"
                     + ("; ABOVE the CPU count: other work shared the CPUs, timings not reliable"
                        if busy else ""))
    lines += ["", "Targets:", "", markdown.table(("target", "measured", "met"),
                                                   targets(results))]
    return "\n".join(lines)


def _diagnosis(timed: list[dict[str, Any]]) -> list[str]:
    """Where a step goes, window by window (the profiled run after the timed ones)."""
    lines = []
    for result in timed:
        prof = result.get("profile")
        if result.get("status") != "ok" or not prof:
            continue
        spec = result["spec"]
        wall, critical = prof["wall_per_window_us"], prof["critical_compute_mean_us"]
        lines.append(f"- {_label(spec)} at N={spec['n']:,}, profiled run of {prof['steps']} steps "
                     f"({prof['windows']} windows): {wall:.0f} us per window = the slowest "
                     f"worker's compute {critical:.0f} us (median {prof['critical_compute_median_us']:.0f}; "
                     f"imbalance between the two {prof['imbalance_mean_us']:.0f}) + "
                     f"{wall - critical:.0f} us of exchange and commands")
        for rank, row in enumerate(prof["ranks"]):
            text = (f"  - {'rank' if spec['mode'] == 'spmd' else 'worker'} {rank}: compute per "
                    f"window median {row['compute_median_us']:.0f} us, mean "
                    f"{row['compute_mean_us']:.0f} us; exchange median "
                    f"{row['exchange_median_us']:.1f} us, mean {row['exchange_mean_us']:.1f} us")
            if spec["mode"] == "spmd":
                rest = row["exchange_mean_us"] - row["wait_counts_mean_us"] - \
                    row["wait_payload_mean_us"]
                text += (f" (waiting for the window's counts {row['wait_counts_mean_us']:.1f}, "
                         f"for the payloads {row['wait_payload_mean_us']:.1f}, the rest: Python, "
                         f"posting and testing the requests {rest:.1f})")
            lines.append(text)
    return lines


def _empty_lines(results: list[dict[str, Any]]) -> list[str]:
    lines = []
    for result in results:
        kind = result["spec"]["kind"]
        if kind not in ("empty-spmd", "empty-shm"):
            continue
        if result.get("status") != "ok":
            lines.append(f"- empty network ({kind}): {_short(result.get('error', 'failed'))}")
            continue
        for row in result["rows"]:
            who = (f"{row['ranks']} ranks" if kind == "empty-spmd"
                   else f"{row['workers']} worker{'s' if row['workers'] != 1 else ''}")
            lines.append(f"- empty network ({row['variant']}), {who}: {row['us_per_step']:.2f} us "
                         f"per step, window {row['window']} step(s), {row['cores']} cores"
                         + (f", cores per rank {row['cores_per_rank']}"
                            if "cores_per_rank" in row else ""))
        for row in result.get("loops", []):
            lines.append(f"- {row['what']}, {row['ranks']} ranks: {row['us']:.2f} us per call "
                         f"(median of {row['repeats']} loops of {row['calls']})")
    return lines


def _check_lines(results: list[dict[str, Any]]) -> list[str]:
    return [f"- check: {row}" for result in results if result["spec"]["kind"] == "check"
            for row in result["lines"]]


def targets(results: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """``(target, measured, met)`` for the ratios and the empty-network exchange."""
    out: list[tuple[str, str, str]] = []
    sizes = list(dict.fromkeys((r["spec"]["n"], r["spec"]["k"]) for r in results
                               if r["spec"]["kind"] in ("shm", "spmd", "host")))
    for size in sizes:
        at = f"N={size[0]:,} K={size[1]}"
        one = _rate(_find(results, size, "shm", workers=1))
        two = _rate(_find(results, size, "shm", workers=2))
        for mode in ("spmd", "host"):
            ranks = _rate(_find(results, size, mode, ranks=2))
            if ranks is None and mode == "host":
                continue
            value = ranks / two if ranks and two else None
            how = "SPMD" if mode == "spmd" else "driven from the host"
            spread = _round_ratios(_find(results, size, mode, ranks=2),
                                   _find(results, size, "shm", workers=2))
            out.append((f"{at}: 2 ranks ({how}) >= {RANKS_TARGET:.2f} x 2 shared-memory workers",
                        f"{value:.3f}{spread}" if value else "-",
                        ("yes" if value >= RANKS_TARGET else "no") if value else "not measured"))
        value = two / one if one and two else None
        spread = _round_ratios(_find(results, size, "shm", workers=2),
                               _find(results, size, "shm", workers=1))
        out.append((f"{at}: 2 workers / 1 worker (for reference)",
                    f"{value:.2f}{spread}" if value else "-", "-"))
    empty = [row for r in results if r["spec"]["kind"] == "empty-spmd" and r.get("status") == "ok"
             for row in r["rows"] if row["window"] == 1]
    if empty:
        us = empty[0]["us_per_step"]
        out.append((f"empty network on 2 ranks, one exchange per step: < {EMPTY_TARGET_US:g} us "
                    "per step", f"{us:.2f} us", "yes" if us < EMPTY_TARGET_US else "no"))
    elif any(r["spec"]["kind"] == "empty-spmd" for r in results):
        out.append((f"empty network on 2 ranks < {EMPTY_TARGET_US:g} us per step", "-",
                    "not measured"))
    for result in results:
        if result["spec"]["kind"] != "check":
            continue
        for case, verdict in result["verdicts"]:
            out.append((f"check: {case} gives the 2 workers' spikes and final v, bit for bit",
                        verdict, {"identical": "yes", "differ": "no"}.get(verdict, "not measured")))
    return out


def _round_ratios(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    """`` (rounds: x, y, z)``: the ratio of ``a``'s to ``b``'s events/s in each round."""
    if not a or not b:
        return ""
    ra, rb = a.get("round_rates", {}), b.get("round_rates", {})
    ratios = [ra[r] / rb[r] for r in sorted(ra) if r in rb and ra[r] and rb[r]]
    return f" (rounds: {', '.join(f'{x:.2f}' for x in ratios)})" if len(ratios) > 1 else ""


def _plan(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    common = {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats,
              "seed": args.seed, "hardware": args.hardware}
    for round_ in range(args.rounds):   # the cases in turn, so that slow spells hit them all
        for n, k in args.sizes:
            size = {"n": n, "k": k, "round": round_, "profile": round_ == 0, **common}
            cases.append({"kind": "shm", "mode": "shm", "workers": 1, **size})
            cases.append({"kind": "shm", "mode": "shm", "workers": 2, **size})
            cases.append({"kind": "spmd", "mode": "spmd", "ranks": 2, **size})
            if args.host:
                cases.append({"kind": "host", "mode": "host", "ranks": 2,
                              "mpiexec": args.mpiexec, **size})
    if args.empty:
        cases.append({"kind": "empty-spmd", "ranks": 2, "steps": args.empty_steps,
                      "repeats": args.repeats})
        cases.append({"kind": "empty-shm", "steps": args.empty_steps, "repeats": args.repeats})
    if args.check:
        n, k = args.check_size
        folder = workdir / "check"
        size = {"n": n, "k": k, "steps": args.check_steps, "seed": args.seed,
                "hardware": args.hardware, "save": True, "workdir": str(folder)}
        cases.append({"kind": "shm", "mode": "shm", "workers": 2, **size})
        cases.append({"kind": "shm", "mode": "shm", "workers": 1, **size})
        cases.append({"kind": "spmd", "mode": "spmd", "ranks": 2, **size})
        if args.host:
            cases.append({"kind": "host", "mode": "host", "ranks": 2, "mpiexec": args.mpiexec,
                          **size})
    return cases


def _merge_rounds(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result per timed case from its rounds: the runs of every round pooled (the median run
    of them all is the case's figure), ``round_rates`` the events/s of each round's median run,
    the profile of the round that made one, the highest peak; other results unchanged."""
    merged: dict[tuple, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for result in results:
        spec = result["spec"]
        if spec["kind"] not in ("shm", "spmd", "host"):
            out.append(result)
            continue
        key = (spec["kind"], spec["n"], spec["k"], spec.get("workers"), spec.get("ranks"))
        ok = result.get("status") == "ok"
        if key not in merged:
            merged[key] = dict(result, round_rates={}, loads=[])
            merged[key]["runs"] = []
            out.append(merged[key])
        case = merged[key]
        case["loads"].append(result.get("load_avg"))
        case["peak_bytes"] = max(case.get("peak_bytes", 0), result.get("peak_bytes", 0))
        if not ok:
            case.setdefault("failed_rounds", []).append(_short(result.get("error", "failed")))
            continue
        if case.get("status") != "ok":   # the first rounds failed, this one ran
            failed, loads, peak = case.get("failed_rounds", []), case["loads"], case["peak_bytes"]
            case.clear()
            case.update(result, round_rates={}, loads=loads, failed_rounds=failed,
                        peak_bytes=peak)
            case["runs"] = []
        case["runs"] += result["runs"]
        case["round_rates"][spec["round"]] = _rate(result)
        if result.get("profile"):
            case["profile"] = result["profile"]
    for case in out:
        if case["spec"]["kind"] in ("shm", "spmd", "host") and case.get("status") == "ok":
            median = sorted(case["runs"], key=lambda run: run["seconds"])[len(case["runs"]) // 2]
            case.update({key: median[key] for key in ("seconds", "events", "spikes",
                                                      "all_spikes")})
            case["cpu_busy"] = median.get("cpu_s", 0.0) / median["seconds"]
            if case.get("failed_rounds"):
                case["note"] = f"{len(case['failed_rounds'])} round(s) failed: " + \
                    case["failed_rounds"][0]
    return out


def _compare_saved(saved: list[dict[str, Any]]) -> dict[str, Any]:
    """Compare the spikes and final state each check case saved with the first one's (2
    workers); ``verdicts``: ``(case, "identical" | "differ" | "not run")``."""
    lines, verdicts = [], []
    ok = [r for r in saved if r.get("status") == "ok"]
    for result in saved:
        if result.get("status") != "ok":
            verdicts.append((_label(result["spec"]), "not run"))
            lines.append(f"{_label(result['spec'])}: {_short(result.get('error', 'failed'))}")
    if not ok:
        return {"verdicts": verdicts, "lines": lines}
    base = ok[0]
    with np.load(base["saved"]) as ref:
        reference = {key: ref[key] for key in ref.files}
    spec = base["spec"]
    for result in ok[1:]:
        with np.load(result["saved"]) as data:
            differ = sorted(key for key in set(reference) | set(data.files)
                            if key not in data.files or key not in reference
                            or not np.array_equal(reference[key], data[key]))
        verdicts.append((_label(result["spec"]), "differ" if differ else "identical"))
        lines.append(f"{_label(result['spec'])} vs {_label(spec)} at N={spec['n']:,} "
                     f"K={spec['k']}, {spec['steps']} steps ({base['all_spikes']:,} spikes of all "
                     f"units): " + ("identical spikes of every population and final v"
                                    if not differ else f"DIFFER in {', '.join(differ)}"))
    return {"verdicts": verdicts, "lines": lines}


def main(argv: list[str] | None = None) -> None:
    """Command line entry point (``python -m benchmarks.mpi --help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                        help=f"N:K pairs, comma separated (default {DEFAULT_SIZES})")
    parser.add_argument("--steps", type=int, default=1000, help="timed steps (1 ms each)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed steps before timing")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case and round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="each case runs this many times, in turn with the others; the median "
                             "of all its timed runs counts")
    parser.add_argument("--hardware", default="generic", help="the profile to compile for")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--host", action=argparse.BooleanOptionalAction, default=True,
                        help="also 2 ranks driven from the host (ranks=2)")
    parser.add_argument("--empty", action="store_true",
                        help="only the per-window exchange cost of an empty network")
    parser.add_argument("--no-empty", action="store_true", help="skip the empty network")
    parser.add_argument("--empty-steps", type=int, default=20_000)
    parser.add_argument("--check", action="store_true",
                        help="only check that 2 ranks give the 2 workers' spikes, bit for bit")
    parser.add_argument("--no-check", action="store_true", help="skip the check")
    parser.add_argument("--check-size", type=lambda text: parse_sizes(text)[0],
                        default=(4000, 400), help="N:K of the check (default 4000:400)")
    parser.add_argument("--check-steps", type=int, default=300)
    parser.add_argument("--mpiexec", default=None,
                        help="the launcher (default: beside this Python, else on PATH)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    parser.add_argument("--json", type=Path, default=None, help="also write all results here")
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.case is not None:
        _answer(args.case)
        return

    from nmgraph.runtimes.mpi_host import find_mpiexec

    args.mpiexec = find_mpiexec(args.mpiexec)
    only_empty, only_check = args.empty, args.check
    args.empty = not args.no_empty and not only_check
    args.check = not args.no_check and not only_empty
    if only_empty or only_check:
        args.sizes = []
    workdir = Path(tempfile.mkdtemp(prefix="nmgraph-mpi-bench-"))
    results: list[dict[str, Any]] = []
    saved: list[dict[str, Any]] = []
    host_failed = None
    try:
        for spec in _plan(args, workdir):
            if spec["kind"] == "host" and host_failed:   # each failed start waits for minutes
                result = {"status": "skipped", "error": f"not run: {host_failed}",
                          "spec": {k: v for k, v in spec.items() if k != "workdir"}}
                (saved if spec.get("save") else results).append(result)
                continue
            options = {k: v for k, v in spec.items() if k in ("workers", "ranks", "n", "k", "save")}
            print(f"[mpi] {spec['kind']} {options} ...", file=sys.stderr, flush=True)
            result = _run_subprocess(spec, args.timeout, args.mpiexec)
            rate = _rate(result)
            print(f"[mpi]   -> {result.get('status')}"
                  + (f": {_si(rate)} events/s" if rate else "")
                  + f", case {result['case_wall_s']:.1f} s {result.get('error', '')}",
                  file=sys.stderr, flush=True)
            (saved if spec.get("save") else results).append(result)
            if spec["kind"] == "host" and result.get("status") != "ok":
                host_failed = "ranks=2 failed above (" + _short(result.get("error"), 120) + ")"
        results = _merge_rounds(results)
        if saved:
            results.append({"spec": {"kind": "check"}, **_compare_saved(saved)})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"nmgraph at {_tree_state()}; MPI: {_mpi_version()}")
    print()
    print(format_report(results, args.steps, args.warmup, args.repeats, args.rounds))
    if args.json:
        args.json.write_text(json.dumps({"argv": sys.argv, "results": results}, indent=1))


def _mpi_version() -> str:
    """mpi4py's version and the MPI library's, without initializing MPI in this process."""
    try:
        import mpi4py

        mpi4py.rc.initialize = False   # MPI_Get_library_version may be called before MPI_Init
        from mpi4py import MPI
    except ImportError:
        return "mpi4py not installed"
    library = " ".join(MPI.Get_library_version().splitlines()[0].split())
    return f"mpi4py {mpi4py.__version__}, {library}"


def _answer(case: str) -> None:
    """The child side: rank 0 (or the only process) prints the result; other ranks run the same
    case and print nothing."""
    spec = json.loads(case)
    if spec["kind"] in SPMD_KINDS:
        from mpi4py import MPI

        if MPI.COMM_WORLD.Get_rank() != 0:
            run_case(spec)
            return
    answer_case(case, run_case, RESULT_MARK)


# -- the cases (each runs in its own subprocess; SPMD ones in every rank) --------------------------------

def run_case(spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec["kind"]
    if kind in ("shm", "spmd", "host"):
        return _case_brunel(spec)
    if kind == "empty-spmd":
        return _case_empty_spmd(spec)
    if kind == "empty-shm":
        return _case_empty(spec)
    raise ValueError(f"unknown case kind {kind!r}")


def _open(exe: Any, spec: dict[str, Any]) -> Any:
    import nmgraph as nm

    mode = spec["mode"]
    if mode == "shm":
        return nm.Runtime(exe, backend="multicore", workers=spec["workers"], progress=False)
    if mode == "spmd":
        return nm.Runtime(exe, backend="mpi", progress=False)
    return nm.Runtime(exe, backend="mpi", ranks=spec["ranks"], mpiexec=spec.get("mpiexec"),
                      progress=False)


class _CPU:
    """CPU seconds of a case's processes: this one and its descendants (the forked workers; the
    host's ``mpiexec`` and its ranks), or in an SPMD job this rank's own (summed over the ranks
    by the caller)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import psutil

        self.spmd = spec["mode"] == "spmd"
        self.me = psutil.Process()
        self.errors = psutil.Error

    def now(self) -> float:
        if self.spmd:
            return time.process_time()
        total = 0.0
        for proc in [self.me, *self.me.children(recursive=True)]:
            with contextlib.suppress(self.errors):
                times = proc.cpu_times()
                total += times.user + times.system
        return total


def _case_brunel(spec: dict[str, Any]) -> dict[str, Any]:
    """Build, compile and time the Brunel network on one backend (see the module docstring);
    with ``save``: one untimed run whose spikes and final ``v`` go to a file."""
    import nmgraph as nm
    from benchmarks.networks import brunel

    n, k, steps = spec["n"], spec["k"], spec["steps"]
    start = time.perf_counter()
    exe = nm.compile(brunel(n, k, seed=spec["seed"]), hardware=spec["hardware"])
    compile_s = time.perf_counter() - start
    neurons = [pop for pop in exe.ir.populations if not pop.is_source]
    n_neurons = sum(pop.size for pop in neurons)
    spmd = spec["mode"] == "spmd"
    comm = None
    if spmd:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    cpu = _CPU(spec)
    runs: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    with _open(exe, spec) as rt:
        backend = rt.backend
        if spec.get("save"):
            before = rt.counters
            rt.run(steps)
            after = rt.counters
            runs.append(_run_figures(before, after, neurons, 0.0))
            if not spmd or comm.Get_rank() == 0:
                arrays = {}
                for pop in exe.ir.populations:
                    ev = rt.spikes(pop.name)
                    arrays[f"{pop.name}.times"], arrays[f"{pop.name}.indices"] = ev.times, ev.indices
            states = {pop.name: rt.get(pop.name, "v") for pop in neurons}   # collective on ranks
            if not spmd or comm.Get_rank() == 0:
                arrays.update({f"{name}.v": v for name, v in states.items()})
                folder = Path(spec["workdir"])
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{spec['mode']}_{spec.get('workers', spec.get('ranks'))}.npz"
                np.savez(path, **arrays)
                extra["saved"] = str(path)
        else:
            rt.run(spec["warmup"])
            for _ in range(spec["repeats"]):
                if spmd:
                    backend.barrier()
                before = rt.counters
                cpu0 = cpu.now()
                begin = time.perf_counter()
                rt.run(steps)
                seconds = time.perf_counter() - begin
                used = cpu.now() - cpu0
                after = rt.counters
                if spmd:
                    used = sum(comm.allgather(used))
                runs.append(_run_figures(before, after, neurons, seconds) | {"cpu_s": used})
            if spmd and spec.get("profile"):
                extra["profile"] = _profile_spmd(rt, comm, steps)
        if spec["mode"] in ("spmd", "host"):
            placement = backend.placement
            traffic = backend.rank_traffic()
            extra["placement"] = {
                "strategy": placement.strategy, "cores": placement.cores.tolist(),
                "load": placement.load.tolist(),
                "messages_per_step": float(traffic["messages"].sum()) / max(rt.t, 1)}
        workers = backend.n_workers
        window = backend.window
    if spec["mode"] == "shm" and workers > 1 and spec.get("profile"):
        extra["profile"] = _profile_shm(exe, spec)
    if spmd and comm.Get_rank() != 0:
        return {"status": "ok"}
    median = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {"status": "ok", **median, "steps": steps, "runs": runs, "compile_s": compile_s,
            "cores": exe.n_cores, "workers": workers, "window": window,
            "cpu_busy": median.get("cpu_s", 0.0) / median["seconds"] if median["seconds"] else None,
            "synapses": exe.ir.n_synapses, "rate_hz": _mean_rate(runs, n_neurons, steps),
            **extra}


def _run_figures(before: Any, after: Any, neurons: list[Any], seconds: float) -> dict[str, Any]:
    spikes = sum(after.per_process[p.name]["spikes"] - before.per_process[p.name]["spikes"]
                 for p in neurons)
    return {"seconds": seconds, "events": after.synaptic_ops - before.synaptic_ops,
            "spikes": spikes, "all_spikes": after.spikes - before.spikes}


#: Rows of a rank's per-window timings: compute (from the end of one exchange to the start of the
#: next: delivering the last window's messages and running this one), the exchange, and inside an
#: MPI exchange the waits for the window's counts and for the payloads.
COMPUTE, EXCHANGE, WAIT_COUNTS, WAIT_PAYLOAD = range(4)


class _WindowTimer:
    """Stands in for a worker's or a rank's exchange core (``window``, ``exchange_counts``) in a
    profiled run: the same calls, each window's compute and exchange timed into ``slots``
    (float64 ``(4, capacity)``; in shared memory for forked workers). ``generation`` (an int64
    array of one, shared too): when it changes, timing starts again from window 0."""

    def __init__(self, core: Any, slots: np.ndarray, generation: np.ndarray) -> None:
        self.core = core
        self.slots = slots
        self.generation = generation
        self._seen = -1
        self.i = 0
        self._last = float("nan")
        self._in_call = -1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.core, name)

    @property
    def window(self) -> int:
        return self.core.window

    def exchange_counts(self, counts: np.ndarray, timeout: float, in_counts: np.ndarray) -> int:
        begin = time.perf_counter()
        if self.generation[0] != self._seen:
            self._seen, self.i, self._last = int(self.generation[0]), 0, float("nan")
        i = self.i
        recording = i < self.slots.shape[1]
        if recording:
            self.slots[COMPUTE, i] = begin - self._last
        self._in_call = i if recording else -1
        try:
            return self.core.exchange_counts(counts, timeout, in_counts)
        finally:
            end = time.perf_counter()
            if recording:
                self.slots[EXCHANGE, i] = end - begin
            self._in_call = -1
            self.i = i + 1
            self._last = end

    def timed_wait(self, original: Any) -> Any:
        """``transport_mpi.wait_requests`` timed, told apart by what it waits for (its
        ``what``): the spike messages (payloads) or the window's counts."""
        def wait(requests: list[Any], timeout_s: float, what: str) -> None:
            i = self._in_call
            if i < 0:
                original(requests, timeout_s, what)
                return
            begin = time.perf_counter()
            try:
                original(requests, timeout_s, what)
            finally:
                row = WAIT_PAYLOAD if "spike messages" in what else WAIT_COUNTS
                self.slots[row, i] += time.perf_counter() - begin
        return wait


class _ProfiledTransport:
    """The shared-memory transport of the multicore runtime with each worker's exchange core
    wrapped in a :class:`_WindowTimer` (the ``transport=`` factory of ``MulticoreBackend``)."""

    def __init__(self, inner: Any, slots: np.ndarray, generation: np.ndarray) -> None:
        self.inner, self.slots, self.generation = inner, slots, generation

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def for_rank(self, rank: int) -> Any:
        return _ProfiledView(self.inner.for_rank(rank), self.slots[rank], self.generation)


class _ProfiledView:
    def __init__(self, inner: Any, slots: np.ndarray, generation: np.ndarray) -> None:
        self.inner = inner
        self._timer = _WindowTimer(inner.exchange_core, slots, generation)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def exchange_core(self) -> _WindowTimer:
        return self._timer


def _window_summary(slots: np.ndarray, windows: int, wall: float) -> dict[str, Any]:
    """Per-window figures of a profiled run from ``slots`` ``(ranks, 4, capacity)``: per rank
    the median and mean compute and exchange (the first window of each command, which also
    holds the command's overhead, is left out of the medians by nature and shown in the means),
    and the critical path: the slowest rank's compute in each window, summed."""
    slots = slots[:, :, :windows]
    compute = slots[:, COMPUTE]
    valid = np.isfinite(compute).all(axis=0)
    ranks = []
    for r in range(slots.shape[0]):
        c = compute[r][np.isfinite(compute[r])]
        ranks.append({
            "compute_median_us": 1e6 * float(np.median(c)) if c.size else None,
            "compute_mean_us": 1e6 * float(c.mean()) if c.size else None,
            "exchange_median_us": 1e6 * float(np.median(slots[r, EXCHANGE])),
            "exchange_mean_us": 1e6 * float(slots[r, EXCHANGE].mean()),
            "wait_counts_mean_us": 1e6 * float(slots[r, WAIT_COUNTS].mean()),
            "wait_payload_mean_us": 1e6 * float(slots[r, WAIT_PAYLOAD].mean())})
    slowest = compute[:, valid].max(axis=0)
    return {"windows": windows, "wall_per_window_us": 1e6 * wall / max(windows, 1),
            "critical_compute_mean_us": 1e6 * float(slowest.mean()) if slowest.size else None,
            "critical_compute_median_us": 1e6 * float(np.median(slowest)) if slowest.size else None,
            "imbalance_mean_us": 1e6 * float((slowest - compute[:, valid].min(axis=0)).mean())
            if slowest.size else None,
            "ranks": ranks}


def _profile_spmd(rt: Any, comm: Any, steps: int) -> dict[str, Any] | None:
    """One more run of ``steps`` with each rank's exchange timed (collective: every rank)."""
    import nmgraph.runtimes.transport_mpi as transport_mpi

    transport = rt.backend.transport
    core = transport._core
    timer = _WindowTimer(core, np.zeros((4, steps + 1)), np.zeros(1, dtype=np.int64))
    original = transport_mpi.wait_requests
    rt.backend.barrier()
    transport._core = timer
    transport_mpi.wait_requests = timer.timed_wait(original)
    try:
        begin = time.perf_counter()
        rt.run(steps)
        wall = time.perf_counter() - begin
    finally:
        transport_mpi.wait_requests = original
        transport._core = core
    slots = comm.gather(timer.slots, root=0)
    walls = comm.gather(wall, root=0)
    if comm.Get_rank() != 0:
        return None
    return {"steps": steps, **_window_summary(np.stack(slots), min(timer.i, steps + 1),
                                              max(walls))}


def _profile_shm(exe: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """A second multicore Runtime, whose workers' exchanges are timed window by window: warm-up,
    then one profiled run of ``steps``."""
    import mmap

    import nmgraph as nm
    from nmgraph.runtimes.transport import SharedMemoryTransport

    steps, workers = spec["steps"], spec["workers"]
    capacity = steps + 1
    memory = mmap.mmap(-1, 8 * (1 + workers * 4 * capacity))   # shared with the forked workers
    generation = np.frombuffer(memory, dtype=np.int64, count=1)
    slots = np.frombuffer(memory, dtype=np.float64, offset=8).reshape(workers, 4, capacity)

    def factory(n_workers: int, cap: np.ndarray) -> _ProfiledTransport:
        return _ProfiledTransport(SharedMemoryTransport.create(n_workers, cap, "nmg"), slots,
                                  generation)

    with nm.Runtime(exe, backend="multicore", workers=workers, progress=False,
                    transport=factory) as rt:
        rt.run(spec["warmup"])
        slots[...] = 0.0
        generation[0] += 1
        begin = time.perf_counter()
        rt.run(steps)
        wall = time.perf_counter() - begin
        windows = steps // rt.backend.window
    return {"steps": steps, **_window_summary(slots.copy(), windows, wall)}


def _case_empty_spmd(spec: dict[str, Any]) -> dict[str, Any]:
    """Per-step cost of an empty network on the ranks of this job, and of the exchange's parts."""
    from mpi4py import MPI

    import nmgraph as nm
    from nmgraph.runtimes.transport_mpi import MPIExchange, wait_requests

    comm = MPI.COMM_WORLD
    size = comm.Get_size()
    steps, repeats = spec["steps"], spec["repeats"]
    rows = []
    for variant in ("one idle delay-1 synapse across ranks", "no synapses"):
        exe = empty_executable(variant != "no synapses")
        with nm.Runtime(exe, backend="mpi", progress=False) as rt:
            rt.run(min(1000, steps))
            times = []
            for _ in range(repeats):
                rt.backend.barrier()
                begin = time.perf_counter()
                rt.run(steps)
                times.append(time.perf_counter() - begin)
            rows.append({"variant": variant, "ranks": size, "window": rt.backend.window,
                         "cores": exe.n_cores,
                         "cores_per_rank": rt.backend.placement.cores.tolist(),
                         "us_per_step": statistics.median(times) / steps * 1e6})
    loops = []
    test_all = MPI.Request.Testall
    world = comm.Dup()
    zeros = np.zeros(size, dtype=np.int64)
    got = np.zeros(size, dtype=np.int64)

    def raw() -> None:
        request = [world.Ialltoall(zeros, got)]
        while not test_all(request):
            pass

    def waited() -> None:
        wait_requests([world.Ialltoall(zeros, got)], -1.0, "the loop")

    exchange = MPIExchange(world, np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64))

    def whole() -> None:
        exchange.exchange_counts(zeros, -1.0, got)

    for what, call in (("mpi4py Ialltoall (1 int64 per rank) + Testall spin", raw),
                       ("the same completed by nmgraph's wait_requests", waited),
                       ("MPIExchange.exchange_counts, nothing to send", whole)):
        times = []
        for _ in range(repeats):
            comm.Barrier()
            begin = time.perf_counter()
            for _ in range(steps):
                call()
            times.append(time.perf_counter() - begin)
        loops.append({"what": what, "ranks": size, "calls": steps, "repeats": repeats,
                      "us": statistics.median(times) / steps * 1e6})
    world.Free()
    return {"status": "ok", "rows": rows, "loops": loops}


if __name__ == "__main__":
    main()
