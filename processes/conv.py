"""Convolution and pooling synapse blocks: :class:`Conv` (1-D and 2-D) and :class:`SumPool2d`.

A convolution is a synapse block whose weight matrix is generated from a small kernel: every output
unit sees the same kernel over its own window of the input. nmgraph uses the convention of PyTorch
and NIR (channels first, cross-correlation, weights ``(C_out, C_in / groups, kH, kW)``) and lowers a
convolution to the explicit synapses of that matrix, as a :class:`~nmgraph.processes.Sparse` would:
one synapse per (input unit, output unit, kernel tap) whose weight is not zero and whose input
position is not padding. The weights are integers in the format of :class:`~nmgraph.processes.Dense`
(``-256..255``, ``weight_exp``, ``num_weight_bits``) and every synapse has the same ``delay``.

Spikes carry weights only: a convolution has no bias. A trained layer's bias becomes a bias of the
neurons it feeds (``bias_mant << bias_exp`` of LIF/IF, one per output channel broadcast over the
positions), which is the importer's job. Average pooling is not exact in integer weights: it is a
:class:`SumPool2d` with weight 1 whose ``1 / (kH kW)`` is folded into the scale of the next layer
(its weights or the target neurons' threshold).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar

import numpy as np

from nmgraph.core.checks import as_int_scalar, as_shape, as_weight_scalar, process_label
from nmgraph.core.errors import ValidationError
from nmgraph.core.ports import CURRENT, SPIKE
from nmgraph.core.weights import FULL_WEIGHT_BITS, WEIGHT_MAX, WEIGHT_MIN
from nmgraph.processes.synapses import DELAY_MAX, WeightVar, _WeightedSynapse

__all__ = ["Conv", "SumPool2d", "conv_output_shape", "conv_synapses", "same_padding"]

#: Names of the spatial axes in messages, by number of spatial dimensions.
_AXES = {1: ("L",), 2: ("H", "W")}


def same_padding(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """PyTorch's ``padding="same"`` for stride 1: per axis, ``total = d (k - 1)`` split as
    ``(total // 2, total - total // 2)`` (the odd unit on the right/bottom), so that the output
    has the input's size."""
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def conv_output_shape(input_size: tuple[int, ...], kernel: tuple[int, ...],
                      stride: tuple[int, ...], padding: tuple[tuple[int, int], ...],
                      dilation: tuple[int, ...]) -> tuple[int, ...]:
    """Spatial output size per axis, PyTorch's formula with the padding of each side::

        out = floor((in + p_before + p_after - d (k - 1) - 1) / s) + 1

    (``p_before = p_after = p`` gives PyTorch's ``2 p``). May be ``< 1``: the caller refuses it.
    """
    return tuple((n + before + after - d * (k - 1) - 1) // s + 1
                 for n, k, s, (before, after), d in zip(input_size, kernel, stride, padding,
                                                        dilation))


class Conv(_WeightedSynapse):
    """Convolution synapses, 1-D or 2-D, in PyTorch's and NIR's convention.

    For a 2-D convolution with input ``s_in`` of shape ``(C_in, H, W)`` and weights ``w`` of shape
    ``(C_out, C_in / G, kH, kW)`` (``G = groups``), the input sent on ``a_out`` (shape
    ``(C_out, H_out, W_out)``) ``delay`` steps after the spikes is::

        a_out[o, y, x] = sum_c sum_i sum_j (w[o, c, i, j] << weight_exp)
                         * s_in[g(o) C_in / G + c,  y sH - pH + i dH,  x sW - pW + j dW]

        g(o) = o // (C_out / G)      (the group of output channel o; c runs over 0 .. C_in / G - 1)
        H_out = floor((H + pH + pH' - dH (kH - 1) - 1) / sH) + 1      (likewise W_out)

    where ``pH``, ``pH'`` are the padding above and below (``pW``, ``pW'`` left and right). Terms
    whose input position falls in the padding are absent (the padding is zeros and makes no
    synapse). This is a cross-correlation, as PyTorch's ``Conv2d`` and NIR's ``Conv2d`` compute it:
    the kernel is not flipped. A 1-D convolution is the same with one spatial axis: input
    ``(C_in, L)``, weights ``(C_out, C_in / G, k)``, output ``(C_out, L_out)``.

    The weights go through ``num_weight_bits`` exactly as :class:`~nmgraph.processes.Dense`'s
    (:meth:`effective_weights`; the sign mode is that of the synapses the kernel makes). Zero
    weights make no synapses, as in Dense.

    Parameters
    ----------
    weights
        Integer array ``(C_out, C_in / groups, kH, kW)`` (2-D) or ``(C_out, C_in / groups, k)``
        (1-D), in ``-256..255`` (``-256`` only beside positive weights); whole floats are taken.
    input_shape
        ``(C_in, H, W)`` or ``(C_in, L)``: the shape of ``s_in``, channels first (NIR's
        ``input_shape`` is the spatial part: put ``weights.shape[1] * groups`` in front).
    stride
        ``>= 1``: one int for every axis, or one per spatial axis (``(sH, sW)``).
    padding
        Zeros around the input: an int for every side of every axis; one per spatial axis
        (``(pH, pW)``, both sides); a ``(before, after)`` pair per axis (``((1, 2), (0, 1))``);
        ``"valid"`` (none); or ``"same"`` (output as large as the input; stride 1 only, as
        PyTorch: per axis ``total = d (k - 1)``, ``total // 2`` before and the rest after, so an
        odd total puts the extra unit at the bottom/right).
    dilation
        ``>= 1``, as ``stride``: kernel taps ``d`` input positions apart.
    groups
        ``>= 1``, dividing ``C_in`` and ``C_out``: output channel ``o`` sees only the ``C_in / G``
        input channels of its group (``groups = C_in = C_out`` is a depthwise convolution).
    weight_exp, num_weight_bits
        As for :class:`~nmgraph.processes.Dense`.
    delay
        Steps from spike to arrival, 1..255, the same for every synapse.

    Notes
    -----
    **Lava.** Lava's ``Conv`` (``lava/proc/conv``) orders ports ``(X, Y, C) = (W, H, C)`` and
    weights ``(C_out, W, H, C_in)``, takes ``stride``/``padding``/``dilation`` as ``(X, Y)``, and
    computes a true convolution (its models flip the kernel). A Lava ``Conv`` is therefore
    nmgraph's with::

        s_in (C, H, W)        = lava_s_in.transpose(2, 1, 0)
        weights               = lava_weight[:, ::-1, ::-1, :].transpose(0, 3, 2, 1)
        stride, padding, dilation = lava's reversed: (sH, sW) = (sY, sX)

    and conversely ``lava_weight = weights[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)``.

    **Storage.** The compiler maps a convolution as the sparse projection it lowers to: every
    synapse is stored and counted, as for :class:`~nmgraph.processes.Sparse`. Chips that share
    kernels (Loihi 2's convolution connections, sPyNNaker's convolution synapses) store far less;
    the hardware profiles do not model that yet.

    **Bias.** A convolution has no bias (spikes carry only weights): a layer's bias ``b[o]``
    becomes the bias of the target neurons, channel ``o`` of every position.
    """

    abstract = False
    #: Attributes fixed at construction (the ports' shapes and the synapses depend on them).
    _fixed: ClassVar[tuple[str, ...]] = ("input_shape", "output_shape", "kernel_shape", "stride", "padding",
                               "dilation", "groups")

    def __init__(self, weights: Any, input_shape: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, weight_exp: int = 0,
                 num_weight_bits: int = 8, delay: int = 1, name: str | None = None) -> None:
        label = process_label(type(self), name)
        array = _kernel_array(label, weights)
        n = array.ndim - 2
        axes = _AXES[n]
        in_shape = as_shape(label, "input_shape", input_shape)
        if len(in_shape) != n + 1:
            raise ValidationError(label, "input_shape", f"must be (C_in, {', '.join(axes)}) for "
                                  f"{n}-D weights of shape {array.shape}", input_shape)
        groups = as_int_scalar(label, "groups", groups, low=1)
        c_out, c_group = array.shape[:2]
        c_in = in_shape[0]
        for channels, what in ((c_out, "C_out = weights.shape[0]"),
                               (c_in, "C_in = input_shape[0]")):
            if channels % groups:
                raise ValidationError(label, "groups", f"must divide the channels: {what} = "
                                      f"{channels} is not a multiple of {groups}", groups)
        if c_group * groups != c_in:
            raise ValidationError(label, "weights", f"shape {array.shape}: axis 1 must be "
                                  f"C_in / groups = {c_in} / {groups} = {c_in // groups} "
                                  f"(input_shape {in_shape})", array.shape)
        kernel = tuple(int(k) for k in array.shape[2:])
        stride = _per_axis(label, "stride", stride, n)
        dilation = _per_axis(label, "dilation", dilation, n)
        padding_arg, pads = _padding(label, padding, n, kernel, stride, dilation)
        out_spatial = conv_output_shape(in_shape[1:], kernel, stride, pads, dilation)
        for axis, size, n_in, k, d, (before, after) in zip(axes, out_spatial, in_shape[1:],
                                                           kernel, dilation, pads):
            if size < 1:
                raise ValidationError(label, "input_shape", f"gives an output size < 1 along "
                                      f"{axis} ({size}): the input ({n_in}) with its padding "
                                      f"({before} + {after}) is smaller than the dilated kernel "
                                      f"({d} * ({k} - 1) + 1 = {d * (k - 1) + 1})", in_shape)
        out_shape = (c_out, *out_spatial)
        delay = as_int_scalar(label, "delay", delay, low=1, high=DELAY_MAX)

        super().__init__(math.prod(out_shape), math.prod(in_shape), name)
        self._in_port("s_in", in_shape, SPIKE)       # the block's ports, with their shapes
        self._out_port("a_out", out_shape, CURRENT)
        self._check_weight_format(weight_exp, num_weight_bits)
        self._input_shape, self._output_shape = in_shape, out_shape
        self._stride, self._dilation, self._groups = stride, dilation, groups
        self._pads, self._padding_arg = pads, padding_arg
        self._declare_weights(array)
        self._var("delay", (), delay, dtype=np.uint8, low=1, high=DELAY_MAX, bits=8,
                  doc="delay of every synapse, in steps")
        self._finish()

    def _declare_weights(self, array: np.ndarray) -> None:
        self._weights_var(array.shape, array,
                          doc="convolution kernel (C_out, C_in / groups, *kernel)")

    # -- shapes ------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """``(post, pre)``: the shape of the weight matrix the kernel generates (units of
        ``a_out`` by units of ``s_in``)."""
        return (math.prod(self._output_shape), math.prod(self._input_shape))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """``(C_in, H, W)`` or ``(C_in, L)``: the shape of ``s_in``."""
        return self._input_shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        """``(C_out, H_out, W_out)`` or ``(C_out, L_out)``: the shape of ``a_out``."""
        return self._output_shape

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        """Spatial size of the kernel: ``(kH, kW)`` or ``(k,)``."""
        return tuple(int(k) for k in self.weights.shape[2:])

    @property
    def stride(self) -> tuple[int, ...]:
        """Stride per spatial axis."""
        return self._stride

    @property
    def dilation(self) -> tuple[int, ...]:
        """Dilation per spatial axis."""
        return self._dilation

    @property
    def padding(self) -> tuple[tuple[int, int], ...]:
        """Padding per spatial axis as ``(before, after)`` (``"same"`` and ``"valid"``
        resolved)."""
        return self._pads

    @property
    def groups(self) -> int:
        """Number of channel groups."""
        return self._groups

    # -- the synapses ------------------------------------------------------------------------------
    def synapses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The synapses the kernel makes, as COO arrays ``(pre, post, weights, delays)``.

        ``pre`` indexes ``s_in`` and ``post`` indexes ``a_out``, both flattened in C order
        (``pre = (c * H + y) * W + x``); int64, int64, int16 (declared weights, before
        ``num_weight_bits``), uint8. Zero weights and taps on padding make no synapse. Built one
        kernel tap at a time, each tap vectorised over every channel pair and output position;
        the synapses come grouped by tap, not sorted.
        """
        pre, post, values = conv_synapses(self.weights.value, self._input_shape,
                                          self._output_shape, self._stride, self._pads,
                                          self._dilation, self._groups)
        weights_out = values.astype(np.int16, copy=False)
        delays = np.full(pre.size, int(self.delay.value), dtype=np.uint8)
        return pre, post, weights_out, delays

    def to_dense(self) -> np.ndarray:
        """The weight matrix ``(post, pre)`` the kernel generates, as a dense int array (declared
        weights; for small layers and tests)."""
        pre, post, weights, _ = self.synapses()
        dense = np.zeros(self.shape, dtype=np.int64)
        dense[post, pre] = weights
        return dense

    # -- save/load ---------------------------------------------------------------------------------
    def constructor_args(self) -> dict[str, Any]:
        """``weights`` (the kernel), ``input_shape``, ``stride``, ``padding`` (as given when a
        string, else ``(before, after)`` per axis), ``dilation``, ``groups``, ``weight_exp``,
        ``num_weight_bits`` and ``delay``."""
        return {"weights": self.weights.get(), "input_shape": self._input_shape,
                "stride": self._stride, "padding": self._padding_arg,
                "dilation": self._dilation, "groups": self._groups,
                "weight_exp": self._weight_exp, "num_weight_bits": self._num_weight_bits,
                "delay": int(self.delay.value)}

    def __setattr__(self, key: str, value: object) -> None:
        if key in self._fixed and getattr(self, "_ready", False):
            raise ValidationError(self, key, "is fixed at construction (the ports' shapes and "
                                  f"the synapses depend on it); build a new {type(self).__name__}",
                                  value)
        super().__setattr__(key, value)


