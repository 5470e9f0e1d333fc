"""Processes and Vars: the declarations a network is made of.

A :class:`Process` declares its interface (ports and Vars) and nothing else; how it behaves lives in
the compilers (lowering to the IR) and the runtimes (kernels), found through explicit registries keyed
by process class. Every concrete process class is listed in :data:`PROCESS_TYPES` as soon as it is
defined, which is how save/load finds it again.
"""

from __future__ import annotations

import itertools
import re
import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from nmgraph.core.checks import as_int_array
from nmgraph.core.errors import ValidationError
from nmgraph.core.ports import InPort, OutPort, Port

if TYPE_CHECKING:
    from nmgraph.core.network import Network

__all__ = ["PROCESS_TYPES", "Process", "Var", "process_type_key"]

#: Every Process subclass, keyed by ``module:QualName`` (see :func:`process_type_key`).
PROCESS_TYPES: dict[str, type[Process]] = {}

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]*$")


def process_type_key(cls: type) -> str:
    """The key under which a process class is registered and saved."""
    return f"{cls.__module__}:{cls.__qualname__}"


class Var:
    """A named, shaped, integer variable of a process: a parameter or a piece of state.

    Parameters
    ----------
    owner
        The process the Var belongs to.
    name
        Attribute name (``v``, ``du``, ...).
    shape
        Full shape of the Var (a population's shape for per-neuron values).
    dtype
        NumPy integer dtype used to hold the value.
    low, high
        Inclusive range of allowed values (the bit width of the hardware register).
    bits
        Width of the register on the chip, for documentation and reports.
    kind
        ``"state"`` (changes while running: ``u``, ``v``) or ``"param"`` (fixed unless set).
    """

    def __init__(self, owner: Process, name: str, shape: tuple[int, ...], *, init: Any,
                 dtype: type = np.int64, low: int | None = None, high: int | None = None,
                 bits: int | None = None, kind: str = "param", doc: str = "") -> None:
        self.owner = owner
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.low = low
        self.high = high
        self.bits = bits
        self.kind = kind
        self.doc = doc
        self._value = self._own(init, self.validate(init))

    def validate(self, value: Any) -> np.ndarray:
        """Check ``value`` against the Var's range and shape; a scalar stays a cheap broadcast."""
        return as_int_array(self.owner, self.name, value, shape=self.shape, low=self.low,
                            high=self.high, dtype=self.dtype, copy=False)

    @property
    def value(self) -> np.ndarray:
        """The declared value (read-only; use :meth:`set` to change it)."""
        view = self._value.view()
        view.flags.writeable = False
        return view

    @property
    def is_uniform(self) -> bool:
        """True when every element holds the same value (it is then saved as one number)."""
        return self._value.size == 0 or bool(np.all(self._value == self._value.flat[0]))

    def set(self, value: Any) -> None:
        """Replace the declared value (validated)."""
        self._value = self._own(value, self.validate(value))
        self.owner.touch()

    def _own(self, given: Any, array: np.ndarray) -> np.ndarray:
        """``array``, copied when it shares memory with the caller's ``given`` array: a Var never
        aliases user data, so editing that array later cannot change the process behind the
        back of :func:`nmgraph.compile`'s edit detection. A broadcast (a scalar, a row) stays
        a broadcast of a private copy of what was given."""
        if not isinstance(given, np.ndarray) or not np.shares_memory(array, given):
            return array
        if array.size > 1 and not any(array.strides):       # one value everywhere
            return np.broadcast_to(np.array(array.flat[0], dtype=array.dtype), array.shape)
        if 0 in array.strides and array.size > 1:            # a row or column broadcast
            return np.broadcast_to(np.array(given, dtype=array.dtype), array.shape)
        return array.copy()

    def get(self) -> np.ndarray:
        """A writable copy of the declared value."""
        return np.array(self._value)

    def __repr__(self) -> str:
        return f"<Var {self.owner.name}.{self.name} shape={self.shape} {self.kind}>"


