"""Progress bars: when they are drawn, and that drawing one never changes a result.

Bars are forced on by giving a text stream (``progress=io.StringIO()``) and compared with runs,
compiles and studies made with ``progress=False``.
"""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.core import progress as progress_module
from nmgraph.core.progress import ENV_VAR, progress_bar, progress_range, progress_stream
from nmgraph.processes import LIF, Dense, PoissonSource, fixed_probability
from nmgraph.tools import cli
from nmgraph.tools.study import study


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _network() -> nm.Network:
    net = nm.Network("bars")
    src = net.add(PoissonSource(shape=(40,), rate=0.1, seed=3, name="input"))
    exc = net.add(LIF(shape=(60,), du=400, dv=300, vth=40, name="exc"))
    syn = net.add(Dense(weights=fixed_probability(40, 60, 0.3, weight=40, seed=1)))
    rec = net.add(Dense(weights=fixed_probability(60, 60, 0.1, weight=(-30, -1), seed=2),
                        delay=2))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, exc.a_in)
    net.connect(exc.s_out, rec.s_in)
    net.connect(rec.a_out, exc.a_in)
    return net


# ------------------------------------------------------------------------------ on or off

def test_explicit_settings(monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, "0")  # the environment only changes the automatic choice
    stream = io.StringIO()
    assert progress_stream(False) == (None, False)
    assert progress_stream(True) == (sys.stderr, True)
    assert progress_stream(stream) == (stream, True)


def test_automatic_follows_the_terminal_and_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress_stream(None) == (None, False)      # not a terminal: no bar
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert progress_stream(None) == (terminal, False)  # a terminal: a bar
    monkeypatch.setenv(ENV_VAR, "0")
    assert progress_stream(None) == (None, False)
    monkeypatch.setenv(ENV_VAR, "1")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress_stream(None)[0] is sys.stderr