class _UniformWeightVar(WeightVar):
    """The ``weights`` of a pooling block: one weight for every tap."""

    def validate(self, value: Any) -> np.ndarray:
        array = super().validate(value)
        if array.size and (int(array.min()) != int(array.max()) or int(array.flat[0]) == 0):
            raise ValidationError(self.owner, self.name, "a pooling block has one non-zero "
                                  "weight for every tap; use Conv for a kernel of several values",
                                  value)
        return array


class SumPool2d(Conv):
    """Sum pooling over ``kernel_size`` windows of each channel (NIR's ``SumPool2d``).

    A depthwise :class:`Conv` (``groups = C``) whose kernel is ``weight`` at every tap::

        a_out[c, y, x] = sum_i sum_j (weight << weight_exp) * s_in[c, y sH - pH + i, x sW - pW + j]

    with the output size of :class:`Conv` (dilation 1). Input ``(C, H, W)``, output
    ``(C, H_out, W_out)``.

    **Average pooling** (NIR's ``AvgPool2d``) is ``1 / (kH kW)`` times this sum, which integer
    weights cannot hold exactly: build a SumPool2d with ``weight=1`` and fold ``1 / (kH kW)`` into
    the following layer's scale (its weights, or its neurons' threshold). nmgraph has no lossy
    average-pooling process.

    Parameters
    ----------
    kernel_size
        ``(kH, kW)`` or one int for both.
    input_shape
        ``(C, H, W)``.
    stride
        As :class:`Conv`'s; default: the kernel size (non-overlapping windows, as PyTorch).
    padding
        As :class:`Conv`'s (zeros: padded taps make no synapse).
    weight
        The one weight of every tap, non-zero, ``-255..255`` (default 1: a plain sum).
    weight_exp, num_weight_bits, delay
        As :class:`Conv`'s.
    """

    abstract = False
    _fixed = (*Conv._fixed, "kernel_size", "weight")

    def __init__(self, kernel_size: Any, input_shape: Any, stride: Any = None, padding: Any = 0,
                 weight: Any = 1, weight_exp: int = 0, num_weight_bits: int = 8,
                 delay: int = 1, name: str | None = None) -> None:
        label = process_label(type(self), name)
        kernel = _per_axis(label, "kernel_size", kernel_size, 2)
        in_shape = as_shape(label, "input_shape", input_shape)
        if len(in_shape) != 3:
            raise ValidationError(label, "input_shape", "must be (C, H, W)", input_shape)
        value = as_weight_scalar(label, "weight", weight, low=-WEIGHT_MAX, high=WEIGHT_MAX)
        if value == 0:
            raise ValidationError(label, "weight", "must not be 0 (it would make no synapses)",
                                  weight)
        channels = in_shape[0]
        self._kernel_size = kernel
        super().__init__(np.full((channels, 1, *kernel), value, dtype=np.int16), in_shape,
                         stride=kernel if stride is None else stride, padding=padding,
                         dilation=1, groups=channels, weight_exp=weight_exp,
                         num_weight_bits=num_weight_bits, delay=delay, name=name)

    def _declare_weights(self, array: np.ndarray) -> None:
        var = _UniformWeightVar(self, "weights", array.shape, init=array, dtype=np.int16,
                                low=WEIGHT_MIN, high=WEIGHT_MAX, bits=FULL_WEIGHT_BITS + 1,
                                doc="the pooling weight at every tap (C, 1, kH, kW)")
        self.vars["weights"] = var
        object.__setattr__(self, "weights", var)

    @property
    def kernel_size(self) -> tuple[int, int]:
        """``(kH, kW)``."""
        return self._kernel_size

    @property
    def weight(self) -> int:
        """The weight of every tap."""
        return int(self.weights.value.flat[0])

    def constructor_args(self) -> dict[str, Any]:
        """``kernel_size``, ``input_shape``, ``stride``, ``padding``, ``weight``, ``weight_exp``,
        ``num_weight_bits`` and ``delay``."""
        return {"kernel_size": self._kernel_size, "input_shape": self._input_shape,
                "stride": self._stride, "padding": self._padding_arg, "weight": self.weight,
                "weight_exp": self._weight_exp, "num_weight_bits": self._num_weight_bits,
                "delay": int(self.delay.value)}


