"""On-chip learning benchmark: the Brunel network with plastic (pair STDP) exc -> exc synapses,
in nmgraph and in Brian2, timed in one invocation.

    python -m benchmarks.plastic_brunel                                # 2k and 8k neurons
    python -m benchmarks.plastic_brunel --sizes 2000:200 --steps 1000 --repeats 3
    python -m benchmarks.plastic_brunel --brian2-python /path/to/venv/bin/python
    python -m benchmarks.plastic_brunel --check      # multicore == reference, weight for weight

Run from the repository root after ``pip install -e ".[bench]"``. Brian2 2.9 does not import with
NumPy 2.4 (``ndarray.ptp`` is gone), hence the extra's ``numpy<2.4``; when the environment that
runs nmgraph must keep a newer NumPy, ``--brian2-python`` runs the Brian2 cases with another
interpreter (a venv with ``brian2``, ``numpy<2.4``, ``Cython`` and ``psutil``): those cases read
the network from files and import nothing of nmgraph. Every case runs in its own subprocess
(its peak memory is its own, a crash loses one row) and prints its figures as JSON; the parent
prints one markdown table and the ratio the issue asks for.

The network
-----------
:func:`benchmarks.networks.brunel`'s network (read that module's docstring: ``0.8 N`` ``exc`` and
``0.2 N`` ``inh`` LIF neurons, fixed in-degree ``K`` without self-connections, delays uniform in
{1, 2} steps, bias plus a one-to-one Poisson drive, ``dt`` = 1 ms), drawn with the same random
streams, so that its synapses and delays are exactly that benchmark's for the same seed; ``K``
defaults to 10% of ``N``. One change: the ``exc -> exc`` block is a ``LearningSparse`` with the
``STDP`` preset, additive pair STDP as in Brian2's STDP example (Song, Miller & Abbott 2000):
``tau_plus = tau_minus = 20 ms``, ``lambda = 0.01`` (the potentiation step as a fraction of
``w_max``), ``alpha = 1.05`` (depression / potentiation), ``w_max = 2 w_E = 32`` and initial
weights uniform in ``0..32`` (mean ``w_E = 16``, the static network's weight, so that the network
starts in Brunel's regime). The trace impulses are fixed at ``Ix = 20``, ``Iy = 21`` so that the
realised ``alpha`` is exactly 1.05 (``Iy / Ix`` with one scale ``2^-6`` for both terms); the
realised ``lambda`` is ``2^-6 * 20 / 32 = 0.009766`` (-2.3%) and ``tau`` 19.98 ms. The rule is
applied every step (``t_epoch = 1``).

Brian2 runs the same connectivity (read from the files the ``prepare`` case writes) through
:func:`benchmarks.brunel._brian2_network` for the neurons, the static blocks and the drive (same
equations, the same shifted schedule, delays one step shorter), plus the plastic block written as
Brian2's STDP example, with the realised parameters (in nmgraph's weight units, ``v_post += w *
64``)::

    w : 1
    dapre/dt = -apre / taupre : 1 (event-driven)
    dapost/dt = -apost / taupost : 1 (event-driven)
    on_pre:  v_post += w * 64; apre += lambda * w_max; w = clip(w + apost, 0, w_max)
    on_post: apost -= alpha * lambda * w_max;           w = clip(w + apre, 0, w_max)

The same rule, not the same numbers: nmgraph keeps one 7-bit trace per neuron (``x1 = Ix K_plus``,
saturating at 127, decayed with stochastic rounding) and integer weights updated with stochastic
rounding at the end of the step; Brian2 keeps float traces per synapse (its example's form) and
float weights, and its ``on_pre`` runs when the spike arrives (after the synaptic delay), where
nmgraph's pre trace takes the spike when it is sent. The table shows both tools' firing rate and
mean ``exc -> exc`` weight at the end, so that a reader sees both in the same regime.

What is counted
---------------
* **Synaptic events** (spike deliveries): one per synapse per spike of its source, neurons and
  drive alike, plastic synapses included. nmgraph: ``Counters.synaptic_ops`` (the case also
  recomputes it from the recorded spikes times the out-degrees and says so in its note). Brian2:
  each neuron's spike count in the timed run times its out-degree, plus one per drive spike.
* **Synaptic updates**: nmgraph's ``Counters.synaptic_updates``: at the end of each step, every
  plastic synapse whose pre or post neuron spiked in it is evaluated once (a synapse whose pre and
  post both spiked counts once). Brian2: the ``on_pre`` plus ``on_post`` executions of the plastic
  block (exc spikes times the exc -> exc out-degree plus in-degree).
* **Timed run**: every case first runs ``--warmup`` steps untimed (Brian2: this run generates and
  compiles its Cython code, so compilation is excluded from the timing; nmgraph: starts the
  workers), then ``--repeats`` consecutive runs of ``--steps`` steps; the table shows the median
  run. nmgraph: ``rt.run`` timed with ``time.perf_counter``. Brian2: the time its ``Network.run``
  measures for its simulation loop (``device._last_run_time``): the code generation that every
  ``run()`` call repeats before the loop (a fraction of a second, shown in the note) is left out,
  in Brian2's favour. The network keeps learning from run to run.
* **Build s**: nmgraph ``nm.compile``; Brian2 the network's construction plus the warm-up run.
* **CPUs busy**: CPU time of the case's processes (nmgraph: the host and its workers) during the
  median run over its wall time: about 1 for one worker or Brian2, up to 2 for two workers. Less
  means the case waited: for a busy peer (a barrier) or for CPUs that other work was using.
* **Peak GiB**: the case's process tree (PSS), sampled as in ``benchmarks/brunel.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.brunel import PeakMemory, _short, _si, answer_case, parse_sizes, wait_until_quiet

__all__ = ["STDP_PARAMETERS", "build_nmgraph", "check_backends", "connectivity", "format_report",
           "main", "provenance", "run_case"]

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "@@plastic-brunel-result "
DEFAULT_SIZES = "2000:200,8000:800"
GIB = 2.0**30
#: The STDP preset's arguments (additive pair STDP, Brian2's STDP example); ``w_max`` is 2 w_E.
STDP_PARAMETERS: dict[str, Any] = {"tau_plus": 20.0, "tau_minus": 20.0, "lambda_": 0.01,
                                   "alpha": 1.05, "mu_plus": 0, "mu_minus": 0, "w_max": 32,
                                   "x_impulse": 20, "y_impulse": 21}
#: The four blocks of the Brunel network (pre, post), in drawing order; exc -> exc is plastic.
BLOCKS = (("exc", "exc"), ("exc", "inh"), ("inh", "exc"), ("inh", "inh"))


# -- the network ---------------------------------------------------------------------------------------

def connectivity(n: int, k: int, seed: int = 0, w_max: int = STDP_PARAMETERS["w_max"]
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The plastic Brunel network's parameters and synapses (see the module docstring).

    The four blocks are drawn with the random stream of :func:`benchmarks.networks.brunel` (the
    same synapses and delays for the same ``seed``); the initial plastic weights come from a
    stream of their own, uniform in ``0..w_max``.

    Returns
    -------
    params : dict
        :class:`benchmarks.networks.BrunelParameters` as a dict, plus ``seed`` and ``w_max``.
    arrays : dict
        Per block ``{pre}_{post}_rows`` (post index), ``_cols`` (pre index), ``_delays``
        (steps), ordered by pre then post; ``exc_exc_w0``, the initial plastic weights.
    """
    import dataclasses

    from benchmarks.networks import _delays, brunel_parameters, by_source, fixed_indegree_cols

    p = brunel_parameters(n, k)
    size = {"exc": p.n_exc, "inh": p.n_inh}
    indegree = {"exc": p.c_exc, "inh": p.c_inh}
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for pre, post in BLOCKS:  # the order and the draws of networks.brunel
        cols = fixed_indegree_cols(size[pre], size[post], indegree[pre], rng,
                                   exclude_self=pre == post)
        delays = _delays((1, 2), cols.size, rng)
        rows, cols, delays = by_source(cols, delays)
        arrays[f"{pre}_{post}_rows"], arrays[f"{pre}_{post}_cols"] = rows, cols
        arrays[f"{pre}_{post}_delays"] = np.asarray(delays, dtype=np.uint8)
    weights = np.random.default_rng([seed, 0x5EED]).integers(0, w_max, size=arrays["exc_exc_rows"].size,
                                                              endpoint=True, dtype=np.int16)
    arrays["exc_exc_w0"] = weights
    params = {**dataclasses.asdict(p), "seed": int(seed), "w_max": int(w_max), "n": n, "k": k}
    return params, arrays


