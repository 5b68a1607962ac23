"""Released corrupted test sets on disk (`--corrupted-dir`), read instead of generated.

Two layouts:

- CIFAR-10-C / CIFAR-100-C: `<corruption>.npy` (5·n, H, W, C) uint8 with severity s in rows
  [(s−1)·n, s·n) in test-set order, and `labels.npy`; read memory-mapped
  (`probe.data.formats.read_corrupted_npy`);
- ImageNet-C: `<corruption>/<severity>/<class>/<image>`, each severity an image folder
  whose sorted files follow the clean validation folder.

Row i of every block is the corrupted version of clean test image i, so the probe indexes
blocks with the clean dataset's indices and checks that the labels agree.
"""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from probe import data
from probe.data import dataset_size
from probe.data.formats import corrupted_names
from probe.errors import DataError

SEVERITY_NAMES = ("1", "2", "3", "4", "5")


class CorruptedFolder:
    """A CIFAR-10-C or ImageNet-C style folder; `block(corruption, severity)` is one test set."""

    def __init__(self, folder: str | Path, expected_length: int | None = None) -> None:
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise DataError(f"--corrupted-dir: no such folder: {self.folder}")
        self.layout = "npy" if (self.folder / "labels.npy").exists() else "folders"
        self.expected_length = expected_length
        self._blocks: dict[tuple[str, int], Dataset] = {}
        if not self.corruptions():
            raise DataError(f"{self.folder}: no corrupted data found (expected <corruption>.npy with labels.npy, "
                            f"or <corruption>/<severity>/<class>/<image> folders)")

    def corruptions(self) -> list[str]:
        """The corruptions present, sorted."""
        if self.layout == "npy":
            return corrupted_names(self.folder)
        return sorted(p.name for p in self.folder.iterdir()
                      if p.is_dir() and any((p / s).is_dir() for s in SEVERITY_NAMES))

    def severities(self, corruption: str) -> list[int]:
        """The severities present for `corruption` (all five for the .npy layout)."""
        if self.layout == "npy":
            return [1, 2, 3, 4, 5]
        return [int(s) for s in SEVERITY_NAMES if (self.folder / corruption / s).is_dir()]

    def block(self, corruption: str, severity: int) -> Dataset:
        """The test set of one (corruption, severity) cell (opened once, memory-mapped where possible)."""
        key = (corruption, int(severity))
        if key not in self._blocks:
            if corruption not in self.corruptions() or int(severity) not in self.severities(corruption):
                raise DataError(f"{self.folder}: no data for {corruption} at severity {severity}")
            block = data.load(self.folder, corruption=corruption, severity=int(severity))
            if self.expected_length is not None and dataset_size(block) != self.expected_length:
                raise DataError(f"{self.folder}: {corruption} severity {severity} holds {dataset_size(block)} "
                                f"images but the clean test set has {self.expected_length}; --corrupted-dir must match "
                                f"--data/--split")
            self._blocks[key] = block
        return self._blocks[key]
