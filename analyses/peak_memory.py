"""Peak memory of one phase of a benchmark: `with PeakMemory(device) as peak: ...; peak.mib`.

On CUDA, the peak of `torch.cuda.max_memory_allocated` during the phase; on the CPU, the peak
resident set size above its level at the start of the phase, sampled every 2 ms from
`/proc/self/statm` by a thread (Linux), else the growth of `ru_maxrss` (a lower bound).
"""
from __future__ import annotations

import os
import resource
import threading

import torch

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return None


class PeakMemory:
    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.mib = float("nan")

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
            return self
        self.start, self.peak, self.maxrss = _rss(), _rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.stop = threading.Event()
        if self.start is not None:
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.stop.wait(0.002):
            self.peak = max(self.peak, _rss() or 0)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mib = (torch.cuda.max_memory_allocated(self.device) - self.start) / 2**20
            return
        self.stop.set()
        if self.start is not None:
            self.thread.join()
            self.peak = max(self.peak, _rss() or 0)
            self.mib = (self.peak - self.start) / 2**20
        else:
            self.mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.maxrss) / 1024
