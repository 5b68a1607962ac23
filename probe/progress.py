"""Progress of one run, told truthfully: a bar on a terminal, plain lines in a log.

A probe reports work in its own unit (samples, loss evaluations) as it goes, per batch where it
can (margins per band and batch, SparseFool per outer iteration), and names its phases
(flatness: directions, then Hessian-vector products).  `Progress` shows that as

- one tqdm bar on stderr when stderr is a terminal, with rate and ETA;
- plain lines otherwise (no carriage returns, so log files stay readable): one when each phase
  starts and one at least every `LINE_STEP` of the run, each naming the probe and the phase;
- and, once the second batch is done, a one-line estimate of the whole run when it will take
  longer than `ESTIMATE_AFTER` seconds, with the time a smaller `--n` would take.  The estimate
  uses the rate of the second batch: the first one carries the warm-up (allocation, kernel
  selection, data loading) and would overstate the run many times over.

`progress=` of every probe's `run` takes `True` (show it), `False`/`None` (silent) or a callable
that receives each amount of finished work; `resolve` turns that into a `Progress`-like object.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

from probe.errors import ParameterError

LINE_STEP = 0.1          # plain mode: a line at least every 10 % of the run
ESTIMATE_AFTER = 60.0    # seconds: longer runs get a one-line estimate after their first batch
SMALLER_N = 500          # the smaller run the estimate quotes


def duration(seconds: float) -> str:
    """'40 s', '14 min', '2.5 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Progress of one run of `name` over `total` units (see the module docstring).  `detail`
    describes one unit's work for the estimate (e.g. '× 21 bands')."""

    def __init__(self, name: str, total: float, unit: str = "sample", *, detail: str = "",
                 stream: TextIO | None = None, terminal: bool | None = None, columns: int | None = None) -> None:
        self.name, self.total, self.unit, self.detail = name, float(total), unit, detail
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.done = 0.0
        self.phase_name = ""
        self.start = time.perf_counter()
        self.next_line = LINE_STEP
        self.estimated = False
        self.first: tuple[float, float] | None = None   # (time, units done) when the first batch ended
        self.bar = (tqdm(total=self.total, desc=name, unit=unit, file=self.stream, leave=False,
                         ncols=columns) if self.terminal else None)

    def phase(self, name: str) -> None:
        """Start phase `name` (named in the bar and in a plain line)."""
        self.phase_name = name
        if self.bar is not None:
            self.bar.set_description(f"{self.name} [{name}]")
        else:
            self._line(f"{self.name} [{name}]: started")

    def update(self, amount: float) -> None:
        """`amount` more units are done."""
        if amount <= 0:
            return
        self.done = min(self.total, self.done + amount)
        if self.bar is not None:
            self.bar.update(amount)
        elif self.total > 0 and self.done / self.total >= self.next_line - 1e-12:
            while self.next_line <= self.done / self.total + 1e-12:
                self.next_line += LINE_STEP
            self._line(self._status())
        if not self.estimated:
            if self.first is None:
                self.first = (time.perf_counter(), self.done)
            else:
                self.estimated = True
                self._estimate()

    __call__ = update

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def _rate(self) -> float:
        return self.done / max(time.perf_counter() - self.start, 1e-9)

    def _status(self) -> str:
        rate = self._rate()
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        phase = f" [{self.phase_name}]" if self.phase_name else ""
        return (f"{self.name}{phase}: {100 * self.done / self.total:.0f}% ({self.done:.0f}/{self.total:.0f} "
                f"{self.unit}s), {rate:.3g} {self.unit}s/s, ETA {duration(left)}")

    def _estimate(self) -> None:
        """After the second batch: how long the whole run will take (the time so far plus the rest
        at the second batch's rate), when that is long."""
        assert self.first is not None
        now = time.perf_counter()
        rate = (self.done - self.first[1]) / max(now - self.first[0], 1e-9)
        if rate <= 0:
            return
        whole = now - self.start + (self.total - self.done) / rate
        if whole < ESTIMATE_AFTER:
            return
        smaller = (f"; --n {SMALLER_N} takes ≈ {duration(SMALLER_N / rate)}"
                   if self.unit == "sample" and self.total > SMALLER_N else "")
        self._line(f"{self.name}: ≈ {duration(whole)} for {self.total:,.0f} {self.unit}s"
                   f"{' ' + self.detail if self.detail else ''}{smaller}")

    def write(self, text: str) -> None:
        """A line of the run's log (above the bar on a terminal)."""
        self._line(text)

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()


class Callback:
    """A user's callable as a progress sink (it receives every amount of finished work); with
    `function=None`, no progress at all."""

    def __init__(self, function: Callable[[float], None] | None) -> None:
        self.function = function

    def phase(self, name: str) -> None:
        """Phases are not passed on to a plain callable."""

    def update(self, amount: float) -> None:
        if self.function is not None:
            self.function(amount)

    __call__ = update

    def close(self) -> None:
        """Nothing to close."""


Sink = Progress | Callback


def resolve(progress: object, name: str, total: float, unit: str = "sample",
            detail: str = "") -> Sink:
    """`progress=` of a probe's `run` as a sink: True → a `Progress`, a callable → `Callback`
    (an existing sink is kept), False/None → a silent `Callback(None)`; anything else is a `ParameterError`."""
    if isinstance(progress, (Progress, Callback)):
        return progress
    if progress is True:
        return Progress(name, total, unit, detail=detail)
    if progress is None or progress is False:
        return Callback(None)
    if callable(progress):
        return Callback(progress)
    raise ParameterError(f"progress must be True, False, None or a callable, got {type(progress).__name__}")
