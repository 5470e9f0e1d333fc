"""The learning-rule language: Loihi's sum-of-products equations, tokenized and parsed (no ``eval``).

A rule sets the change of one synaptic variable per learning epoch (``dw``, ``dd`` or ``dt``) as
a sum of products, as Loihi's learning engine and Lava's ``LoihiLearningRule`` write it::

    dw = 2^-2 * x1 * y0  -  2^-2 * y1 * x0

Grammar
-------
Whitespace is ignored; names are case-sensitive::

    equation   := [sign] term (sign term)*
    sign       := '+' | '-'
    term       := item ('*' item)*
    item       := NUMBER | '2' '^' [sign] NUMBER | dependency | variable
                | '(' bracket ')' | 'sgn' '(' bracket ')'
    dependency := 'x0' | 'y0' | 'u' | 'u0' .. 'u9'
    variable   := 'x1' | 'x2' | 'y1' | 'y2' | 'y3' | 'w' | 'd' | 't'
    bracket    := [sign] operand [sign operand]        (at most one variable)
    operand    := NUMBER ['^' [sign] NUMBER] | dependency | variable

Meaning
-------
- Dependencies gate a product: ``x0`` (the presynaptic neuron spiked in the epoch), ``y0`` (the
  postsynaptic neuron spiked), ``u`` (every epoch; ``uk``: every ``2**k``-th epoch, so ``u`` is
  ``u0``). The first dependency of a term is its dependency; a later ``x0`` or ``y0`` is a 0/1
  factor. Every term needs one.
- Variables are factors: the presynaptic traces ``x1``, ``x2``, the postsynaptic traces ``y1``,
  ``y2``, ``y3`` (7-bit, 0..127), the weight ``w``, the delay ``d`` and the tag ``t``.
- Numbers and powers of two (``3``, ``2^-4``, ``3*2^-4``) multiply into the term's scale, stored as
  ``mantissa * 2**exponent`` with ``mantissa`` in -8..7 (4 signed bits) and ``exponent`` in
  -7..8, as on Loihi. The scale is normalised: the mantissa is made odd while the exponent is
  below 8, so ``4 * 2^-3`` is stored as ``1 * 2^-1``. A scale that does not fit (``9``,
  ``2^-8``) is an error, not rounded.
- A bracket adds an integer constant to one variable: ``(x1 - 3)``, ``(w + 255)``; constants are
  -256..255. ``(-x1 + 3)`` is read as ``-(x1 - 3)``. A bracket that holds only a constant
  (``(-3)``, ``(2^-2)``) multiplies into the scale.
- ``sgn(v + C)`` is the sign (-1, 0, 1) of a weight, delay or tag plus a constant.

Limits: at most 4 factors per term besides its dependency and 16 terms per equation, so that the
integer evaluation in :mod:`nmgraph.core.learning.arithmetic` cannot overflow 64 bits; all
equations of one rule use the same decimation ``k`` of ``uk`` (as Lava requires).

Refused, with an error naming the column: decimals (``0.25``: write ``2^-2``), division, ``**``,
powers of numbers other than 2, ``u`` as a factor or inside a bracket, ``u10`` and longer,
brackets with two variables or nested brackets, ``sgn`` of a trace or dependency, a sign after
``*`` (``x1*-2``), and any other name. Lava's parser reads some of these in surprising ways
(``x1*-2`` splits into two terms, a second ``u`` in a term is dropped); nmgraph refuses them.

The parsed form mirrors Lava's ``ProductSeries``: a :class:`ProductSeries` of :class:`Product`
terms (scale mantissa and exponent, dependency, factors), each factor a :class:`Factor`
(variable, added constant, sign flag). ``str()`` of a series prints a rule string that parses
back to the same series.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NoReturn

from nmgraph.core.errors import ValidationError

__all__ = [
    "CONSTANT_RANGE",
    "DEPENDENCIES",
    "EXPONENT_RANGE",
    "MANTISSA_RANGE",
    "MAX_FACTORS",
    "MAX_PRODUCTS",
    "POST_TRACES",
    "PRE_TRACES",
    "SYNAPTIC_VARIABLES",
    "TARGETS",
    "Factor",
    "Product",
    "ProductSeries",
    "parse_equation",
]

#: The spike and epoch dependencies.
DEPENDENCIES = ("x0", "y0", "u")
#: Presynaptic traces, postsynaptic traces and synaptic variables, in the order factors are kept.
PRE_TRACES = ("x1", "x2")
POST_TRACES = ("y1", "y2", "y3")
SYNAPTIC_VARIABLES = ("w", "d", "t")
#: Every name a factor may hold.
FACTOR_NAMES = ("x0", "y0", *PRE_TRACES, *POST_TRACES, *SYNAPTIC_VARIABLES)
#: The equations a rule may have: weight, delay and tag changes.
TARGETS = ("dw", "dd", "dt")
#: Inclusive ranges of a term's scale ``mantissa * 2**exponent`` and of a bracket's constant.
MANTISSA_RANGE = (-8, 7)
EXPONENT_RANGE = (-7, 8)
CONSTANT_RANGE = (-256, 255)
MAX_FACTORS = 4
MAX_PRODUCTS = 16

_FACTOR_ORDER = {name: index for index, name in enumerate(FACTOR_NAMES)}
_TOKEN = re.compile(r"\s*(?:(?P<number>\d+)|(?P<name>[A-Za-z_]\w*)|(?P<op>[-+*^()])|(?P<bad>\S))")
_ITEM_HINT = "a number, 2^k, x0, y0, u, a trace (x1 x2 y1 y2 y3), w, d, t, '(' or 'sgn('"


@dataclass(frozen=True, order=True)
class Factor:
    """One factor of a product: ``name + constant``, or its sign when ``sign`` is set.

    ``name`` is one of x0, y0 (0/1), x1, x2, y1, y2, y3 (traces), w, d, t (synaptic variables).
    """

    name: str
    constant: int = 0
    sign: bool = False

    def __str__(self) -> str:
        inner = self.name if self.constant == 0 else (
            f"{self.name} {'+' if self.constant > 0 else '-'} {abs(self.constant)}")
        if self.sign:
            return f"sgn({inner})"
        return f"({inner})" if self.constant else inner

    def sort_key(self) -> tuple[int, int, bool]:
        return _FACTOR_ORDER[self.name], self.constant, self.sign


@dataclass(frozen=True)
class Product:
    """One term: ``mantissa * 2**exponent * dependency * factor_1 * ... * factor_n``.

    ``dependency`` is ``x0``, ``y0`` or ``u``; ``decimation`` is the ``k`` of ``uk`` (None for
    spike dependencies).
    """

    mantissa: int
    exponent: int
    dependency: str
    factors: tuple[Factor, ...] = ()
    decimation: int | None = None

    @property
    def scale(self) -> float:
        """``mantissa * 2**exponent`` as a float (for reports; the arithmetic stays integer)."""
        return self.mantissa * 2.0 ** self.exponent

    def __str__(self) -> str:
        """The term without its sign, e.g. ``3*2^-4 * y0 * x1``."""
        dependency = f"u{self.decimation}" if self.dependency == "u" else self.dependency
        parts = [] if abs(self.mantissa) == 1 and self.exponent == 0 else [_scale_text(self)]
        return " * ".join(parts + [dependency] + [str(factor) for factor in self.factors])


@dataclass(frozen=True)
class ProductSeries:
    """A parsed equation: ``target`` (dw, dd, dt) as a sum of :class:`Product` terms."""

    target: str
    products: tuple[Product, ...]

    @property
    def decimation(self) -> int | None:
        """The ``k`` of the ``uk`` dependency used, or None when no term depends on ``u``."""
        return next((p.decimation for p in self.products if p.dependency == "u"), None)

    @property
    def names(self) -> frozenset[str]:
        """Every dependency and factor name the equation reads."""
        return frozenset(p.dependency for p in self.products) | frozenset(
            f.name for p in self.products for f in p.factors)

    def __str__(self) -> str:
        text = ""
        for index, product in enumerate(self.products):
            negative = product.mantissa < 0
            if index == 0:
                text = ("-" if negative else "") + str(product)
            else:
                text += (" - " if negative else " + ") + str(product)
        return text


def _scale_text(product: Product) -> str:
    magnitude = abs(product.mantissa)
    if product.exponent == 0:
        return str(magnitude)
    power = f"2^{product.exponent}"
    return power if magnitude == 1 else f"{magnitude}*{power}"


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op", "end"
    text: str
    column: int  # 1-based


class _Parser:
    """Recursive descent over the tokens of one equation."""

    def __init__(self, owner: Any, target: str, text: str) -> None:
        self.owner, self.target, self.text = owner, target, text
        self.tokens = self._tokenize()
        self.position = 0

    # -- tokens --------------------------------------------------------------------------------
    def _tokenize(self) -> list[_Token]:
        tokens = []
        index = 0
        while index < len(self.text):
            match = _TOKEN.match(self.text, index)
            if match is None:  # only trailing whitespace is left
                break
            kind = match.lastgroup
            column = match.start(kind) + 1
            if kind == "bad":
                char = match.group(kind)
                hint = ("decimals are not supported: write a fraction as m*2^-k, e.g. 2^-2 for "
                        "0.25" if char == "." else f"'{char}' is not part of the rule language")
                self.fail(column, hint)
            tokens.append(_Token(kind, match.group(kind), column))
            index = match.end()
        tokens.append(_Token("end", "", len(self.text) + 1))
        return tokens

    def peek(self) -> _Token:
        return self.tokens[self.position]

    def take(self) -> _Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def accept(self, *texts: str) -> _Token | None:
        token = self.peek()
        if token.kind == "op" and token.text in texts:
            return self.take()
        return None

    def expect(self, text: str, what: str) -> _Token:
        token = self.accept(text)
        if token is None:
            self.fail_at(self.peek(), what)
        return token

    # -- errors --------------------------------------------------------------------------------
    def fail(self, column: int, message: str) -> NoReturn:
        caret = " " * (column - 1) + "^"
        raise ValidationError(self.owner, self.target,
                              f"at column {column}: {message}\n    {self.text}\n    {caret}")

    def fail_at(self, token: _Token, expected: str) -> NoReturn:
        got = "the end of the rule" if token.kind == "end" else f"'{token.text}'"
        self.fail(token.column, f"expected {expected}, got {got}")

    # -- grammar -------------------------------------------------------------------------------
    def equation(self) -> ProductSeries:
        if self.peek().kind == "end":
            self.fail(1, "the rule is empty: write a sum of products such as '2^-2 * x1 * y0'")
        products = []
        sign = self.accept("+", "-")
        products.append(self.term(-1 if sign is not None and sign.text == "-" else 1))
        while (sign := self.accept("+", "-")) is not None:
            products.append(self.term(-1 if sign.text == "-" else 1))
        if self.peek().kind != "end":
            self.fail_at(self.peek(), "'+', '-', '*' or the end of the rule")
        if len(products) > MAX_PRODUCTS:
            self.fail(1, f"{len(products)} terms; at most {MAX_PRODUCTS} are supported")
        decimations = sorted({p.decimation for p in products if p.dependency == "u"})
        if len(decimations) > 1:
            self.fail(1, "all u terms must use the same decimation k of uk, found "
                      + ", ".join(f"u{k}" for k in decimations))
        return ProductSeries(self.target, tuple(products))

    def term(self, sign: int) -> Product:
        start = self.peek()
        state = _Term(sign)
        self.item(state)
        while self.accept("*") is not None:
            if self.peek().kind == "op" and self.peek().text in "+-":
                self.fail_at(self.peek(), f"{_ITEM_HINT} (a sign belongs in front of the term)")
            self.item(state)
        if state.dependency is None:
            self.fail(start.column, "this term has no dependency: every product needs x0 (a "
                      "presynaptic spike in the epoch), y0 (a postsynaptic spike) or u (the epoch)")
        if len(state.factors) > MAX_FACTORS:
            self.fail(start.column, f"this term has {len(state.factors)} factors besides its "
                      f"dependency; at most {MAX_FACTORS} are supported")
        mantissa, exponent = self.normalised_scale(state, start.column)
        return Product(mantissa, exponent, state.dependency,
                       tuple(sorted(state.factors, key=Factor.sort_key)), state.decimation)

    def normalised_scale(self, state: _Term, column: int) -> tuple[int, int]:
        mantissa, exponent = state.mantissa, state.exponent
        if mantissa == 0:
            return 0, 0
        while mantissa % 2 == 0 and exponent < EXPONENT_RANGE[1]:
            mantissa //= 2
            exponent += 1
        low_m, high_m = MANTISSA_RANGE
        low_e, high_e = EXPONENT_RANGE
        if not (low_m <= mantissa <= high_m and low_e <= exponent <= high_e):
            self.fail(column, f"this term's scale {mantissa}*2^{exponent} does not fit Loihi's "
                      f"m*2^e with m in {low_m}..{high_m} and e in {low_e}..{high_e}")
        return mantissa, exponent

    def item(self, state: _Term) -> None:
        token = self.peek()
        if token.kind == "number":
            value, power = self.constant()
            state.mantissa *= value
            state.exponent += power
        elif token.kind == "name" and token.text == "sgn":
            self.take()
            self.expect("(", "'(' after sgn")
            self.bracket(state, token, sign=True)
        elif token.kind == "name":
            self.take()
            self.name_item(state, token)
        elif self.accept("(") is not None:
            self.bracket(state, token, sign=False)
        else:
            self.fail_at(token, _ITEM_HINT)

    def name_item(self, state: _Term, token: _Token) -> None:
        name = self.checked_name(token)
        if name.startswith("u"):
            if state.dependency is not None:
                self.fail(token.column, f"'{name}' can only be a term's dependency, and this term "
                          f"already depends on {state.dependency}")
            state.dependency, state.decimation = "u", int(name[1:] or 0)
        elif name in ("x0", "y0") and state.dependency is None:
            state.dependency = name
        else:
            state.factors.append(Factor(name))

    def checked_name(self, token: _Token) -> str:
        name = token.text
        if name in FACTOR_NAMES or re.fullmatch(r"u\d?", name):
            return name
        if re.fullmatch(r"u\d+", name):
            self.fail(token.column, f"'{name}': the decimation k of uk is one digit, u0..u9")
        self.fail(token.column, f"unknown name '{name}'; expected x0, y0, u or uk (k = 0..9), "
                  "x1, x2, y1, y2, y3, w, d, t or sgn")

    def constant(self) -> tuple[int, int]:
        """``NUMBER`` or ``2^[sign]NUMBER``: returns ``(multiplier, power of two)``."""
        token = self.take()
        if self.accept("^") is None:
            return int(token.text), 0
        if token.text != "2":
            self.fail(token.column, f"only powers of two are supported ('2^k'), not '{token.text}^'")
        sign = self.accept("+", "-")
        power = self.peek()
        if power.kind != "number":
            self.fail_at(power, "an integer exponent after '2^'")
        self.take()
        return 1, (-1 if sign is not None and sign.text == "-" else 1) * int(power.text)

    def bracket(self, state: _Term, opened: _Token, *, sign: bool) -> None:
        operands = [self.operand()]
        if (between := self.accept("+", "-")) is not None:
            operands.append(self.operand(between))
        self.expect(")", "')' (a bracket holds one variable and at most one constant)")
        variables = [op for op in operands if op[0] is not None]
        constants = [op for op in operands if op[0] is None]
        if len(variables) > 1 or len(constants) > 1:
            self.fail(opened.column, "a bracket holds one variable and at most one constant, "
                      "such as (x1 - 3)")
        if not variables:  # a lone constant scales the term
            _, factor_sign, value, power, _ = constants[0]
            if sign:
                self.fail(opened.column, "sgn() needs a weight, delay or tag: sgn(w), sgn(d - 3)")
            state.mantissa *= factor_sign * value
            state.exponent += power
            return
        name, variable_sign, _, _, where = variables[0]
        constant = 0
        if constants:
            _, constant_sign, value, power, constant_column = constants[0]
            if power < 0:
                self.fail(constant_column, "a constant added to a variable must be an integer")
            constant = constant_sign * value * 2 ** power
            if not CONSTANT_RANGE[0] <= constant <= CONSTANT_RANGE[1]:
                self.fail(constant_column, f"the constant {constant} is outside "
                          f"{CONSTANT_RANGE[0]}..{CONSTANT_RANGE[1]}")
        if name.startswith("u"):
            self.fail(where, f"'{name}' can only be a term's dependency, not inside a bracket")
        if sign and name not in SYNAPTIC_VARIABLES:
            self.fail(where, f"sgn() applies to w, d or t, not to '{name}'")
        if variable_sign < 0:  # (-v + C) = -(v - C)
            state.mantissa = -state.mantissa
            constant = -constant
        state.factors.append(Factor(name, constant, sign))

    def operand(self, sign_token: _Token | None = None) -> tuple[str | None, int, int, int, int]:
        """``(name or None, sign, value, power of two, column)`` of one operand of a bracket."""
        if sign_token is None:
            sign_token = self.accept("+", "-")
        sign = -1 if sign_token is not None and sign_token.text == "-" else 1
        token = self.peek()
        if token.kind == "number":
            value, power = self.constant()
            return None, sign, value, power, token.column
        if token.kind == "name" and token.text != "sgn":
            self.take()
            return self.checked_name(token), sign, 1, 0, token.column
        self.fail_at(token, "a variable (x0 y0 x1 x2 y1 y2 y3 w d t) or an integer constant")


class _Term:
    """What one term has collected so far."""

    def __init__(self, sign: int) -> None:
        self.mantissa = sign
        self.exponent = 0
        self.dependency: str | None = None
        self.decimation: int | None = None
        self.factors: list[Factor] = []


def parse_equation(text: Any, target: str = "dw", owner: Any = "LearningRule") -> ProductSeries:
    """Parse one rule string into a :class:`ProductSeries`.

    Parameters
    ----------
    text
        The equation's right-hand side, e.g. ``"2^-2 * x1 * y0 - 2^-2 * y1 * x0"``.
    target
        ``dw``, ``dd`` or ``dt``: named in errors and kept in the result.
    owner
        Named in errors (the rule, or the process that holds it).

    Raises
    ------
    ValidationError
        ``LearningRule.dw: at column 12: expected ..., got '*'``, followed by the rule and a
        caret under the column.
    """
    if target not in TARGETS:
        raise ValidationError(owner, "target", f"must be one of {', '.join(TARGETS)}", target)
    if not isinstance(text, str):
        raise ValidationError(owner, target, "must be a rule string such as '2^-2 * x1 * y0'", text)
    return _Parser(owner, target, text).equation()
