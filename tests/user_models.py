"""A user-defined neuron model, written as a user would (outside the package): a fixed-point
Izhikevich neuron, its process and its model with an integer NumPy step and no Cython kernel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import nmgraph as nm
from nmgraph.processes import NeuronProcess

Q = 8   # v and u in units of 2**-8 mV


class Izhikevich(NeuronProcess):
    """Izhikevich neurons in Q8 fixed point (a, b dimensionless in Q8; c, d, v, u in Q8 mV)."""

    abstract = False

    def __init__(self, shape: Any, a: Any = 5, b: Any = 51, c: Any = -65 << Q, d: Any = 8 << Q,
                 v: Any = -65 << Q, u: Any = -13 << Q, name: str | None = None) -> None:
        super().__init__(shape, name)
        shape = self.shape
        self._var("a", shape, a, dtype=np.int32, low=0, high=255, bits=8, doc="recovery rate")
        self._var("b", shape, b, dtype=np.int32, low=0, high=255, bits=8, doc="sensitivity")
        self._var("c", shape, c, dtype=np.int32, low=-(100 << Q), high=0, bits=16,
                  doc="reset voltage")
        self._var("d", shape, d, dtype=np.int32, low=0, high=20 << Q, bits=16, doc="reset jump")
        self._var("v", shape, v, dtype=np.int64, low=-(2**23), high=2**23 - 1, bits=24,
                  kind="state", doc="membrane voltage")
        self._var("u", shape, u, dtype=np.int64, low=-(2**23), high=2**23 - 1, bits=24,
                  kind="state", doc="recovery")
        self._finish()


@dataclass(eq=False)
class IzhikevichParams(nm.FieldSet):
    a: np.ndarray = nm.fixed(8, signed=False, dtype=np.int32)
    b: np.ndarray = nm.fixed(8, signed=False, dtype=np.int32)
    c: np.ndarray = nm.fixed(16, dtype=np.int32)
    d: np.ndarray = nm.fixed(16, dtype=np.int32)


@dataclass(eq=False)
class IzhikevichState(nm.FieldSet):
    v: np.ndarray = nm.fixed(24)
    u: np.ndarray = nm.fixed(24)


@nm.implements(Izhikevich)
class IzhikevichModel(nm.NeuronModel):
    """dv = 0.04 v^2 + 5 v + 140 - u + I;  du = a (b v - u);  v >= 30 mV: v = c, u += d."""

    Params = IzhikevichParams
    State = IzhikevichState

    def step(self, state: IzhikevichState, params: IzhikevichParams,
             a_in: np.ndarray) -> np.ndarray:
        v, u = state.v, state.u
        dv = ((v * v * 41) >> 18) + 5 * v + (140 << Q) - u + (a_in << Q)
        du = (params.a * (((params.b * v) >> Q) - u)) >> Q
        v += np.clip(dv, -(40 << Q), 40 << Q)
        u += du
        np.clip(v, -(100 << Q), 2**23 - 1, out=v)
        spikes = v >= (30 << Q)
        v[spikes] = params.c[spikes]
        u[spikes] += params.d[spikes]
        return spikes


class Broken(NeuronProcess):
    """A process whose model breaks its contract in the way ``mode`` says."""

    abstract = False

    def __init__(self, shape: Any, mode: int = 0, name: str | None = None) -> None:
        super().__init__(shape, name)
        self._var("mode", self.shape, mode, dtype=np.int32, low=0, high=3, bits=2)
        self._var("x", self.shape, 0, dtype=np.int64, low=-100, high=100, bits=8, kind="state")
        self._finish()


@dataclass(eq=False)
class BrokenParams(nm.FieldSet):
    mode: np.ndarray = nm.fixed(2, signed=False, dtype=np.int32)


@dataclass(eq=False)
class BrokenState(nm.FieldSet):
    x: np.ndarray = nm.fixed(8, low=-100, high=100)


@nm.implements(Broken)
class BrokenModel(nm.NeuronModel):
    """mode 0 behaves; 1 returns int spikes; 2 returns the wrong shape; 3 leaves x's range after
    step 5."""

    Params = BrokenParams
    State = BrokenState

    def step(self, state: BrokenState, params: BrokenParams, a_in: np.ndarray,
             t: int) -> np.ndarray:
        mode = int(params.mode[0]) if params.mode.size else 0
        spikes = np.zeros(a_in.size, dtype=bool)
        if mode == 1:
            return spikes.astype(np.int64)
        if mode == 2:
            return spikes[:-1]
        if mode == 3 and t >= 5:
            state.x += 1000
        return spikes
