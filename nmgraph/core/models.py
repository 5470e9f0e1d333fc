"""Models: how a population process runs, registered by process class.

A process declares its interface (ports and Vars); a *model* says how it behaves, in one place:

* ``Params`` and ``State``: dataclasses (subclasses of :class:`FieldSet`) whose fields are declared
  with :func:`fixed`, giving each one's fixed-point width, range and dtype. The network IR holds
  instances of these, not dictionaries of arrays.
* ``lower(process)``: the ``(Params, State)`` of a process (by default each field is read from the
  process's Var of the same name).
* ``step``: the update as integer NumPy, the specification that the reference backend runs and the
  multi-core runtime runs too where the model has no Cython kernel.
* ``kernel`` (built-in models only): the Cython kernel that runs it on the multi-core runtime, as
  ``"module:name"``, with ``kernel_params(params)`` giving the arrays that kernel reads.

Models are registered with :func:`implements`, keyed by process class and resolved through the
class's MRO, as Lava's ``@implements`` and Nengo's ``Builder.register`` do::

    @implements(Izhikevich)
    class IzhikevichModel(NeuronModel):
        Params = IzhikevichParams
        State = IzhikevichState

        def step(self, state, params, a_in):
            ...                       # integer NumPy, in place on state; returns bool spikes

A model's ``step`` must treat units independently (unit ``i``'s new state and spike depend only
on its own state, parameters and input): the multi-core runtime calls it on the units of one
population that one worker holds, once per step, and the results must not depend on the partition.
A step may take keyword parameters ``t`` (the step, from 1) and ``index`` (the units' indices
within their population, int64) when it needs them (for example for counter-based noise).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from nmgraph.core.errors import FileFormatError, NmgraphError, SimulationError, ValidationError

__all__ = [
    "FieldSet",
    "FixedPoint",
    "NeuronModel",
    "PopulationModel",
    "SourceModel",
    "checked_step",
    "fixed",
    "implements",
    "model_named",
    "model_of",
    "registered_models",
]


@dataclasses.dataclass(frozen=True)
class FixedPoint:
    """How one field of a model is held: register width, inclusive range and NumPy dtype.

    ``per_unit`` fields have one value per unit along their last axis (most have shape
    ``(units,)``; a spike generator's data is ``(steps, units)``); the others are one value (or
    array) for the whole population.
    """

    bits: int
    low: int
    high: int
    dtype: np.dtype
    per_unit: bool = True
    doc: str = ""
    #: Axes of a per-unit field (units on the last one); the shape of a population-wide one.
    ndim: int = 1
    shape: tuple[int, ...] = ()
    #: Value every unit takes when the field is missing (None: the field is required). Files
    #: and snapshots written before a field was added load with it.
    default: int | None = None

    def filled(self, size: int) -> np.ndarray:
        """The field at its default: one value per unit (per-unit fields), else ``shape``."""
        if self.default is None:
            raise ValueError("this field has no default")
        return np.full((size,) if self.per_unit else self.shape, self.default, dtype=self.dtype)

    def check(self, owner: str, name: str, array: np.ndarray) -> None:
        """Raise if ``array`` has values outside ``[low, high]``, naming the first one."""
        if array.size == 0 or array.dtype == np.bool_:
            return
        bad = (array < self.low) | (array > self.high)
        if bad.any():
            where = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), array.shape)
            unit = where[-1] if array.ndim else 0
            raise SimulationError(f"{owner}: {name!r} = {int(array[where])} at unit {unit} is "
                                  f"outside its declared range [{self.low}, {self.high}] "
                                  f"({self.bits} bits)")


def fixed(bits: int, *, signed: bool = True, low: int | None = None, high: int | None = None,
          dtype: Any = np.int64, per_unit: bool = True, doc: str = "", ndim: int = 1,
          shape: tuple[int, ...] = (), default: int | None = None) -> Any:
    """Declare a field of a model's ``Params`` or ``State`` dataclass.

    Parameters
    ----------
    bits
        Register width on the chip.
    signed
        Two's complement (range ``-2**(bits-1) .. 2**(bits-1) - 1``) or unsigned
        (``0 .. 2**bits - 1``); ``low``/``high`` narrow the range further.
    dtype
        NumPy dtype the value is held in (state is always int64).
    per_unit
        One value per unit (last axis), or one for the population.
    doc
        What it is, with its unit.
    ndim
        Axes of a per-unit field (1: one value per unit; a spike raster ``(steps, units)``: 2).
    shape
        Shape of a population-wide field (default ``()``: one number).
    default
        The value of every unit when the field is not given (None: it must be given). A field
        added to a model after files were written with it needs one: executables and snapshots
        that lack the field then load with it at its default, and :meth:`PopulationModel.lower`
        uses it for a process that has no Var of that name. Only for fields of one value per
        unit (``ndim=1``) or population-wide ones.
    """
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    low, high = lo if low is None else low, hi if high is None else high
    if default is not None:
        if isinstance(default, bool) or not isinstance(default, (int, np.integer)):
            raise TypeError(f"fixed(default=...) must be an int (got {default!r})")
        if per_unit and ndim != 1:
            raise TypeError("fixed(default=...) is for fields of one value per unit (ndim=1) "
                            "or population-wide ones")
        if not low <= int(default) <= high:
            raise TypeError(f"fixed(default={default}) is outside the field's range "
                            f"[{low}, {high}]")
        default = int(default)
    spec = FixedPoint(bits=bits, low=low, high=high, dtype=np.dtype(dtype), per_unit=per_unit,
                      doc=doc, ndim=ndim, shape=tuple(shape), default=default)
    return dataclasses.field(metadata={"fixed": spec})


class FieldSet:
    """Base of the ``Params`` and ``State`` dataclasses of models: named arrays with a
    :class:`FixedPoint` declaration each (see :func:`fixed`)."""

    @classmethod
    def specs(cls) -> dict[str, FixedPoint]:
        """Field name -> declaration, in declaration order."""
        cached = cls.__dict__.get("_specs")
        if cached is not None:
            return cached
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a dataclass (decorate it with @dataclass)")
        out = {}
        for f in dataclasses.fields(cls):
            spec = f.metadata.get("fixed")
            if spec is None:
                raise TypeError(f"{cls.__name__}.{f.name} must be declared with nmgraph's "
                                f"fixed(bits, ...)")
            out[f.name] = spec
        cls._specs = out
        return out

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(cls.specs())

    def arrays(self) -> dict[str, np.ndarray]:
        """Field name -> array."""
        return {name: getattr(self, name) for name in self.names()}

    # read access by name, for code that handles every model alike
    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.specs():
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self):
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self.specs()

    def __len__(self) -> int:
        return len(self.specs())

    def keys(self) -> tuple[str, ...]:
        return self.names()

    def items(self) -> list[tuple[str, np.ndarray]]:
        return list(self.arrays().items())

    @classmethod
    def complete(cls, values: Mapping[str, Any], size: int) -> dict[str, Any]:
        """``values`` with every field of this class that is missing and has a default (see
        :func:`fixed`) added at its default, for ``size`` units; other entries kept as given."""
        out = dict(values)
        for name, spec in cls.specs().items():
            if name not in out and spec.default is not None:
                out[name] = spec.filled(size)
        return out

    @classmethod
    def build(cls, owner: str, values: Mapping[str, Any], size: int,
              error: type[NmgraphError] = ValidationError) -> FieldSet:
        """An instance from ``values`` (every field required, except those declared with a
        default, which take it when missing), each converted to its dtype and checked: per-unit
        fields must have ``size`` units on their last axis, values within their range. ``error``
        is raised (with ``owner`` named) on a problem."""
        def fail(attribute: str, message: str) -> NmgraphError:
            if issubclass(error, ValidationError):
                return error(owner, attribute, message)
            return error(f"{owner}: {attribute + ': ' if attribute else ''}{message}")

        specs = cls.specs()
        values = cls.complete(values, size)
        missing = sorted(set(specs) - set(values))
        extra = sorted(set(values) - set(specs))
        if missing or extra:
            raise fail("", f"{cls.__name__} needs fields {list(specs)}"
                       + (f"; missing {missing}" if missing else "")
                       + (f"; unknown {extra}" if extra else ""))
        fields = {}
        for name, spec in specs.items():
            array = np.asarray(values[name])
            if spec.dtype.kind in "iub" and array.dtype.kind not in "iub":
                raise fail(name, f"must be integer ({spec.dtype}), got {array.dtype}")
            if spec.per_unit and (array.ndim != spec.ndim or array.shape[-1] != size):
                raise fail(name, f"must have {spec.ndim} axes, {size} units on the last (got "
                                 f"shape {array.shape})")
            if not spec.per_unit and array.shape != spec.shape:
                raise fail(name, f"must have shape {spec.shape} (got {array.shape})")
            if array.size and array.dtype != np.bool_ and spec.dtype != np.bool_:
                low, high = int(array.min()), int(array.max())
                if low < spec.low or high > spec.high:
                    raise fail(name, f"holds values in [{low}, {high}], outside its declared "
                                     f"range [{spec.low}, {spec.high}]")
            fields[name] = np.asarray(array, dtype=spec.dtype, order="C")
        return cls(**fields)

    def copy(self) -> FieldSet:
        """A deep copy (writable arrays)."""
        return type(self)(**{k: np.array(v) for k, v in self.arrays().items()})

    def subset(self, index: Any) -> FieldSet:
        """Per-unit fields indexed on their last axis by ``index`` (a slice gives views);
        population-wide fields as they are."""
        specs = self.specs()
        return type(self)(**{k: (v[..., index] if specs[k].per_unit else v)
                             for k, v in self.arrays().items()})

    def equals(self, other: FieldSet) -> bool:
        return type(self) is type(other) and all(
            np.array_equal(a, b) for a, b in zip(self.arrays().values(), other.arrays().values()))


class PopulationModel:
    """Base of neuron and source models. See the module docstring.

    Class attributes
    ----------------
    name
        Key of the model in files and in the registry (set by :func:`implements`: the given name,
        else ``module.QualName``).
    Params, State
        :class:`FieldSet` dataclasses.
    kernel
        ``"module:name"`` of a Cython kernel (built-in models), else None: the multi-core runtime
        then runs :meth:`step` in the worker, once per population slice per step.
    is_source
        Sources have no synaptic input (``a_in``) and no column in the input ring buffer.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[FieldSet]]
    State: ClassVar[type[FieldSet]]
    kernel: ClassVar[str | None] = None
    is_source: ClassVar[bool] = False
    #: Process classes this model implements (set by :func:`implements`).
    implements: ClassVar[tuple[type, ...]] = ()

    def lower(self, process: Any) -> tuple[FieldSet, FieldSet]:
        """The parameters and initial state of ``process``: by default every field is read from
        the process's Var of the same name, flattened to one value per unit (a field declared
        with a default takes it when the process has no such Var)."""
        label = f"{type(process).__name__} '{getattr(process, 'name', process)}'"
        size = int(np.prod(process.shape))

        def read(cls: type[FieldSet]) -> FieldSet:
            values = {}
            for name, spec in cls.specs().items():
                var = process.vars.get(name)
                if var is None and spec.default is not None:
                    continue   # build() fills it
                if var is None:
                    raise ValidationError(label, "", f"model {type(self).__name__} needs a Var "
                                          f"{name!r} (its Vars are {sorted(process.vars)}); "
                                          f"override {type(self).__name__}.lower")
                value = var.get()
                values[name] = value.reshape(-1) if spec.per_unit else value
            return cls.build(label, values, size)

        return read(self.Params), read(self.State)

    def kernel_params(self, params: FieldSet) -> tuple[np.ndarray, ...]:
        """Arrays the Cython kernel reads, one row per unit, in the kernel's order (built-ins)."""
        raise NotImplementedError(f"{type(self).__name__} has no Cython kernel")

    def step(self, state: FieldSet, params: FieldSet, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def step_keywords(cls) -> frozenset[str]:
        """Which of the optional keywords ``t`` and ``index`` :meth:`step` takes."""
        cached = cls.__dict__.get("_step_keywords")
        if cached is None:
            parameters = inspect.signature(cls.step).parameters
            cached = frozenset(k for k in ("t", "index") if k in parameters)
            cls._step_keywords = cached
        return cached

    def __repr__(self) -> str:
        return f"<model {self.name!r} ({type(self).__name__})>"


class NeuronModel(PopulationModel):
    """Neurons: ``step(state, params, a_in) -> spikes``, where ``a_in`` (int64, one per unit) is
    the sum of the synaptic input arriving this step; state is updated in place (or its fields
    replaced) and the spikes are a bool array of one per unit."""

    is_source = False

    def step(self, state: Any, params: Any, a_in: np.ndarray) -> np.ndarray:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__}.step is not written")