def stdp_rule(seed: int) -> Any:
    """The ``STDP`` preset of the benchmark (``STDP_PARAMETERS``), seeded."""
    from nmgraph.processes import STDP

    return STDP(**STDP_PARAMETERS, dt_ms=1.0, seed=seed)


def build_nmgraph(params: dict[str, Any], arrays: dict[str, np.ndarray], *, drive: bool = True
                  ) -> tuple[Any, Any]:
    """The network in nmgraph: ``(Network, the exc -> exc LearningSparse)``.

    The static blocks and the drive are those of :func:`benchmarks.networks.brunel` (same names,
    weights, delays and drive seeds).
    """
    import nmgraph as nm
    from nmgraph.processes import LIF, LearningSparse, PoissonSource, Sparse

    p = params
    net = nm.Network(f"plastic_brunel_{p['n']}_{p['k']}")
    pops = {name: net.add(LIF(p[f"n_{name}"], du=p["du"], dv=p["dv"], vth=p["vth"],
                              bias_mant=p["bias_mant"], bias_exp=p["bias_exp"], name=name))
            for name in ("exc", "inh")}
    weight = {"exc": p["w_exc"], "inh": -p["w_inh"]}
    plastic = None
    for pre, post in BLOCKS:
        rows, cols = arrays[f"{pre}_{post}_rows"], arrays[f"{pre}_{post}_cols"]
        delays = arrays[f"{pre}_{post}_delays"]
        shape = (pops[post].size, pops[pre].size)
        if (pre, post) == ("exc", "exc"):
            syn = plastic = net.add(LearningSparse(
                (rows, cols, arrays["exc_exc_w0"]), learning_rule=stdp_rule(p["seed"] + 7),
                shape=shape, delay=delays, name="exc_to_exc"))
        else:
            values = np.broadcast_to(np.int16(weight[pre]), cols.size)
            syn = net.add(Sparse((rows, cols, values), shape=shape, delay=delays,
                                 name=f"{pre}_to_{post}"))
        net.connect(pops[pre].s_out, syn.s_in)
        net.connect(syn.a_out, pops[post].a_in)
    if drive:
        for number, name in enumerate(("exc", "inh"), start=1):
            size = pops[name].size
            source = net.add(PoissonSource(size, rate=p["drive_rate"],
                                           seed=(p["seed"] * 8 + number) % 2**64, name=f"drive_{name}"))
            index = np.arange(size, dtype=np.int64)
            syn = net.add(Sparse((index, index, np.full(size, p["drive_weight"], dtype=np.int16)),
                                 shape=(size, size), delay=1, weight_exp=p["drive_weight_exp"],
                                 name=f"drive_to_{name}"))
            net.connect(source.s_out, syn.s_in)
            net.connect(syn.a_out, pops[name].a_in)
    return net, plastic


