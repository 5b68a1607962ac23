"""Security: no code runs from data or from a checkpoint that the user did not trust.

Each case is tried as a user would: through the command line, with a crafted file that would
create a marker file if any of its code ran.
"""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from conftest import messages, run_command
from probe import data, models
from probe.data.formats import write_cifar_batch
from probe.errors import DataError


def _one_line_error(proc, *fragments):
    lines = messages(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture()
def cifar_linear(tmp_path):
    """A linear classifier of 3×32×32 images (any model: the data is refused before it runs)."""
    path = tmp_path / "linear.pt"
    models.save(models.build("linear", in_channels=3, image_size=(32, 32), num_classes=10), path)
    return path


class _Calls:
    """Pickles as a call of `function(*arguments)`: what a crafted pickle runs when it is read."""

    def __init__(self, function, *arguments) -> None:
        self.function, self.arguments = function, arguments

    def __reduce__(self):
        return self.function, self.arguments


@pytest.mark.parametrize("call", ["open", "system"])
def test_a_crafted_cifar_batch_runs_nothing(call, tmp_path, cifar_linear):
    marker = tmp_path / "marker"
    payload = _Calls(open, str(marker), "w") if call == "open" else _Calls(os.system, f"touch {marker}")
    folder = tmp_path / "cifar"
    folder.mkdir()
    batch = {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 3], b"batch_label": payload}
    (folder / "test_batch").write_bytes(pickle.dumps(batch))
    proc = run_command("probe.evaluate", str(cifar_linear), "--data", str(folder), "--quiet")
    _one_line_error(proc, "test_batch", {"open": "io.open", "system": f"{os.name}.system"}[call], "--trust-data")
    assert not marker.exists()


def test_a_genuine_cifar_batch_still_loads(tmp_path, cifar_linear):
    folder = tmp_path / "cifar"
    folder.mkdir()
    images = np.random.default_rng(0).integers(0, 256, (12, 3, 32, 32), dtype=np.uint8)
    write_cifar_batch(folder / "test_batch", images, [i % 10 for i in range(12)])
    with open(folder / "batches.meta", "wb") as handle:   # the meta file of a real download, never read
        pickle.dump({b"label_names": [b"airplane"] * 10, b"num_cases_per_batch": 12}, handle, protocol=2)
    proc = run_command("probe.evaluate", str(cifar_linear), "--data", str(folder), "--quiet")
    assert proc.returncode == 0, proc.stderr
    with open(folder / "test_batch", "wb") as handle:   # protocol 2, as Python 2 and old tools wrote them
        pickle.dump({b"data": images.reshape(12, -1), b"labels": list(range(12))}, handle, protocol=2)
    x, y = data.get_batch(data.load(folder), np.arange(12))
    np.testing.assert_array_equal(x.numpy() * 255, images.astype(np.float32))


def test_a_cifar_batch_of_object_arrays_needs_trust(tmp_path):
    folder = tmp_path / "cifar"
    folder.mkdir()
    labels = np.array([1, "two"], dtype=object)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}))
    with pytest.raises(DataError, match="dtype object"):
        data.load(folder)
    with pytest.raises(DataError, match="labels must be integers"):   # trusted, it still must be a dataset
        data.load(folder, trust=True)


class FileWriter(torch.nn.Module):
    """A scriptable classifier whose forward writes the file `path` (through `torch.from_file`)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.linear = torch.nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        written = torch.from_file(self.path, shared=True, size=16, dtype=torch.uint8)
        written.fill_(66)
        return self.linear(x.flatten(1)) + 0 * written[0].float()


def test_torchscript_needs_trust(tmp_path):
    marker = tmp_path / "marker"
    archive = tmp_path / "scripted.pt"
    torch.jit.script(FileWriter(str(marker))).save(str(archive))
    proc = run_command("probe.evaluate", str(archive), "--n", "8", "--quiet")
    _one_line_error(proc, "TorchScript", "--trust-checkpoint")
    assert not marker.exists()
    model = models.load(archive, trust=True)   # trusted, it loads as before ...
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert marker.read_bytes() == bytes([66]) * 16   # ... and shows what its code could do