def test_automatic_bar_waits_before_it_appears(monkeypatch) -> None:
    """On a terminal, a bar shows only once the work took AUTO_DELAY_S (short ones print
    nothing); an explicit one shows at once."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress_bar(None, 10, "quick") as bar:
        assert bar
        bar.advance(10)
    assert terminal.getvalue() == ""
    stream = io.StringIO()
    with progress_bar(stream, 10, "shown") as bar:
        bar.advance(10)
    assert "shown" in stream.getvalue()


def test_progress_range_is_a_range_and_closes_its_bar() -> None:
    stream = io.StringIO()
    assert list(progress_range(stream, 1000, "loop")) == list(range(1000))
    assert list(progress_range(False, 5, "loop")) == [0, 1, 2, 3, 4]
    closed = []
    real = progress_module.ProgressBar.close

    def spy(self) -> None:
        closed.append(bool(self))
        real(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(progress_module.ProgressBar, "close", spy)
        with pytest.raises(RuntimeError):
            for step in progress_range(io.StringIO(), 10, "failing"):
                if step == 3:
                    raise RuntimeError("stop")
    assert closed and closed[0]  # the bar was open and got closed


# ----------------------------------------------------------------------- results unchanged

def _run(backend: str, progress, steps: int = 300) -> tuple[list, np.ndarray, dict]:
    net = _network()
    exe = nm.compile(net, hardware="loihi1", max_neurons_per_core=20, progress=False)
    options = {"workers": 2} if backend == "multicore" else {}
    with nm.Runtime(exe, backend=backend, progress=progress, **options) as rt:
        rt.record("exc", "v")
        rt.run(steps // 3)
        rt.run(steps - steps // 3)
        spikes = rt.spikes("exc")
        return (sorted(zip(spikes.times.tolist(), spikes.indices.tolist())),
                rt.recorded("exc", "v"), rt.counters.as_dict())


@pytest.mark.parametrize("backend", ["reference", "multicore"])
def test_a_bar_never_changes_a_run(backend: str, monkeypatch) -> None:
    seen: list[int] = []
    real = progress_module.ProgressBar.update_to

    def spy(self, done: int) -> None:
        seen.append(done)
        real(self, done)

    monkeypatch.setattr(progress_module.ProgressBar, "update_to", spy)
    stream = io.StringIO()
    with_bar = _run(backend, stream)
    drawn = stream.getvalue()
    assert "run 'bars'" in drawn and "step" in drawn
    assert seen and seen[-1] == 200 and max(seen) == 200  # the second run's 200 steps
    without = _run(backend, False)
    assert with_bar[0] == without[0] and len(without[0]) > 100
    assert np.array_equal(with_bar[1], without[1])
    assert with_bar[2] == without[2]


def test_multicore_bar_reads_the_workers_counters(monkeypatch) -> None:
    """While the host waits for a command, the bar shows the steps done before it plus the
    steps the slowest worker has done since (the workers' shared counters). The wait is driven
    by hand: the first poll moves the counters of workers 0 and 1 by 7 and 4 steps, the second
    ends the wait."""
    from nmgraph.runtimes import multicore

    class _Stop(Exception):
        pass

    exe = nm.compile(_network(), hardware="loihi1", max_neurons_per_core=20, progress=False)
    with nm.Runtime(exe, workers=2, progress=False) as rt:
        backend = rt.backend
        assert backend.n_workers == 2
        polls = []

        def wait(handles, timeout=None):
            polls.append(bar.done)
            if len(polls) == 1:
                backend._beats[0] += 7
                backend._beats[1] += 4
                return []
            raise _Stop

        before = backend._beats.copy()
        bar = progress_bar(io.StringIO(), 100, "watched")
        backend._bar = (bar, before[:2].copy(), 10)
        monkeypatch.setattr(multicore.multiprocessing.connection, "wait", wait)
        with pytest.raises(_Stop):
            backend._gather([0, 1])
        monkeypatch.undo()
        backend._bar = None
        backend._beats[:] = before
        bar.close()
        assert polls == [10, 14]  # 10 before the command, then 10 + min(7, 4)
        rt.run(5)  # the runtime still works
        assert rt.t == 5


def test_a_bar_never_changes_a_compile() -> None:
    net = _network()
    stream = io.StringIO()
    shown = nm.compile(net, hardware="loihi1", partition="mincut", max_neurons_per_core=20,
                       progress=stream)
    quiet = nm.compile(net, hardware="loihi1", partition="mincut", max_neurons_per_core=20,
                       progress=False)
    assert "compile" in stream.getvalue() and "pass" in stream.getvalue()
    assert np.array_equal(shown.partition.unit_core, quiet.partition.unit_core)
    assert shown.report.n_cores == quiet.report.n_cores
    assert list(shown.options["timings_s"]) == ["lower", "quantize", "synapse_graph",
                                                "partition", "place", "route", "tables"]
    with pytest.raises(nm.ValidationError, match=r"compile\.progress"):
        nm.compile(net, progress="yes")


def test_a_bar_never_changes_a_study() -> None:
    net = _network()
    stream = io.StringIO()
    shown = study(net, hardware="loihi1,loihi2", partition="greedy,mincut", steps=50,
                  progress=stream)
    quiet = study(net, hardware="loihi1,loihi2", partition="greedy,mincut", steps=50,
                  progress=False)
    drawn = stream.getvalue()
    assert "study 'bars'" in drawn and "4/4" in drawn and "case" in drawn
    assert shown.records == quiet.records


def test_backends_accept_progress_and_refuse_the_rest() -> None:
    exe = nm.compile(_network(), hardware="loihi1", progress=False)
    with nm.Runtime(exe, backend="reference", progress=False) as rt:
        rt.run(3)
    with pytest.raises(nm.SimulationError, match=r"unknown reference options \['window'\]"):
        nm.Runtime(exe, backend="reference", window=3)
    with pytest.raises(nm.SimulationError, match="progress must be True, False, None"):
        nm.Runtime(exe, backend="reference", progress="yes")


def test_cli_no_progress(tmp_path, monkeypatch, capsys) -> None:
    model = tmp_path / "model.py"
    model.write_text("import nmgraph as nm\nfrom nmgraph.processes import LIF\n\n"
                     "def build():\n    net = nm.Network('one')\n"
                     "    net.add(LIF(shape=(4,), vth=10))\n    return net\n", encoding="utf-8")
    monkeypatch.delenv(ENV_VAR, raising=False)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    seen = []
    real = progress_module.progress_stream

    def spy(value):
        seen.append(value)
        return real(value)

    monkeypatch.setattr(progress_module, "progress_stream", spy)
    assert cli.main(["map", f"{model}:build", "--hw", "loihi1", "--no-progress",
                     "--report", str(tmp_path / "map.md")]) == 0
    assert seen == [False]
    seen.clear()
    assert cli.main(["map", f"{model}:build", "--hw", "loihi1",
                     "--report", str(tmp_path / "map.md")]) == 0
    assert seen == [None]  # automatic: a terminal, so a bar (after AUTO_DELAY_S)
