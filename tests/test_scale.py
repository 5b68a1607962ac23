"""Scale: memory budgets and out-of-memory retries, torchrun ranks and shards merged, option names under torchrun."""
from __future__ import annotations

import contextlib
import io
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

import probe
from probe import memory, models, registry, results
from probe.commands import OTHER_COMMANDS, build_parser
from probe.errors import ParameterError

TIMING = {"created", "elapsed_seconds"}


def _same_result(a: xr.Dataset, b: xr.Dataset) -> None:
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
    assert ({k: v for k, v in a.attrs.items() if k not in TIMING}
            == {k: v for k, v in b.attrs.items() if k not in TIMING})


def test_the_budget_rule_gives_smaller_working_batches_for_larger_images():
    rows = {}
    for size in (32, 64, 224):
        model = models.build("resnet18", in_channels=3, num_classes=10, image_size=(size, size), base_width=8).eval()
        per_image = memory.activation_bytes(model, torch.rand(2, 3, size, size))
        rows[size] = memory.working_batch(2 * memory.GIB, memory.DEEPFOOL_ROW_COST * per_image, 10_000)
    assert rows[32] > rows[64] > rows[224] >= 1
    # activations of a CIFAR-style network grow with the pixel count
    assert rows[32] / rows[224] == pytest.approx((224 / 32) ** 2, rel=0.2)


def test_memory_sizes_parse():
    assert memory.parse_size("2G") == 2 * memory.GIB and memory.parse_size("512MiB") == 512 * 2 ** 20
    assert memory.parse_size(1000) == 1000 and memory.budget(torch.device("cpu")) == memory.DEFAULT_CPU_BUDGET
    with pytest.raises(ParameterError):
        memory.parse_size("lots")


class RefusesLargeBatches(nn.Module):
    """The LeNet, but a batch of more than `limit` images raises CUDA's out-of-memory error."""

    def __init__(self, model: nn.Module, limit: int) -> None:
        super().__init__()
        self.model, self.limit, self.refused = model, limit, 0

    def forward(self, x):
        if len(x) > self.limit:
            self.refused += 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return self.model(x)


def test_out_of_memory_retries_smaller_with_the_same_result(lenet, sample_test):
    wrapped = RefusesLargeBatches(lenet, limit=9).eval()
    retried = probe.margins.run(wrapped, sample_test, n=6, max_iter=5, block=8, stride=10, batch_size=32)
    assert wrapped.refused > 0 and retried.attrs["batch_size"] == 32
    plain = probe.margins.run(lenet, sample_test, n=6, max_iter=5, block=8, stride=10, batch_size=8)
    np.testing.assert_allclose(retried["margin"].values, plain["margin"].values, rtol=1e-5)


def test_a_budget_caps_the_working_batch(lenet, sample_test):
    ds = probe.evaluate.run(lenet, sample_test, n=50, max_memory="100K")
    assert ds.attrs["memory_budget"] == 100 * 1024 and 1 <= ds.attrs["batch_size"] < 256


