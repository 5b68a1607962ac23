"""Reliability, tracebacks: bad input a user can fix is one `error: ...` line with exit status 2
however unusual the input."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import xarray as xr

import probe.evaluate
from conftest import one_line_error, run_command
from probe import models, results
from probe.errors import DataError

FACTORIES = '''
import torch
from probe import models


class Bfloat16(torch.nn.Module):
    """A LeNet whose weights are bfloat16 (it casts its input)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28)).to(torch.bfloat16)

    def forward(self, x):
        return self.net(x.to(torch.bfloat16)).float()


def raising():
    raise RuntimeError("no such weights on this machine")


def not_a_module():
    return {"weights": 1}
'''


@pytest.fixture()
def factories(tmp_path, monkeypatch):
    """A module of model factories importable here and in the commands run from this test."""
    (tmp_path / "reliability_factories.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{':'.join(sys.path)}")
    import reliability_factories
    return reliability_factories


def test_a_shard_without_chunks_is_empty_and_merges(tmp_path, untrained_checkpoint):
    common = ("probe.evaluate", str(untrained_checkpoint), "--n", "16", "--quiet")
    shards = [tmp_path / f"shard{i}.nc" for i in range(2)]
    for i, shard in enumerate(shards):
        proc = run_command(*common, "--shard", f"{i}/2", "--out", str(shard))
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert results.load(shards[1]).sizes["sample"] == 0
    merged = tmp_path / "merged.nc"
    proc = run_command("probe.merge", str(merged), *map(str, shards[::-1]))
    assert proc.returncode == 0, proc.stderr[-2000:]
    whole = run_command(*common, "--out", str(tmp_path / "whole.nc"))
    assert whole.returncode == 0
    xr.testing.assert_equal(results.load(merged), results.load(tmp_path / "whole.nc"))


@pytest.mark.parametrize("device", ["meta", "xpu", "cpu:3"])
def test_an_unusable_device_is_one_line_about_the_device(untrained_checkpoint, device):
    line = one_line_error(run_command("probe.evaluate", str(untrained_checkpoint), "--n", "8", "--device", device))
    assert f"--device {device}" in line and "checkpoint" not in line


def test_a_bfloat16_model_is_hashed_and_probed(tmp_path, factories):
    model = factories.Bfloat16()
    assert models.weights_sha256(model) != models.weights_sha256(model.float())
    weights = tmp_path / "bf16.pt"
    torch.save(factories.Bfloat16().state_dict(), weights)
    out = tmp_path / "r.nc"
    proc = run_command("probe.evaluate", str(weights), "--factory", "reliability_factories:Bfloat16", "--n", "8",
                       "--quiet", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert results.load(out).attrs["model_sha256"] == models.weights_sha256(factories.Bfloat16())


@pytest.mark.parametrize("factory, words", [("raising", "failed: RuntimeError: no such weights"),
                                            ("not_a_module", "returned a dict, not a model")])
def test_a_failing_factory_is_one_line(tmp_path, factories, untrained_checkpoint, factory, words):
    weights = tmp_path / "weights.pt"
    torch.save(models.load(untrained_checkpoint).state_dict(), weights)
    line = one_line_error(run_command("probe.evaluate", str(weights), "--factory",
                                       f"reliability_factories:{factory}", "--n", "8"))
    assert words in line


def test_a_nan_pixel_is_blamed_on_the_data(tmp_path, untrained_checkpoint):
    images = np.random.default_rng(0).random((20, 1, 28, 28)).astype(np.float32)
    images[5, 0, 3, 3] = np.nan
    np.savez(tmp_path / "nan.npz", images=images, labels=np.arange(20) % 10)
    line = one_line_error(run_command("probe.evaluate", str(untrained_checkpoint), "--data", str(tmp_path / "nan.npz"),
                                       "--split", "all"))
    assert "image 5" in line and "NaN" in line and "model" not in line


class Pictures(torch.utils.data.Dataset):
    """300 random images; `nan_at` has a NaN pixel, `labels` replaces some labels."""

    def __init__(self, nan_at: int | None = None, labels: dict | None = None) -> None:
        self.nan_at, self.labels = nan_at, labels or {}

    def __len__(self) -> int:
        return 300

    def __getitem__(self, index: int):
        x = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(index))
        if index == self.nan_at:
            x[0, 7, 7] = float("nan")
        return x, self.labels.get(index, index % 10)


def test_a_nan_pixel_in_a_later_chunk_names_its_image(untrained_checkpoint):
    with pytest.raises(DataError, match="image 290 of the data has NaN"):
        probe.evaluate.run(models.load(untrained_checkpoint), Pictures(nan_at=290))


@pytest.mark.parametrize("label", ["cat", 2.5, None])
def test_a_label_that_is_not_a_class_number_is_one_line(untrained_checkpoint, label):
    with pytest.raises(DataError, match="the label of image 4 is"):
        probe.evaluate.run(models.load(untrained_checkpoint), Pictures(labels={4: label}), n=None, indices=np.arange(8))


@pytest.mark.parametrize("seed", ["-1", str(2 ** 63)])
def test_a_seed_out_of_range_is_refused_before_any_work(untrained_checkpoint, seed):
    line = one_line_error(run_command("probe.evaluate", str(untrained_checkpoint), "--seed", seed))
    assert "seed must be an integer in [0, 9223372036854775808)" in line


def test_an_infinite_memory_budget_is_one_line(untrained_checkpoint):
    line = one_line_error(run_command("probe.evaluate", str(untrained_checkpoint), "--max-memory", "inf"))
    assert "memory size" in line


@pytest.mark.parametrize("out", ["/proc/x.nc", "/sys/x.nc"])
def test_an_output_in_a_system_folder_is_one_line(untrained_checkpoint, out):
    line = one_line_error(run_command("probe.evaluate", str(untrained_checkpoint), "--n", "8", "--out", out))
    assert f"cannot write {out}" in line


def test_plot_refuses_a_netcdf_file_probe_did_not_write(tmp_path):
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"margin": ("x", np.arange(3.0))}, attrs={"probe": "margins"}).to_netcdf(foreign)
    line = one_line_error(run_command("probe.plot", str(foreign), "-o", str(tmp_path / "f.png")))
    assert "not a probe result" in line


def test_report_names_a_baseline_with_another_class_count(tmp_path, untrained_checkpoint):
    five = tmp_path / "five.pt"
    models.save(models.build("lenet", in_channels=1, num_classes=5, image_size=(28, 28)), five)
    line = one_line_error(run_command("probe.report", str(untrained_checkpoint), "--baseline", str(five), "--n", "8",
                                       "--stages", "evaluate", "--quiet", "--out", str(tmp_path / "report")))
    assert "the baseline has 5 classes but the model has 10" in line