# -- helpers ---------------------------------------------------------------------------------------

def _kernel_array(label: str, weights: Any) -> np.ndarray:
    """The weights as an array of 3 or 4 axes, none empty (values are checked by the Var)."""
    try:
        array = np.asarray(weights) if not hasattr(weights, "nnz") else None
    except (TypeError, ValueError):  # ragged nested lists
        array = None
    if array is None or array.ndim not in (3, 4) or 0 in array.shape or array.dtype == object:
        raise ValidationError(label, "weights", "must be a 4-D array (C_out, C_in / groups, kH, "
                              "kW) for a 2-D convolution or a 3-D array (C_out, C_in / groups, "
                              "k) for a 1-D one, no axis empty",
                              getattr(array, "shape", weights))
    return array


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _per_axis(label: str, attribute: str, value: Any, n: int) -> tuple[int, ...]:
    """One int ``>= 1`` per spatial axis, from one int or a sequence of ``n``."""
    if _is_int(value):
        value = (value,) * n
    if isinstance(value, np.ndarray):
        value = tuple(value.tolist())
    if not isinstance(value, (tuple, list)) or len(value) != n or not all(map(_is_int, value)):
        raise ValidationError(label, attribute, f"must be an int or {n} ints (one per spatial "
                              f"axis: {', '.join(_AXES[n])})", value)
    if min(value) < 1:
        raise ValidationError(label, attribute, "must be >= 1", value)
    return tuple(int(v) for v in value)


