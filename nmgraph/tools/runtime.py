"""``nm.Runtime``: run a network, an Executable or a NetworkIR on a chosen backend."""

from __future__ import annotations

import logging
import numbers
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nmgraph.compilers.ir import NetworkIR, PopulationIR
from nmgraph.compilers.lower import lower
from nmgraph.core.checks import as_int_array
from nmgraph.core.errors import QuantizationWarning, SimulationError, ValidationError
from nmgraph.core.hierarchy import Hierarchical
from nmgraph.core.network import Network
from nmgraph.core.process import Process
from nmgraph.processes.base import PopulationProcess
from nmgraph.runtimes.registry import backend_factory
from nmgraph.runtimes.results import Counters, SpikeEvents
from nmgraph.runtimes.state import MAX_STEPS
from nmgraph.tools.monitor import Monitor, select_units
from nmgraph.tools.plastic_access import PlasticView

__all__ = ["Runtime"]

log = logging.getLogger("nmgraph.tools.runtime")

DEFAULT_BACKEND = "multicore"


class Runtime:
    """Runs a network step by step and gives back spikes, recorded state and counters.

    Parameters
    ----------
    target
        A :class:`~nmgraph.Network` (lowered with the defaults), an Executable from
        :func:`nmgraph.compile` (runs its quantized network: mapping never changes results), or a
        lowered :class:`~nmgraph.compilers.ir.NetworkIR`.
    backend
        ``"multicore"`` (default): the Cython multi-core runtime, cores spread over ``workers``
        processes exchanging spike messages (a Network is first compiled with the defaults);
        ``"reference"``: the NumPy reference simulator (the oracle); ``"mpi"``: the cores
        spread over MPI ranks, either the ranks of the ``mpiexec`` job this script runs in (every
        rank runs the script; every call is then collective) or, with ``ranks=N``, ranks the
        Runtime starts itself with ``mpiexec`` and drives from this process. All give
        bit-identical spikes and state.
    workers
        Worker processes of the multicore backend (default 2); the reference backend takes 1.
    options
        Backend options. ``progress`` (both backends): a tqdm bar during :meth:`run`; None
        (default) draws it when stderr is a terminal and the run lasts over half a second
        (``NMGRAPH_PROGRESS=0`` turns that off, ``1`` on), True always, False never, or give a
        text stream to draw it on. The bar never changes results. Multicore also takes
        ``transport`` and ``watchdog_s`` (see ``MulticoreBackend``); mpi takes ``ranks``,
        ``comm`` (an mpi4py communicator, default ``COMM_WORLD``), ``watchdog_s``, ``mpiexec``
        and ``mpiexec_args`` (see ``MPIBackend``, ``MPIHostBackend``).

    Examples
    --------
    >>> with nm.Runtime(net, backend="reference") as rt:
    ...     rt.record(exc, "v")
    ...     rt.run(100)
    ...     spikes = rt.spikes(exc)        # SpikeEvents: .times (from 1), .indices
    ...     v = rt.recorded(exc, "v")      # (steps recorded, n)
    """

    def __init__(self, target: Network | NetworkIR, backend: str = DEFAULT_BACKEND,
                 workers: int | None = None, **options: Any) -> None:
        from nmgraph.compilers.executable import Executable

        self._network = target if isinstance(target, Network) else None
        self.executable = target if isinstance(target, Executable) else None
        if self.executable is not None:
            _check_unedited(self.executable)
        if isinstance(target, Network):
            ir = lower(target)
            if backend not in ("multicore", "mpi"):   # those compile, and compile warns
                _warn_truncated(ir)
        elif isinstance(target, Executable):
            ir = target.ir
        elif isinstance(target, NetworkIR):
            ir = target
        else:
            raise ValidationError("Runtime", "target", "expects a Network, an Executable or a "
                                  "NetworkIR", target)
        if not isinstance(backend, str):
            raise ValidationError("Runtime", "backend", "must be a backend name", backend)
        factory = backend_factory(backend)
        if backend in ("multicore", "mpi") and self.executable is None:
            if self._network is None:
                raise ValidationError("Runtime", "target", f"the {backend} backend runs a "
                                      "Network or an Executable, not a bare NetworkIR", target)
            from nmgraph.compilers.pipeline import compile_network

            self.executable = compile_network(self._network)
            log.info("compiled '%s' with the defaults (generic profile) for the %s backend",
                     ir.name, backend)
        self.ir = ir
        self.backend_name = backend
        self._backend = factory(ir, executable=self.executable, workers=workers, **options)
        self._closed = False
        self._monitors: dict[tuple[str, str], Monitor] = {}
        #: layouts of plastic blocks by (name, named by its process), and of recorded variables
        self._plastic_views: dict[tuple[str, bool], PlasticView] = {}
        self._recorded_views: dict[tuple[str, str], PlasticView] = {}
        log.info("Runtime on backend %r for network '%s' (%d units, %d synapses)", backend,
                 ir.name, ir.n_units, ir.n_synapses)

    # -- running ---------------------------------------------------------------------------------
    @property
    def backend(self) -> Any:
        """The backend object, for inspection: on ``multicore`` its ``n_workers``, ``window``
        (steps between exchanges), ``core_worker`` (worker of each core) and ``programs``."""
        return self._backend

    @property
    def t(self) -> int:
        """Steps run so far."""
        return self._backend.t

    @property
    def dt_ms(self) -> float:
        """Length of a step in ms (the network's ``dt_ms``)."""
        return self.ir.dt_ms

    @property
    def t_ms(self) -> float:
        """Time run so far in ms (``t * dt_ms``)."""
        return self.t * self.ir.dt_ms

    def run(self, steps: int) -> None:
        """Run ``steps`` more steps, continuing where the last run stopped."""
        self._check_open()
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
            raise ValidationError("Runtime", "run", "steps must be an int >= 0", steps)
        if self.t + int(steps) > MAX_STEPS:
            raise ValidationError("Runtime", "run", f"a run reaches at most step {MAX_STEPS} "
                                  f"(2**31 - 1); this one is at step {self.t}", steps)
        self._backend.run(int(steps))

    def record(self, process: Process | str, var: str, neurons: Any = None,
               every: int = 1) -> Monitor:
        """Record ``var`` of ``process`` from the next step on.

        Parameters
        ----------
        process, var
            What to record (a state Var such as ``v``, ``u``).
        neurons
            The units to record: None (all), a slice, a boolean mask or flat indices (the
            columns of the result, in the order given).
        every
            Record every ``every`` steps (the first sample is the next step's).

        Returns
        -------
        Monitor
            ``.values`` (samples x units), ``.steps``, ``.t_ms``; ``rt.recorded(process, var)``
            gives the same values. Recording the same Var again with the same choice returns the
            same monitor; with another choice it raises.
        """
        self._check_open()
        process, var = self._resolve(process, var)
        label = f"Runtime.record({_label(process)}, {var!r})"
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
            raise ValidationError(label, "every", "must be an int >= 1 (steps)", every)
        plastic = self._plastic_view(process)
        if plastic is not None:
            return self._record_plastic(process, plastic, var, neurons, int(every), label)
        pop = self._population(process)
        self._check_var(process, pop, var, state_only=True)
        chosen = select_units(label, neurons, pop.size)
        existing = self._monitors.get((pop.name, var))
        if existing is not None:
            if existing.matches(chosen, int(every)):
                return existing
            raise SimulationError(f"{label}: already recorded as {existing!r}; a Var is recorded "
                                  "one way per Runtime")
        self._backend.record(pop.name, var, None if chosen is None else np.sort(chosen),
                             int(every))
        monitor = Monitor(self, process, var, pop.name, chosen, int(every), self.t + 1,
                          self.ir.dt_ms)
        self._monitors[(pop.name, var)] = monitor
        return monitor

    def _record_plastic(self, process: Any, view: PlasticView, var: str, neurons: Any,
                        every: int, label: str) -> Monitor:
        """Record a plastic block's learning variable: every entry (synapse or neuron) is
        sampled; ``neurons`` picks the columns of the monitor (flat indices of the layout)."""
        var = view.canonical(var)
        chosen = select_units(label, neurons, view.size(var))
        name = view.proj.name
        existing = self._monitors.get((name, var))
        if existing is not None:
            if existing.matches(chosen, every):
                return existing
            raise SimulationError(f"{label}: already recorded as {existing!r}; a Var is recorded "
                                  "one way per Runtime")
        self._backend.record(name, var, None, every)
        monitor = Monitor(self, process, var, name, chosen, every, self.t + 1, self.ir.dt_ms)
        self._monitors[(name, var)] = monitor
        self._recorded_views[(name, var)] = view
        return monitor

    def _backend_samples(self, population: str, var: str) -> np.ndarray:
        data = self._backend.recorded(population, var)[1]
        view = self._recorded_views.get((population, var))
        if view is None:
            return data
        data = view.to_user(var, data).reshape(data.shape[0], -1)
        monitor = self._monitors.get((population, var))
        if monitor is not None and monitor.neurons is not None:
            data = data[:, np.sort(monitor.neurons)]
        return data

    def _plastic_view(self, process: Any) -> PlasticView | None:
        """The layout of a plastic synapse block's learning state (the process's, or the
        projection's order when named by string), or None for other processes."""
        found = PlasticView.find(self.ir, process)
        if found is None:
            return None
        proj, owner = found
        if owner is not None and self._network is not None and not _belongs_to(owner,
                                                                               self._network):
            raise SimulationError(f"{_label(owner)} is not part of network "
                                  f"'{self._network.name}' run by this Runtime")
        key = (proj.name, owner is not None)
        view = self._plastic_views.get(key)
        if view is None:
            view = self._plastic_views[key] = PlasticView(proj, owner)
        return view

    # -- results ---------------------------------------------------------------------------------
    def spikes(self, process: Process | str) -> SpikeEvents:
        """Spikes of a neuron or source process (of a hierarchical process: of the child whose
        ``s_out`` it exposes), sorted by time then index."""
        process, _ = self._resolve(process, None)
        pop = self._population(process)
        times, indices = self._backend.spike_events(pop.name)
        order = np.lexsort((indices, times))
        return SpikeEvents(times[order], indices[order], pop.size, self.t, self.ir.dt_ms)

    def rates(self, process: Process | str, bin_ms: float | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Population rate of ``process`` in Hz per bin of ``bin_ms`` (a whole number of steps;
        default one step), from the spikes recorded so far, as Brian2's PopulationRateMonitor.

        Returns ``(bin_end_ms, rate_hz)``; see :meth:`SpikeEvents.population_rate`.
        """
        events = self.spikes(process)
        try:
            return events.population_rate(bin_ms)
        except ValidationError as exc:
            raise ValidationError(f"Runtime.rates({_label(process)})", "bin_ms",
                                  str(exc).split(": ", 1)[-1].rsplit(" (got", 1)[0],
                                  bin_ms) from None

    def recorded(self, process: Process | str, var: str) -> np.ndarray:
        """Recorded values of ``var``: int64 array ``(samples, units recorded)`` (see
        :meth:`record`; its Monitor also gives the steps of the samples)."""
        process, var = self._resolve(process, var)
        view = self._plastic_view(process)
        if view is not None:
            var = view.canonical(var)
        name = view.proj.name if view is not None else self._population(process).name
        monitor = self._monitors.get((name, var))
        if monitor is None:
            raise SimulationError(f"{_label(process)}: Var {var!r} was not recorded; call "
                                  f"rt.record(proc, {var!r}) before running")
        return monitor.values

    def get(self, process: Process | str, var: str) -> np.ndarray:
        """Current value of ``var`` (a copy, in the process's shape). Of a plastic synapse
        block: its ``weights``, ``delay``, ``tags`` (a ``LearningDense``'s as ``(post, pre)``
        matrices) and traces (``x1``, ``x2`` per pre neuron, ``y1..y3`` per post neuron)."""
        process, var = self._resolve(process, var)
        view = self._plastic_view(process)
        if view is not None:
            var = view.canonical(var)
            return view.to_user(var, self._backend.get(view.proj.name, var))
        pop = self._population(process)
        self._check_var(process, pop, var)
        return self._backend.get(pop.name, var).reshape(pop.shape)

    def set(self, process: Process | str, var: str, value: Any) -> None:
        """Set ``var`` between runs (validated against the Var's range; scalars broadcast)."""
        self._check_open()
        process, var = self._resolve(process, var)
        view = self._plastic_view(process)
        if view is not None:
            var = view.canonical(var)
            self._backend.set(view.proj.name, var, view.to_backend(var, value))
            return
        pop = self._population(process)
        self._check_var(process, pop, var)
        declared = self._declared_var(process, pop, var)
        if declared is not None:
            array = declared.validate(value)
        fields = pop.state if var in pop.state else pop.params
        if var in fields:   # the model's declared range, whichever way the process was named
            spec = fields.specs()[var]
            array = as_int_array(_label(process), var, array if declared is not None else value,
                                 low=spec.low, high=spec.high)
        elif declared is None:
            raise SimulationError(f"{_label(process)} has no settable {var!r}")
        try:
            array = np.broadcast_to(array, pop.shape).ravel()
        except ValueError:
            raise ValidationError(_label(process), var, f"value of shape {np.shape(value)} does "
                                  f"not fit shape {pop.shape}", value) from None
        self._backend.set(pop.name, var, array)

    @property
    def counters(self) -> Counters:
        """Operations counted so far: synaptic ops, neuron updates, spikes (and messages, hops)."""
        return self._backend.counters()

    # -- snapshots -------------------------------------------------------------------------------
    def snapshot(self, path: str | Path) -> Path:
        """Save the whole state of the run and its Executable to one file (no pickle).

        A run restored with :meth:`Runtime.restore`, on any backend and worker count, continues
        exactly as this one would. Recordings of state are not included.
        """
        from nmgraph.compilers.pipeline import compile_network
        from nmgraph.runtimes.snapshot import save_snapshot

        self._check_open()
        exe = self.executable if self.executable is not None else compile_network(self.ir)
        state = self._backend.dump_state()
        write_once = getattr(self._backend, "write_once", None)   # MPI ranks: one file
        if write_once is not None:
            return write_once(lambda: save_snapshot(exe, state, path))
        return save_snapshot(exe, state, path)

    @classmethod
    def restore(cls, path: str | Path, backend: str = DEFAULT_BACKEND,
                workers: int | None = None, **options: Any) -> Runtime:
        """A Runtime that continues the run saved by :meth:`snapshot` (processes are then named
        by their qualified names: ``rt.spikes("exc")``)."""
        from nmgraph.runtimes.snapshot import load_snapshot

        exe, state = load_snapshot(path)
        runtime = cls(exe, backend=backend, workers=workers, **options)
        try:
            runtime._backend.load_state(state)
        except BaseException:
            runtime.close()
            raise
        return runtime

    # -- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the backend's resources (workers, shared memory). Results stay readable."""
        if not self._closed:
            self._closed = True
            self._backend.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise SimulationError("this Runtime is closed; results stay readable, but it cannot "
                                  "run or change state")

    # -- resolving processes -----------------------------------------------------------------------
    @staticmethod
    def _resolve(process: Process | str, var: str | None) -> tuple[Process | str, str | None]:
        """A hierarchical process stands for a child: for a Var it exposes
        (``expose_var``), that Var's process; otherwise the child whose ``s_out`` it exposes."""
        while isinstance(process, Hierarchical):
            if var is not None and var in process.exposed_vars:
                exposed = process.exposed_vars[var]
                process, var = exposed.owner, exposed.name
                continue
            port = process.ports.get("s_out")
            if port is None:
                raise SimulationError(
                    f"{_label(process)} is hierarchical and exposes no 's_out': expose a child's "
                    f"(self.expose('s_out', child.s_out)) or its Vars (self.expose_var(...)), "
                    f"or ask a child (e.g. rt.spikes('{process.name}/<child>'))")
            process = port.resolve().process
        return process, var

    def _population(self, process: Process | str) -> PopulationIR:
        if isinstance(process, str):
            name = process
        elif isinstance(process, Process):
            if self._network is not None and not _belongs_to(process, self._network):
                raise SimulationError(f"{_label(process)} is not part of network "
                                      f"'{self._network.name}' run by this Runtime")
            if not isinstance(process, PopulationProcess):
                what = ("has no spikes: read its learning state with rt.get(syn, 'weights'), "
                        "its traces with 'x1'.., or ask its neurons"
                        if PlasticView.find(self.ir, process) is not None else
                        "has no spikes or state in the runtime (only plastic blocks, "
                        "LearningDense and LearningSparse, have state); ask its target neurons")
                raise SimulationError(f"{_label(process)} is a synapse block: it {what}")
            name = process.qualified_name
        else:
            raise ValidationError("Runtime", "process", "expects a Process or a process name",
                                  process)
        if name not in self.ir:
            raise SimulationError(f"no neuron or source process named '{name}' in network "
                                  f"'{self.ir.name}'")
        return self.ir.population(name)

    def _declared_var(self, process: Process | str, pop: PopulationIR, var: str):
        if isinstance(process, Process):
            return process.vars.get(var)
        return None

    def _check_var(self, process: Process | str, pop: PopulationIR, var: str,
                   state_only: bool = False) -> None:
        known = pop.state if state_only else {**pop.params, **pop.state}
        if isinstance(process, Process) and not state_only:
            known = {name: None for name in process.vars}
        if var not in known:
            kind = "state Vars" if state_only else "Vars"
            raise SimulationError(f"{_label(process)} has no {var!r} among its {kind} "
                                  f"{sorted(known)}")


def _label(process: Process | str) -> str:
    if isinstance(process, Process):
        return f"{type(process).__name__} '{process.name}'"
    return f"process '{process}'"


def _belongs_to(process: Process, network: Network) -> bool:
    net = process.network
    while net is not None:
        if net is network:
            return True
        net = net.owner.network if net.owner is not None else None
    return False


def _check_unedited(exe: Any) -> None:
    """Refuse an Executable whose Network was edited after :func:`nmgraph.compile`."""
    stamp = exe.source
    changes = stamp.changes() if stamp is not None else []
    if changes:
        raise SimulationError(
            f"network '{stamp.name}' was edited after nm.compile: {', '.join(changes)} changed; "
            f"the Executable still holds the network as it was compiled. Compile again "
            f"(exe = nm.compile(net, ...)) or give the Runtime the Network (it then compiles "
            f"the network as it is now)")


def _warn_truncated(ir: NetworkIR) -> None:
    """Warn when lowering dropped low weight bits (``num_weight_bits`` < 8, as Lava's Dense)."""
    changed = [(proj.name, int(np.count_nonzero(proj.weights != proj.declared_weights)))
               for proj in ir.projections if proj.declared_weights is not None]
    if changed:
        names = ", ".join(f"'{name}' ({count:,})" for name, count in changed)
        warnings.warn(QuantizationWarning(
            f"network '{ir.name}': num_weight_bits < 8 dropped low weight bits, as Lava's Dense "
            f"and Sparse do, in {names}; syn.effective_weights() shows the weights that run"),
            stacklevel=3)