def _cli(*args, torchrun: int = 0):
    prefix = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(torchrun)] if torchrun else \
        [sys.executable]
    return subprocess.run([*prefix, "-m", *args], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1"))


RUNS = {"margins": ["--num-samples", "70", "--max-iter", "3", "--block", "8", "--stride", "10"],
        "corruptions": ["--num-samples", "130", "--corruptions", "gaussian_noise", "contrast", "--severities", "2"]}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_two_torchrun_ranks_and_two_shards_equal_one_process(name, lenet_checkpoint, tmp_path):
    argv = [f"probe.{name}", str(lenet_checkpoint), *RUNS[name], "--quiet"]
    single = _cli(*argv, "--out", str(tmp_path / "single.nc"))
    assert single.returncode == 0, single.stderr
    ranks = _cli(*argv, "--out", str(tmp_path / "ranks.nc"), torchrun=2)
    assert ranks.returncode == 0, ranks.stderr
    reference = results.load(tmp_path / "single.nc")
    _same_result(results.load(tmp_path / "ranks.nc"), reference)
    for shard in ("0/2", "1/2"):
        proc = _cli(*argv, "--out", str(tmp_path / f"shard{shard[0]}.nc"), "--shard", shard)
        assert proc.returncode == 0, proc.stderr
    merged = _cli("probe.merge", str(tmp_path / "merged.nc"), str(tmp_path / "shard0.nc"), str(tmp_path / "shard1.nc"))
    assert merged.returncode == 0, merged.stderr
    _same_result(results.load(tmp_path / "merged.nc"), reference)


def test_a_shard_of_another_run_is_refused(lenet, tmp_path):
    options = dict(n=70, max_iter=2, block=8, stride=10)
    probe.margins.run(lenet, "fashion-mnist-sample", out=tmp_path / "a.nc", shard="0/2", **options)
    probe.margins.run(lenet, "fashion-mnist-sample", out=tmp_path / "b.nc", shard="1/2", **{**options, "max_iter": 3})
    with pytest.raises(ParameterError, match="another run"):
        probe.merge.merge([results.load(tmp_path / "a.nc"), results.load(tmp_path / "b.nc")])
    with pytest.raises(ParameterError, match="0..N-1"):
        probe.merge.merge([results.load(tmp_path / "a.nc")])


def test_an_interrupted_torchrun_run_resumes(lenet_checkpoint, tmp_path):
    from conftest import kill_after_first_chunk
    argv = ["probe.margins", str(lenet_checkpoint), "--num-samples", "200", "--max-iter", "3", "--block", "8",
            "--stride", "10", "--quiet"]
    out = tmp_path / "killed.nc"
    kill_after_first_chunk(argv + ["--out", str(out)], out)
    resumed = _cli(*argv, "--out", str(out), "--resume", torchrun=2)
    assert resumed.returncode == 0, resumed.stderr
    assert _cli(*argv, "--out", str(tmp_path / "single.nc")).returncode == 0
    _same_result(results.load(out), results.load(tmp_path / "single.nc"))


def _parsers():
    for name in registry.PROBES:
        yield name, build_parser(name)
    import importlib
    for name, (module, _) in OTHER_COMMANDS.items():
        command = importlib.import_module(module)
        if hasattr(command, "build_parser"):
            yield name, command.build_parser()


@pytest.mark.parametrize("name, parser", list(_parsers()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_has_a_spelling_that_torchrun_passes_through(name, parser):
    from torch.distributed.run import get_args_parser
    launcher = get_args_parser()

    def passes(option: str) -> bool:
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                args = launcher.parse_args(["--nproc-per-node", "2", "-m", f"probe.{name}", option, "1"])
        except SystemExit:
            return False
        return option in args.training_script_args

    for action in parser._actions:
        spellings = [s for s in action.option_strings if s.startswith("--")]
        if spellings and action.dest != "help":
            assert any(passes(s) for s in spellings), f"{name}: {spellings} are all swallowed by torchrun's parser"


def test_imagenet_resnets_have_the_published_parameter_counts():
    counts = {arch: sum(p.numel() for p in models.build(arch, in_channels=3, num_classes=1000,
                                                          image_size=(224, 224)).parameters())
              for arch in ("imagenet-resnet18", "imagenet-resnet50")}
    assert counts == {"imagenet-resnet18": 11_689_512, "imagenet-resnet50": 25_557_032}
    model = models.build("imagenet-resnet18", in_channels=3, num_classes=10, image_size=(64, 64)).eval()
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 10)


def test_a_factory_with_arguments_rebuilds_a_state_dict(tmp_path, monkeypatch, lenet_checkpoint):
    (tmp_path / "zoo_of_mine.py").write_text(
        "from probe import models\n"
        "def lenet(num_classes=10, width=1):\n"
        "    return models.build('lenet', in_channels=1, num_classes=num_classes, image_size=(28, 28))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = models.load(lenet_checkpoint)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    rebuilt = models.load(tmp_path / "weights.pt", factory="zoo_of_mine:lenet", factory_args={"num_classes": 10})
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(rebuilt(x), model(x))
    proc = subprocess.run([sys.executable, "-m", "probe.evaluate", str(tmp_path / "weights.pt"), "--factory",
                           "zoo_of_mine:lenet", "--factory-arg", "num_classes=10", "--n", "20", "--quiet",
                           "--out", str(tmp_path / "e.nc")], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert math.isclose(float(results.load(tmp_path / "e.nc")["correct"].mean()) * 100, 85, abs_tol=15)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_equals_cpu_run(lenet, sample_test):
    cpu = probe.margins.run(lenet, sample_test, n=8, max_iter=10)
    gpu = probe.margins.run(lenet.cuda(), sample_test, n=8, max_iter=10)
    np.testing.assert_allclose(gpu["margin"].values, cpu["margin"].values, rtol=1e-3)
    assert gpu.attrs["device"].startswith("cuda")