def _padding(label: str, padding: Any, n: int, kernel: tuple[int, ...], stride: tuple[int, ...],
             dilation: tuple[int, ...]) -> tuple[Any, tuple[tuple[int, int], ...]]:
    """``(the argument to save, (before, after) per axis)``."""
    if isinstance(padding, str):
        if padding == "valid":
            return padding, ((0, 0),) * n
        if padding == "same":
            if max(stride) > 1:
                raise ValidationError(label, "padding", f"'same' needs stride 1 (as PyTorch, "
                                      f"which refuses it for strided convolutions; got stride "
                                      f"{stride}): give the padding explicitly", padding)
            return padding, same_padding(kernel, dilation)
        raise ValidationError(label, "padding", "must be 'valid', 'same', an int, one per axis, "
                              "or a (before, after) pair per axis", padding)
    message = (f"must be 'valid', 'same', an int >= 0, {n} ints (one per axis: "
               f"{', '.join(_AXES[n])}) or {n} (before, after) pairs of ints >= 0")
    if isinstance(padding, np.ndarray):
        padding = padding.tolist()
    if _is_int(padding):
        padding = (padding,) * n
    if not isinstance(padding, (tuple, list)) or len(padding) != n:
        raise ValidationError(label, "padding", message, padding)
    pads = []
    for item in padding:
        if _is_int(item):
            item = (item, item)
        if (not isinstance(item, (tuple, list)) or len(item) != 2
                or not all(_is_int(p) and p >= 0 for p in item)):
            raise ValidationError(label, "padding", message, padding)
        pads.append((int(item[0]), int(item[1])))
    return tuple(pads), tuple(pads)