class SourceModel(PopulationModel):
    """Spike sources: ``step(state, params, t, index) -> spikes``, no synaptic input."""

    is_source = True

    def step(self, state: Any, params: Any, t: int,  # type: ignore[override]
             index: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.step is not written")


# -- the registry ----------------------------------------------------------------------------------

_BY_PROCESS: dict[type, PopulationModel] = {}
_BY_NAME: dict[str, PopulationModel] = {}


def implements(*process_classes: type, name: str | None = None):
    """Class decorator: register a model for one or more process classes (and their
    subclasses, unless a subclass has a model of its own).

    Registering again under the same name (a notebook cell run twice) replaces the model.
    """
    if not process_classes:
        raise TypeError("implements() needs at least one process class")

    def decorator(model_cls: type[PopulationModel]) -> type[PopulationModel]:
        if not (isinstance(model_cls, type) and issubclass(model_cls, PopulationModel)):
            raise TypeError(f"@implements decorates a NeuronModel or SourceModel subclass, "
                            f"not {model_cls!r}")
        for attr in ("Params", "State"):
            fields_cls = getattr(model_cls, attr, None)
            if not (isinstance(fields_cls, type) and issubclass(fields_cls, FieldSet)):
                raise TypeError(f"{model_cls.__name__}.{attr} must be a FieldSet dataclass")
            fields_cls.specs()   # checks every field is declared with fixed()
        if not model_cls.is_source and any(
                s.dtype != np.int64 for s in model_cls.State.specs().values()):
            raise TypeError(f"{model_cls.__name__}.State fields must be int64")
        for cls in process_classes:
            if not isinstance(cls, type):
                raise TypeError(f"@implements takes process classes, not {cls!r}")
        key = name or model_cls.__dict__.get("name") or \
            f"{model_cls.__module__}.{model_cls.__qualname__}"
        model_cls.name = key
        model_cls.implements = tuple(process_classes)
        instance = model_cls()
        old = _BY_NAME.get(key)
        if old is not None:   # re-registration: drop the old model's process classes
            for cls, model in list(_BY_PROCESS.items()):
                if model is old:
                    del _BY_PROCESS[cls]
        _BY_NAME[key] = instance
        for cls in process_classes:
            _BY_PROCESS[cls] = instance
        return model_cls

    return decorator


def model_of(process: Any) -> PopulationModel:
    """The model registered for ``process`` (an instance or a class), through the MRO."""
    cls = process if isinstance(process, type) else type(process)
    for klass in cls.__mro__:
        model = _BY_PROCESS.get(klass)
        if model is not None:
            return model
    label = cls.__name__ if isinstance(process, type) else \
        f"{cls.__name__} '{getattr(process, 'name', '?')}'"
    raise ValidationError(label, "", f"no model implements {cls.__name__}; define one with "
                          f"@nmgraph.implements({cls.__name__}) on a NeuronModel subclass")


def model_named(name: str, *, source: str | None = None) -> PopulationModel:
    """The model registered under ``name``; ``source`` (a file) is named in the error."""
    model = _BY_NAME.get(name)
    if model is None:
        where = f"{source}: " if source else ""
        error = FileFormatError if source else SimulationError
        raise error(f"{where}model {name!r} is not registered (registered: {sorted(_BY_NAME)}); "
                    f"import the module that defines it before loading")
    return model


def registered_models() -> dict[str, PopulationModel]:
    """Name -> model, for every registered model."""
    return dict(_BY_NAME)


# -- running a step with its contract checked -------------------------------------------------------

def checked_step(model: PopulationModel, owner: str, state: FieldSet, params: FieldSet,
                 a_in: np.ndarray | None, t: int, index: np.ndarray) -> np.ndarray:
    """Run ``model.step`` on one slice of a population and check what it did: spikes a bool
    array of one per unit; every state field still an int64 array of the same shape (a field the
    step replaced is accepted and copied back by the caller) within its declared range.

    ``owner`` names the process (``"Izhikevich 'exc'"``) in errors. Returns the spikes.
    """
    n = index.size
    keywords = model.step_keywords()
    extra: dict[str, Any] = {}
    if "t" in keywords:
        extra["t"] = t
    if "index" in keywords:
        extra["index"] = index
    label = f"{owner} (model {type(model).__name__})"
    try:
        if model.is_source:
            extra.setdefault("t", t)
            extra.setdefault("index", index)
            spikes = model.step(state, params, **extra)
        else:
            spikes = model.step(state, params, a_in, **extra)
    except NmgraphError:
        raise
    except Exception as exc:
        raise SimulationError(f"{label}: step raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(spikes, np.ndarray) or spikes.dtype != np.bool_ or spikes.shape != (n,):
        got = (f"{spikes.dtype} array of shape {spikes.shape}" if isinstance(spikes, np.ndarray)
               else type(spikes).__name__)
        raise SimulationError(f"{label}: step must return a bool array of shape ({n},) (got "
                              f"{got})")
    for name, spec in type(state).specs().items():
        value = getattr(state, name)
        if not isinstance(value, np.ndarray) or value.dtype != spec.dtype or \
                value.shape[-1:] != (n,):
            got = (f"{value.dtype} array of shape {value.shape}"
                   if isinstance(value, np.ndarray) else type(value).__name__)
            raise SimulationError(f"{label}: state {name!r} must stay a {spec.dtype} array of "
                                  f"shape ({n},) (got {got})")
        spec.check(label, name, value)
    return spikes