def _degrees(params: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Out-degree of every neuron (all blocks, global ids) and the plastic block's out- and
    in-degree of every exc neuron."""
    n_exc, n = params["n_exc"], params["n_exc"] + params["n_inh"]
    offset = {"exc": 0, "inh": n_exc}
    out = np.zeros(n, dtype=np.int64)
    for pre, post in BLOCKS:
        cols = arrays[f"{pre}_{post}_cols"]
        out[offset[pre]:offset[pre] + params[f"n_{pre}"]] += np.bincount(cols, minlength=params[f"n_{pre}"])
    ee_out = np.bincount(arrays["exc_exc_cols"], minlength=n_exc)
    ee_in = np.bincount(arrays["exc_exc_rows"], minlength=n_exc)
    return {"out": out, "ee_out": ee_out, "ee_in": ee_in}


# -- the parent: cases, table ---------------------------------------------------------------------------

def _run_subprocess(spec: dict[str, Any], python: str, timeout: float) -> dict[str, Any]:
    """Run one case in a fresh interpreter; returns its JSON result plus ``peak_bytes``."""
    wait_until_quiet()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [python, "-m", "benchmarks.plastic_brunel", "--case", json.dumps(spec)]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    sampler = PeakMemory(proc.pid)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)  # the case's own session: the case and its workers
        out, err = proc.communicate()
    peak = sampler.stop()
    lines = [line for line in out.splitlines() if line.startswith(RESULT_MARK)]
    if lines:
        result = json.loads(lines[-1][len(RESULT_MARK):])
    else:
        tail = [line for line in err.strip().splitlines() if line.strip()][-1:] or ["no output"]
        result = {"status": "failed", "error": f"exit {proc.returncode}: {tail[0]}"}
    result["peak_bytes"] = max(peak, result.pop("maxrss_case_bytes", 0))
    result["case_wall_s"] = time.perf_counter() - start
    result["load_avg"] = os.getloadavg()[0]
    result["spec"] = {key: value for key, value in spec.items() if key != "workdir"}
    return result


def _label(spec: dict[str, Any]) -> str:
    if spec["kind"] == "nmgraph":
        return f"nmgraph {spec['hardware']} {spec['workers']}w"
    return f"Brian2 {spec['target']} runtime" if spec["kind"] == "brian2" else spec["kind"]


def _rate(result: dict[str, Any], key: str = "events") -> float | None:
    if result.get("status") != "ok" or not result.get("seconds"):
        return None
    return result[key] / result["seconds"]


def format_report(results: list[dict[str, Any]]) -> str:
    """The markdown table and the target line of a list of case results."""
    from nmgraph.core.markdown import table

    header = ("tool", "N", "K", "synapses (plastic)", "spikes", "synaptic events/s",
              "synaptic updates/s", "wall s / sim s", "CPUs busy", "vs Brian2 Cython", "rate Hz",
              "mean w (end)", "build s", "peak GiB", "note")
    rows = []
    sizes = list(dict.fromkeys((r["spec"]["n"], r["spec"]["k"]) for r in results))
    for size in sizes:
        here = [r for r in results if (r["spec"]["n"], r["spec"]["k"]) == size]
        base = next((_rate(r) for r in here if r["spec"]["kind"] == "brian2"
                     and r["spec"]["target"] == "cython" and r.get("status") == "ok"), None)
        for result in here:
            ok = result.get("status") == "ok"
            rate = _rate(result)
            note = result.get("note", "") if ok else _short(result.get("error", result.get("status")))
            rows.append([
                _label(result["spec"]), f"{size[0]:,}", f"{size[1]:,}",
                f"{result['synapses']:,} ({result['plastic_synapses']:,})" if ok else "-",
                f"{result['spikes']:,}" if ok else "-", _si(rate), _si(_rate(result, "updates")),
                f"{result['seconds'] / (result['steps'] * 1e-3):.2f}" if ok else "-",
                f"{result['cpu_s'] / result['call_s']:.2f}" if ok and result.get("call_s") else "-",
                f"{rate / base:.2f}x" if rate and base else "-",
                f"{result['rate_hz']:.2f}" if ok else "-",
                f"{result['mean_w']:.2f}" if ok else "-",
                f"{result['build_s']:.1f}" if ok and result.get("build_s") is not None else "-",
                f"{result['peak_bytes'] / GIB:.2f}" if result.get("peak_bytes") else "-", note])
    lines = [table(header, rows), ""]
    for size in sizes:
        runs = [r for r in results if r["spec"]["kind"] == "nmgraph" and r.get("status") == "ok"
                and (r["spec"]["n"], r["spec"]["k"]) == size]
        seen = {tuple((run["spikes"], run["events"], run["updates"]) for run in r["runs"]) for r in runs}
        if len(seen) > 1:
            lines.append(f"- WARNING: nmgraph cases at N={size[0]:,} disagree on spikes, events or "
                         "updates: they must be identical (bit-exact runtime)")
        elif len(runs) > 1:
            lines.append(f"- nmgraph at N={size[0]:,}: its {len(runs)} cases (worker counts, profiles) "
                         "gave the same spikes, events and updates in every repeat")
    loads = [r["load_avg"] for r in results if "load_avg" in r]
    if loads:
        cpus = os.cpu_count() or 1
        lines.append(f"- machine load (1-minute load average at the end of each case): {min(loads):.1f}"
                     f" to {max(loads):.1f} on {cpus} CPUs"
                     + ("; above the CPU count: other work shared the CPUs" if max(loads) > cpus + 0.5
                        else ""))
    if sizes:
        size = max(sizes)
        here = [r for r in results if (r["spec"]["n"], r["spec"]["k"]) == size]
        cython = next((_rate(r) for r in here if r["spec"]["kind"] == "brian2"
                       and r["spec"]["target"] == "cython"), None)
        profiles = dict.fromkeys(r["spec"]["hardware"] for r in here if r["spec"]["kind"] == "nmgraph")
        for hardware in profiles or [None]:
            two = next((_rate(r) for r in here if r["spec"]["kind"] == "nmgraph"
                        and r["spec"]["hardware"] == hardware and r["spec"]["workers"] == 2), None)
            ratio = two / cython if two and cython else None
            verdict = "not measured" if ratio is None else ("met" if ratio >= 3 else "NOT met")
            lines.append(f"- target (N={size[0]:,}, {hardware}): nmgraph 2 workers >= 3x Brian2 Cython "
                         f"runtime in synaptic events/s: {'-' if ratio is None else f'{ratio:.2f}x'}, "
                         f"{verdict}")
    return "\n".join(lines)


def provenance() -> str:
    """The commit the benchmark runs (and whether nmgraph's sources differ from it), from git."""
    def git(*command: str) -> str:
        done = subprocess.run(["git", *command], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=False)
        return done.stdout.rstrip() if done.returncode == 0 else ""  # keep porcelain's columns

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "nmgraph outside a git checkout"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "nmgraph", "runtimes",
                  "processes", "compilers")
    files = sorted({line[3:] for line in changed.splitlines() if line.strip()})
    return f"nmgraph at commit {commit}" + (f", with uncommitted changes to {', '.join(files)}"
                                            if files else "")


def _plan(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    common = {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "seed": args.seed}
    for n, k in args.sizes:
        size = {"n": n, "k": k, "workdir": str(workdir / f"plastic_brunel_{n}_{k}"), **common}
        cases.append({"kind": "prepare", **size})
        for hardware in args.hardware:
            for workers in args.workers:
                cases.append({"kind": "nmgraph", "workers": workers, "hardware": hardware, **size})
        for target in args.brian2:
            if target == "numpy" and n > args.numpy_max_n:
                continue
            cases.append({"kind": "brian2", "target": target, **size})
    return cases


def main(argv: list[str] | None = None) -> None:
    """Command line entry point (``python -m benchmarks.plastic_brunel --help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                        help=f"N:K pairs, comma separated (default {DEFAULT_SIZES}: K = 10%% of N)")
    parser.add_argument("--steps", type=int, default=2000, help="timed steps (1 ms each)")
    parser.add_argument("--warmup", type=int, default=100,
                        help="untimed steps first (Brian2 compiles its code in them)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median counts")
    parser.add_argument("--workers", default="1,2", help="nmgraph worker counts, comma separated")
    parser.add_argument("--hardware", default="generic",
                        help="nmgraph profiles, comma separated (e.g. generic,loihi1)")
    parser.add_argument("--brian2", default="cython,numpy",
                        help="Brian2 runtime targets, comma separated (cython, numpy) or 'none'")
    parser.add_argument("--numpy-max-n", type=int, default=2000,
                        help="run Brian2's numpy target only up to this N (it is slow)")
    parser.add_argument("--brian2-python", default=sys.executable,
                        help="interpreter for the Brian2 cases (an environment with brian2 and "
                             "numpy<2.4; default: this one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per case")
    parser.add_argument("--json", type=Path, default=None, help="also write all results here")
    parser.add_argument("--check", action="store_true",
                        help="only check that the multicore runtime (1 and 2 workers) and the "
                             "reference backend give identical weights, traces and spikes")
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.case is not None:
        answer_case(args.case, run_case, RESULT_MARK)
        return

    if args.check:
        report = check_backends()
        print(report["text"])
        if not report["identical"]:
            sys.exit(1)
        return

    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    args.hardware = [hw.strip() for hw in args.hardware.split(",") if hw.strip()]
    args.brian2 = [] if args.brian2 == "none" else [t.strip() for t in args.brian2.split(",") if t.strip()]
    unknown = sorted(set(args.brian2) - {"cython", "numpy"})
    if unknown:
        parser.error(f"unknown Brian2 targets {unknown}")
    workdir = Path(tempfile.mkdtemp(prefix="nmgraph-plastic-brunel-"))
    results: list[dict[str, Any]] = []
    try:
        for spec in _plan(args, workdir):
            kind = spec["kind"]
            python = args.brian2_python if kind == "brian2" else sys.executable
            options = {key: spec[key] for key in ("workers", "target") if key in spec}
            print(f"[plastic-brunel] {kind} N={spec['n']} K={spec['k']} {options} ...",
                  file=sys.stderr, flush=True)
            result = _run_subprocess(spec, python, args.timeout)
            print(f"[plastic-brunel]   -> {result.get('status')}: {_si(_rate(result))} events/s, "
                  f"{_si(_rate(result, 'updates'))} updates/s, case {result['case_wall_s']:.1f} s "
                  f"{result.get('error', '')}", file=sys.stderr, flush=True)
            if kind != "prepare" or result.get("status") != "ok":
                results.append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"Plastic Brunel benchmark: {args.steps} steps of 1 ms timed after {args.warmup} untimed "
          f"(Brian2 compiles its code in those), median of {args.repeats} run(s); events = synapses "
          "activated by spikes (neurons and drive), updates = plastic synapses evaluated by the "
          "learning rule.")
    print(f"{provenance()}; {os.cpu_count()} CPUs.")
    print()
    print(format_report(results))
    if args.json:
        args.json.write_text(json.dumps({"argv": sys.argv, "provenance": provenance(),
                                         "results": results}, indent=1))


# -- the cases (each runs in its own subprocess) -----------------------------------------------------

def run_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one case described by ``spec`` (``kind``: prepare, nmgraph, brian2)."""
    return {"prepare": _case_prepare, "nmgraph": _case_nmgraph, "brian2": _case_brian2}[spec["kind"]](spec)


def _case_prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """Draw the network; write its arrays, degrees, parameters and the realised STDP rule."""
    folder = Path(spec["workdir"])
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    params, arrays = connectivity(spec["n"], spec["k"], spec["seed"])
    rule = stdp_rule(params["seed"] + 7)
    q = rule.quantization
    params["stdp"] = {"tau_plus_ms": q["tau_plus"].realised, "tau_minus_ms": q["tau_minus"].realised,
                      "lambda": q["lambda"].realised, "alpha": q["alpha"].realised,
                      "report": str(q)}
    np.savez(folder / "network.npz", **arrays, **{f"degree_{key}": value
                                                   for key, value in _degrees(params, arrays).items()})
    (folder / "params.json").write_text(json.dumps(params))
    return {"status": "ok", "build_s": time.perf_counter() - start}


def _load(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    folder = Path(spec["workdir"])
    if not (folder / "params.json").exists():
        raise RuntimeError("no network files: the prepare case of this size failed")
    params = json.loads((folder / "params.json").read_text())
    with np.load(folder / "network.npz") as data:
        arrays = {key: data[key] for key in data.files}
    return params, arrays


def _cpu_seconds() -> float:
    """CPU time (user + system) used so far by this process and its live descendants (nmgraph's
    workers)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _figures(runs: list[dict[str, Any]], n_neurons: int, steps: int) -> dict[str, Any]:
    """The median run (by time) and the mean rate over all runs."""
    median = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    rate = sum(run["spikes"] for run in runs) / n_neurons / (len(runs) * steps * 1e-3)
    return {**median, "rate_hz": rate, "runs": runs, "steps": steps}


def _case_nmgraph(spec: dict[str, Any]) -> dict[str, Any]:
    """Build the network from the files, compile it and time the multicore runtime."""
    import nmgraph as nm

    params, arrays = _load(spec)
    degree = arrays["degree_out"]
    n_exc, n = params["n_exc"], params["n_exc"] + params["n_inh"]
    net, plastic = build_nmgraph(params, arrays)
    start = time.perf_counter()
    exe = nm.compile(net, hardware=spec["hardware"])
    compile_s = time.perf_counter() - start
    steps = spec["steps"]
    runs = []
    with nm.Runtime(exe, backend="multicore", workers=spec["workers"]) as rt:
        rt.run(spec["warmup"])
        for _ in range(spec["repeats"]):
            before, t0, cpu = rt.counters, rt.t, _cpu_seconds()
            begin = time.perf_counter()
            rt.run(steps)
            seconds = time.perf_counter() - begin
            cpu = _cpu_seconds() - cpu
            after = rt.counters
            spikes = sum(after.per_process[name]["spikes"] - before.per_process[name]["spikes"]
                         for name in ("exc", "inh"))
            runs.append({"seconds": seconds, "events": after.synaptic_ops - before.synaptic_ops,
                         "updates": after.synaptic_updates - before.synaptic_updates,
                         "spikes": spikes, "t0": t0, "cpu_s": cpu, "call_s": seconds})
        # the events again, from the spikes of the last run and the out-degrees
        t0, t1 = runs[-1]["t0"], rt.t
        recount = 0
        for name, offset in (("exc", 0), ("inh", n_exc), ("drive_exc", None), ("drive_inh", None)):
            ev = rt.spikes(name)
            keep = (ev.times > t0) & (ev.times <= t1)
            recount += int(keep.sum()) if offset is None else int(degree[ev.indices[keep] + offset].sum())
        mean_w = float(rt.get(plastic, "weights").mean())
        n_workers = getattr(rt.backend, "n_workers", spec["workers"])
        window = getattr(rt.backend, "window", None)
    notes = [f"{exe.n_cores} cores, window {window} step(s)"]
    notes.append("events = spikes x out-degree" if recount == runs[-1]["events"]
                 else f"EVENTS MISMATCH: spikes x out-degree {recount}, counter {runs[-1]['events']}")
    if n_workers != spec["workers"]:
        notes.append(f"ran on {n_workers} worker(s)")
    return {"status": "ok", **_figures(runs, n, steps), "build_s": compile_s,
            "synapses": int(exe.ir.n_synapses), "plastic_synapses": int(arrays["exc_exc_rows"].size),
            "mean_w": mean_w, "workers": n_workers, "note": "; ".join(notes)}


def _case_brian2(spec: dict[str, Any]) -> dict[str, Any]:
    """Brian2's runtime (``target`` cython or numpy): build, warm up (code generation and, for
    Cython, compilation), then time ``run``."""
    import brian2 as b2

    from benchmarks.brunel import _brian2_network

    b2.prefs.codegen.target = spec["target"]
    b2.BrianLogger.log_level_error()
    params, arrays = _load(spec)
    n_exc, n = params["n_exc"], params["n_exc"] + params["n_inh"]
    degree, ee_out, ee_in = arrays["degree_out"], arrays["degree_ee_out"], arrays["degree_ee_in"]
    start = time.perf_counter()
    # the static blocks, global ids, sorted by source (exc -> inh, then inh -> exc and inh -> inh)
    sources, targets, delays = [], [], []
    offset = {"exc": 0, "inh": n_exc}
    for pre, post in BLOCKS[1:]:
        sources.append(arrays[f"{pre}_{post}_cols"].astype(np.int32) + offset[pre])
        targets.append(arrays[f"{pre}_{post}_rows"].astype(np.int32) + offset[post])
        delays.append(arrays[f"{pre}_{post}_delays"])
    sources_all = np.concatenate(sources)
    order = np.argsort(sources_all, kind="stable")
    conn = {"sources": sources_all[order], "targets": np.concatenate(targets)[order],
            "delays": np.concatenate(delays)[order]}
    net, group, neuron_monitor, drive_monitor = _brian2_network(params, n, conn)
    stdp = params["stdp"]
    w_max = float(params["w_max"])
    namespace = {"taupre": stdp["tau_plus_ms"] * b2.ms, "taupost": stdp["tau_minus_ms"] * b2.ms,
                 "dApre": stdp["lambda"] * w_max, "dApost": -stdp["alpha"] * stdp["lambda"] * w_max,
                 "gmax": w_max, "wscale": 64.0}
    exc = group[:n_exc]
    plastic = b2.Synapses(exc, exc, model="""w : 1
                                             dapre/dt = -apre / taupre : 1 (event-driven)
                                             dapost/dt = -apost / taupost : 1 (event-driven)""",
                          on_pre="""v_post += w * wscale
                                    apre += dApre
                                    w = clip(w + apost, 0, gmax)""",
                          on_post="""apost += dApost
                                     w = clip(w + apre, 0, gmax)""",
                          namespace=namespace, name="exc_to_exc")
    plastic.connect(i=arrays["exc_exc_cols"].astype(np.int32), j=arrays["exc_exc_rows"].astype(np.int32))
    plastic.w = arrays["exc_exc_w0"].astype(np.float64)
    plastic.pre.delay = (arrays["exc_exc_delays"].astype(np.float64) - 1) * b2.ms  # shifted schedule
    net.add(plastic)
    net.run(spec["warmup"] * b2.ms)
    build_s = time.perf_counter() - start
    steps = spec["steps"]
    runs = []
    for _ in range(spec["repeats"]):
        counts = np.array(neuron_monitor.count[:])
        drive_before = drive_monitor.num_spikes
        cpu = _cpu_seconds()
        begin = time.perf_counter()
        net.run(steps * b2.ms)
        call_s = time.perf_counter() - begin
        cpu = _cpu_seconds() - cpu
        seconds = float(b2.get_device()._last_run_time)  # the simulation loop alone
        counts = np.array(neuron_monitor.count[:]) - counts
        drive = int(drive_monitor.num_spikes - drive_before)
        runs.append({"seconds": seconds, "call_s": call_s, "cpu_s": cpu,
                     "events": int(counts @ degree) + drive,
                     "updates": int(counts[:n_exc] @ (ee_out + ee_in)), "spikes": int(counts.sum())})
    figures = _figures(runs, n, steps)
    setup = figures["call_s"] - figures["seconds"]
    return {"status": "ok", **figures, "build_s": build_s,
            "synapses": int(degree.sum()) + n, "plastic_synapses": int(arrays["exc_exc_rows"].size),
            "mean_w": float(np.mean(plastic.w[:])), "version": b2.__version__,
            "note": f"Brian2 {b2.__version__}; compilation in the warm-up run and each run()'s "
                    f"code generation ({setup:.2f} s) excluded"}


# -- the backends check ---------------------------------------------------------------------------------

def check_backends(n: int = 500, k: int = 50, steps: int = 300, seed: int = 1,
                   workers: tuple[int, ...] = (1, 2), neurons_per_core: int = 128) -> dict[str, Any]:
    """Run the plastic network (``n`` neurons, in-degree ``k``, with its drive) for ``steps``
    steps on the reference backend and on the multicore runtime with each worker count, and
    compare the final plastic weights, the traces ``x1``/``y1``, every spike and the counters.

    The network is compiled (generic profile) with ``neurons_per_core`` neurons per core at most,
    so that ``exc`` spans several cores and two workers share its plastic synapses: each then
    takes plastic rows whose spikes come from the other worker's messages.

    Returns
    -------
    dict
        ``identical`` (bool), ``text`` (a report) and, per backend, ``weights`` (the final
        weights), ``changed`` (how many differ from the initial ones).
    """
    import nmgraph as nm

    params, arrays = connectivity(n, k, seed)
    net, plastic = build_nmgraph(params, arrays)
    exe = nm.compile(net, hardware="generic", max_neurons_per_core=neurons_per_core)
    runs: dict[str, dict[str, Any]] = {}
    backends = [("reference", "reference", None)] + [(f"multicore {w}w", "multicore", w) for w in workers]
    for label, backend, count in backends:
        start = time.perf_counter()
        with nm.Runtime(exe, backend=backend, workers=count) as rt:
            rt.run(steps)
            counters = rt.counters
            held = [sum(block.n_syn for block in program.plastic.projections)
                    for program in getattr(rt.backend, "programs", [])
                    if program.plastic is not None]
            runs[label] = {"held": held,
                "weights": rt.get(plastic, "weights"), "x1": rt.get(plastic, "x1"),
                "y1": rt.get(plastic, "y1"),
                "spikes": {name: (rt.spikes(name).times, rt.spikes(name).indices)
                           for name in ("exc", "inh")},
                "counters": (counters.synaptic_ops, counters.synaptic_updates, counters.spikes),
                "seconds": time.perf_counter() - start}
    reference = runs["reference"]
    w0 = arrays["exc_exc_w0"]
    lines = [f"Backends check: plastic Brunel N={n} K={k} ({w0.size:,} plastic synapses), {steps} "
             f"steps, seed {seed}, {exe.n_cores} cores; reference backend {reference['seconds']:.1f} s, "
             f"{int(np.count_nonzero(reference['weights'] != w0)):,} weights changed, mean "
             f"{w0.mean():.3f} -> {reference['weights'].mean():.3f}; synaptic ops, updates, spikes "
             f"{reference['counters']}"]
    identical = True
    for label, run in runs.items():
        if label == "reference":
            continue
        same = {"weights": np.array_equal(run["weights"], reference["weights"]),
                "x1": np.array_equal(run["x1"], reference["x1"]),
                "y1": np.array_equal(run["y1"], reference["y1"]),
                "spikes": all(np.array_equal(a, b) for name in ("exc", "inh")
                              for a, b in zip(run["spikes"][name], reference["spikes"][name])),
                "counters": run["counters"] == reference["counters"]}
        identical &= all(same.values())
        differ = int(np.count_nonzero(run["weights"] != reference["weights"]))
        lines.append(f"- {label}: " + ", ".join(f"{key} {'identical' if ok else 'DIFFER'}"
                                                for key, ok in same.items())
                     + f" ({differ} weights differ; plastic synapses per worker "
                       f"{', '.join(f'{h:,}' for h in run['held'])}; {run['seconds']:.1f} s)")
    lines.append("identical on every backend" if identical else "BACKENDS DIFFER")
    return {"identical": identical, "text": "\n".join(lines),
            **{label: {"weights": run["weights"],
                       "changed": int(np.count_nonzero(run["weights"] != w0))}
               for label, run in runs.items()}}


if __name__ == "__main__":
    main()
