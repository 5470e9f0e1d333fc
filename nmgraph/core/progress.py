"""Progress bars of long compiles, runs and studies: when to show one, and the bar itself.

Every long operation takes a ``progress`` option with one meaning everywhere:

- ``None`` (the default): automatic. A bar is drawn on ``sys.stderr`` when it is a terminal,
  unless the environment variable ``NMGRAPH_PROGRESS`` is ``0`` (``1`` draws it even when
  stderr is not a terminal). In automatic mode a bar appears only once the operation has taken
  :data:`AUTO_DELAY_S`, so short ones print nothing.
- ``True``: always draw it, on ``sys.stderr``, at once.
- ``False``: never.
- a text stream (anything with ``write``, such as ``io.StringIO``): always draw it there.

Bars are `tqdm <https://tqdm.github.io/>`_ bars. They only read how far an operation got: what an
operation computes never depends on whether its bar is shown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["AUTO_DELAY_S", "ENV_VAR", "ProgressBar", "is_progress_option", "progress_bar",
           "progress_range", "progress_stream"]

#: The environment variable that turns automatic bars off (``0``) or on (``1``).
ENV_VAR = "NMGRAPH_PROGRESS"
#: Seconds an operation runs before its automatic bar appears.
AUTO_DELAY_S = 0.5
_OFF = ("0", "false", "no", "off")
_ON = ("1", "true", "yes", "on")


def is_progress_option(value: Any) -> bool:
    """True for the values a ``progress`` option takes: None, True, False or a text stream."""
    return value is None or isinstance(value, bool) or callable(getattr(value, "write", None))


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def progress_stream(progress: bool | TextIO | None) -> tuple[TextIO | None, bool]:
    """Where the bar of ``progress`` goes (None: no bar), and whether it was asked for
    explicitly (True, or a stream) rather than chosen automatically."""
    if progress is False:
        return None, False
    if progress is True:
        return sys.stderr, True
    if progress is not None:
        return progress, True
    setting = os.environ.get(ENV_VAR, "").strip().lower()
    if setting in _OFF:
        return None, False
    if setting in _ON or _is_terminal(sys.stderr):
        return sys.stderr, False
    return None, False


class ProgressBar:
    """A tqdm bar, or nothing at all when no bar is wanted (every method is then a no-op).

    Use :func:`progress_bar` to make one. ``bool(bar)`` tells whether a bar is drawn.
    """

    def __init__(self, stream: TextIO | None, total: int, desc: str, unit: str,
                 explicit: bool, leave: bool) -> None:
        self.done = 0
        self._bar = None
        if stream is None:
            return
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc, unit=unit, file=stream, leave=leave,
                         delay=0.0 if explicit else AUTO_DELAY_S, mininterval=0.2,
                         dynamic_ncols=True, unit_scale=unit == "step")

    def __bool__(self) -> bool:
        return self._bar is not None

    def advance(self, n: int = 1) -> None:
        """``n`` more done."""
        self.update_to(self.done + n)

    def update_to(self, done: int) -> None:
        """``done`` done in all (a count that only grows; smaller values are ignored)."""
        if self._bar is not None and done > self.done:
            self._bar.update(done - self.done)
            self.done = done

    def describe(self, text: str) -> None:
        """Show ``text`` after the bar (the current pass, case, ...)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(progress: bool | TextIO | None, total: int, desc: str, unit: str = "step",
                 leave: bool = False) -> ProgressBar:
    """A bar over ``total`` units of work, drawn as ``progress`` asks (see the module docstring).

    ``leave=False`` (default) clears the bar when it closes; ``True`` keeps its last line.
    """
    stream, explicit = progress_stream(progress)
    return ProgressBar(stream if total > 0 else None, total, desc, unit, explicit, leave)


#: Updates of a :func:`progress_range` bar over a whole range (at most).
RANGE_UPDATES = 200


def progress_range(progress: bool | TextIO | None, steps: int, desc: str,
                   unit: str = "step") -> Iterator[int]:
    """``range(steps)``, with a bar that moves every ``steps // RANGE_UPDATES`` items (a loop
    that costs Python per item anyway, such as the reference simulator's steps). The bar closes
    when the loop ends, normally or not."""
    bar = progress_bar(progress, steps, desc, unit)
    if not bar:
        yield from range(steps)
        return
    every = max(1, steps // RANGE_UPDATES)
    try:
        for step in range(steps):
            if step % every == 0:
                bar.update_to(step)
            yield step
        bar.update_to(steps)
    finally:
        bar.close()
