"""Reading and writing the learning state of plastic synapses through :class:`nmgraph.Runtime`.

Backends hold a plastic projection's state in the projection's order (synapses by pre neuron, then
post neuron; traces per neuron). Users see it in the shape of the process:

- ``weights``, ``delay``, ``tags`` of a :class:`~nmgraph.processes.LearningDense`: ``(post, pre)``
  matrices; of a :class:`~nmgraph.processes.LearningSparse`: one value per entry, in the order its
  entries were given (given by name, without the process object, a sparse block's values come in
  the projection's order);
- ``x1``, ``x2`` (pre traces), ``x0`` (the pre neuron spiked in the current epoch): one per pre
  neuron; ``y1``, ``y2``, ``y3``, ``y0``: one per post neuron. A neuron without a synapse in the
  block has no trace: it reads as 0.

A recorded variable's samples are flattened in that layout (C order: a dense block's column
``post * n_pre + pre``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nmgraph.compilers.ir import ProjectionIR
from nmgraph.core.checks import as_int_array
from nmgraph.core.errors import SimulationError, ValidationError
from nmgraph.core.learning import TRACE_MAX
from nmgraph.core.learning.arithmetic import T_BOUNDS
from nmgraph.processes.learning_synapses import LearningSparse, PlasticSynapse
from nmgraph.runtimes.plastic_reference import LEARNING_VARS, plastic_axis

__all__ = ["LAVA_NAMES", "PlasticView"]

#: Lava's names of the learning state (``LearningDense.tag_1``, ``tag_2``).
LAVA_NAMES = {"tag_1": "tags", "tag_2": "delay"}


class PlasticView:
    """The layout of one plastic projection's learning state as its process shows it."""

    def __init__(self, proj: ProjectionIR, process: Any = None) -> None:
        self.proj = proj
        self.label = (f"{type(process).__name__} '{process.name}'" if process is not None
                      else f"plastic synapses '{proj.name}'")
        n_pre, n_post = proj.n_pre, proj.n_post
        self.dense = proj.n_synapses == n_pre * n_post and not isinstance(process, LearningSparse)
        #: process entry of each synapse in the projection's order (None: the same order)
        self.entry_of: np.ndarray | None = None
        if self.dense:   # the projection enumerates all (pre, post) pairs, pre-major
            pre, post = np.divmod(np.arange(proj.n_synapses, dtype=np.int64), n_post)
            self.entry_of = post * n_pre + pre
        elif isinstance(process, LearningSparse):
            order = np.lexsort((process.rows, process.cols))
            self.entry_of = order
        self.shape = {"synapse": (n_post, n_pre) if self.dense else (proj.n_synapses,),
                      "pre": (n_pre,), "post": (n_post,)}

    def canonical(self, var: str) -> str:
        """``var`` by nmgraph's name (Lava's ``tag_1``, ``tag_2`` are ``tags``, ``delay``)."""
        name = LAVA_NAMES.get(var, var) if isinstance(var, str) else var
        if name not in LEARNING_VARS:
            raise SimulationError(f"{self.label} has no {var!r} in the runtime; its learning "
                                  f"state is {', '.join(LEARNING_VARS)}")
        return name

    def check_var(self, var: str) -> str:
        """The axis of ``var`` (an error naming the block when it has none)."""
        return plastic_axis(self.canonical(var))

    def size(self, var: str) -> int:
        return int(np.prod(self.shape[self.check_var(var)]))

    def to_user(self, var: str, values: np.ndarray) -> np.ndarray:
        """Backend order -> the process's shape (the last axis; leading axes kept)."""
        axis = self.check_var(var)
        if axis != "synapse" or self.entry_of is None:
            return values.reshape(*values.shape[:-1], *self.shape[axis])
        out = np.empty_like(values)
        out[..., self.entry_of] = values
        return out.reshape(*values.shape[:-1], *self.shape[axis])

    def to_backend(self, var: str, value: Any) -> np.ndarray:
        """A user's value (validated, broadcast) -> the backend's order."""
        axis = self.check_var(var)
        low, high = self._bounds(var)
        array = as_int_array(self.label, var, value, low=low, high=high)
        try:
            array = np.broadcast_to(array, self.shape[axis]).reshape(-1)
        except ValueError:
            raise ValidationError(self.label, var, f"value of shape {np.shape(value)} does not "
                                  f"fit shape {self.shape[axis]}", value) from None
        if axis == "synapse" and self.entry_of is not None:
            array = array[self.entry_of]
        return np.ascontiguousarray(array, dtype=np.int64)

    def _bounds(self, var: str) -> tuple[int, int]:
        learning = self.proj.learning
        if var == "weights":
            return tuple(learning.w_bounds)
        if var == "delay":
            if "d" not in learning.rule.targets:
                raise SimulationError(f"{self.label}: its delays are fixed (its learning rule "
                                      "has no dd); the runtime's windows rely on them")
            return learning.d_bounds
        if var == "tags":
            return T_BOUNDS
        if var in ("x0", "y0"):
            return 0, 1
        return 0, TRACE_MAX

    @staticmethod
    def find(ir: Any, process: Any) -> tuple[ProjectionIR, Any] | None:
        """The plastic projection of ``process`` (a plastic synapse process or its qualified
        name), or None when it is not one."""
        if isinstance(process, PlasticSynapse):
            name = process.qualified_name
        elif isinstance(process, str):
            name = process
        else:
            return None
        for proj in ir.projections:
            if proj.is_plastic and proj.name == name:
                return proj, process if isinstance(process, PlasticSynapse) else None
        return None