class Process:
    """Base class of every process: a named node of a network with ports and Vars.

    Subclasses declare their ports with :meth:`_in_port` / :meth:`_out_port` and their Vars with
    :meth:`_var` in ``__init__``; those become attributes (``lif.a_in``, ``lif.v``). Assigning to a
    Var attribute after construction validates and sets its value (``lif.vth = 100``); assigning to
    an unknown public attribute warns, since it is most often a typo.

    Parameters
    ----------
    name
        Unique name within its network; generated (``LIF_3``) when not given. Letters, digits and
        ``_ . : -``; no ``/`` (it separates levels of hierarchical processes).
    """

    _name_counters: ClassVar[dict[str, itertools.count]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("abstract", False):
            PROCESS_TYPES[process_type_key(cls)] = cls

    abstract: ClassVar[bool] = True

    def __init__(self, name: str | None = None) -> None:
        object.__setattr__(self, "_ready", False)
        if name is None:
            counter = Process._name_counters.setdefault(type(self).__name__, itertools.count())
            name = f"{type(self).__name__}_{next(counter)}"
        if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
            raise ValidationError(f"{type(self).__name__} {name!r}", "name",
                                  "must be a non-empty string of letters, digits and _ . : - "
                                  "(no '/' or spaces)", name)
        self.name = name
        self.ports: dict[str, Port] = {}
        self.vars: dict[str, Var] = {}
        self.network: Network | None = None
        object.__setattr__(self, "_revision", 0)

    # -- declaration helpers used by subclasses -------------------------------------------------
    def _in_port(self, name: str, shape: tuple[int, ...], kind: str) -> InPort:
        port = InPort(self, name, shape, kind)
        self.ports[name] = port
        object.__setattr__(self, name, port)
        return port

    def _out_port(self, name: str, shape: tuple[int, ...], kind: str) -> OutPort:
        port = OutPort(self, name, shape, kind)
        self.ports[name] = port
        object.__setattr__(self, name, port)
        return port

    def _var(self, name: str, shape: tuple[int, ...], init: Any, **kwargs: Any) -> Var:
        var = Var(self, name, shape, init=init, **kwargs)
        self.vars[name] = var
        object.__setattr__(self, name, var)
        return var

    def _finish(self) -> None:
        """Called at the end of a subclass ``__init__``: from now on attribute typos warn."""
        object.__setattr__(self, "_ready", True)

    @property
    def dt_ms(self) -> float | None:
        """The step length in ms that this process's physical units (Hz, ms) were converted
        with, or None when it was given per-step values; a Network with another ``dt_ms``
        refuses it."""
        return self.__dict__.get("_dt_ms")

    @property
    def revision(self) -> int:
        """Number of edits since construction (Var sets, public attributes assigned)."""
        return self._revision

    def touch(self) -> None:
        """Count an edit (called by every change of a Var or public attribute)."""
        object.__setattr__(self, "_revision", self._revision + 1)

    def __setattr__(self, key: str, value: Any) -> None:
        if getattr(self, "_ready", False):
            if key == "name":
                raise ValidationError(self, "name", "cannot be changed after construction (the "
                                      "network and saved files refer to it); pass name= instead",
                                      value)
            if key in self.vars:
                self.vars[key].set(value)
                return
            if key in self.ports:
                raise ValidationError(self, key, "is a port and cannot be assigned; use "
                                      "Network.connect to connect it")
            if not key.startswith("_") and not hasattr(self, key):
                warnings.warn(f"{type(self).__name__} '{self.name}' has no attribute {key!r}; "
                              f"setting it has no effect on the model (typo?)", stacklevel=2)
            object.__setattr__(self, key, value)
            if not key.startswith("_") and key != "network":
                self.touch()   # after the assignment: a refused value is no edit
            return
        object.__setattr__(self, key, value)

    # -- introspection ----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the population (neurons and sources); subclasses set it."""
        raise NotImplementedError

    @property
    def qualified_name(self) -> str:
        """``parent/child`` path of a process inside hierarchical processes; else its name."""
        owner = self.network.owner if self.network is not None else None
        return self.name if owner is None else f"{owner.qualified_name}/{self.name}"

    def port(self, name: str) -> Port:
        """The port called ``name``, with an error listing the ports there are."""
        try:
            return self.ports[name]
        except KeyError:
            raise ValidationError(self, name, f"no such port; ports are {sorted(self.ports)}") \
                from None

    def var(self, name: str) -> Var:
        """The Var called ``name``, with an error listing the Vars there are."""
        try:
            return self.vars[name]
        except KeyError:
            raise ValidationError(self, name, f"no such Var; Vars are {sorted(self.vars)}") \
                from None

    def constructor_args(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this process with ``type(self)(**args)`` (save/load).

        The default gives every Var's declared value; subclasses add their other arguments.
        """
        return {name: var.get() for name, var in self.vars.items()}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self.name}'>"