def conv_synapses(kernel: np.ndarray, input_shape: tuple[int, ...],
                  output_shape: tuple[int, ...], stride: tuple[int, ...],
                  pads: tuple[tuple[int, int], ...], dilation: tuple[int, ...],
                  groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO ``(pre, post, values)`` of a grouped cross-correlation in PyTorch's layout (kernel
    ``(C_out, C_in / groups, k...)``, any dtype: integer weights here, float ones for the NIR
    importer). ``pre`` indexes the flattened input ``(C_in, *spatial)``, ``post`` the flattened
    output; zero weights and taps on padding make no entry. Built one kernel tap at a time, each
    tap vectorised over every channel pair and output position (entries grouped by tap)."""
    c_out, c_group = kernel.shape[:2]
    out_per_group = c_out // groups
    in_spatial, out_spatial = tuple(input_shape[1:]), tuple(output_shape[1:])
    in_size, out_size = math.prod(in_spatial), math.prod(out_spatial)
    pres, posts, values = [], [], []
    for tap in np.ndindex(*kernel.shape[2:]):
        taps = kernel[(slice(None), slice(None), *tap)]  # (C_out, C_in / G)
        out_ch, local = np.nonzero(taps)
        if out_ch.size == 0:
            continue
        out_pos, in_pos = _tap_positions(tap, in_spatial, out_spatial, stride, pads, dilation)
        if out_pos.size == 0:
            continue
        in_ch = (out_ch // out_per_group) * c_group + local
        pres.append((in_ch.astype(np.int64)[:, None] * in_size + in_pos[None, :]).ravel())
        posts.append((out_ch.astype(np.int64)[:, None] * out_size + out_pos[None, :]).ravel())
        values.append(np.repeat(taps[out_ch, local], out_pos.size))
    if not pres:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, kernel.dtype)
    return np.concatenate(pres), np.concatenate(posts), np.concatenate(values)


def _tap_positions(tap: tuple[int, ...], in_spatial: tuple[int, ...],
                   out_spatial: tuple[int, ...], stride: tuple[int, ...],
                   pads: tuple[tuple[int, int], ...],
                   dilation: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Flat (C-order) spatial indices ``(output, input)`` of the positions where kernel tap
    ``tap`` lands inside the input: per axis ``i = o s - p_before + k d``, kept where
    ``0 <= i < size``, combined over the axes as an outer product."""
    out_flat = np.zeros(1, dtype=np.int64)
    in_flat = np.zeros(1, dtype=np.int64)
    for k, n_in, n_out, s, (before, _), d in zip(tap, in_spatial, out_spatial, stride, pads,
                                                dilation):
        o = np.arange(n_out, dtype=np.int64)
        i = o * s - before + k * d
        inside = (i >= 0) & (i < n_in)
        out_flat = (out_flat[:, None] * n_out + o[inside][None, :]).ravel()
        in_flat = (in_flat[:, None] * n_in + i[inside][None, :]).ravel()
    return out_flat, in_flat
