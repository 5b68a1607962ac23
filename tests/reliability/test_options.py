"""Reliability, silent wrong results: every numeric option is finite and in range, checked in one
place (`probe.ranges`) for Python callers and command lines alike."""
from __future__ import annotations

import math

import pytest

from conftest import one_line_error, run_command
from probe import ranges
from probe.errors import ParameterError

PROBE_CASES = [
    ("sparsefool", ["--lam", "nan"], "lam"),
    ("sparsefool", ["--overshoot", "nan"], "overshoot"),
    ("sparsefool", ["--lam", "inf"], "lam"),
    ("margins", ["--overshoot", "inf"], "overshoot"),
    ("masking", ["--overshoot", "nan"], "overshoot"),
    ("masking", ["--radii", "0.1", "nan"], "radii"),
    ("flatness", ["--landscape", "1d", "--alpha-range", "nan", "1"], "alpha_range"),
    ("flatness", ["--tol", "nan"], "tol"),
    ("lp", ["--max-strength", "nan"], "max_strength"),
    ("lp", ["--strengths", "0.1", "inf"], "strengths"),
]


@pytest.mark.parametrize("probe, options, named", PROBE_CASES, ids=[" ".join([c[0], *c[1]]) for c in PROBE_CASES])
def test_probe_command_refuses_a_bad_number(tmp_path, untrained_checkpoint, probe, options, named):
    out = tmp_path / "r.nc"
    assert named in one_line_error(run_command(f"probe.{probe}", str(untrained_checkpoint), "--n", "8",
                                               "--out", str(out), *options))
    assert not out.exists()


TRAIN_CASES = [
    (["--lr", "nan"], "lr"), (["--lr", "inf"], "lr"), (["--momentum", "nan"], "momentum"),
    (["--weight-decay", "inf"], "weight_decay"), (["--warmup-epochs", "nan"], "warmup_epochs"),
    (["--clip-grad", "nan"], "clip_grad"), (["--clip-grad", "-1"], "clip_grad"),
    (["--mean", "nan", "--std", "1"], "mean"), (["--mean", "0.5", "--std", "0"], "std"),
    (["--std", "0.3"], "--mean and --std"), (["--adversarial", "l2:nan"], "epsilon"),
    (["--workers", "-1"], "workers"), (["--momentum", "-1"], "momentum"), (["--weight-decay", "-1"], "weight_decay"),
    (["--nesterov", "--momentum", "0"], "nesterov"), (["--seed", "-1"], "seed"),
]


@pytest.mark.parametrize("options, named", TRAIN_CASES, ids=[" ".join(c[0]) for c in TRAIN_CASES])
def test_train_refuses_a_bad_number(tmp_path, options, named):
    out = tmp_path / "net.pt"
    assert named in one_line_error(run_command("probe.train", "--epochs", "1", "--n", "64", "--batch-size", "32",
                                               "--out", str(out), *options))
    assert not out.exists()


@pytest.mark.parametrize("options, named", [(["--ssim-weight", "nan"], "ssim_weight"), (["--lr", "inf"], "lr")])
def test_corruption_net_refuses_a_bad_number(tmp_path, options, named):
    out = tmp_path / "net.pt"
    assert named in one_line_error(run_command("probe.corruption_net", "--epochs", "1", "--n", "64", "--arch-arg",
                                               "features=4", "--arch-arg", "blocks=1", "--out", str(out), *options))
    assert not out.exists()


def _python_cases():
    """(entry point, keyword arguments) of Python calls the shared checks refuse."""
    from probe import adversarial_corruptions, flatness, lp, margins, masking, overlap, sparsefool
    from probe.augment.ada import AdA
    from probe.augment.adversarial import AdversarialTraining
    from probe.augment.augmix import AugMix
    from probe.augment.deepaugment import DeepAugment
    from probe.augment.prime import PRIME
    from probe.corruption_net import pretrain
    from probe.models.normalize import Normalized
    from probe.train import fit
    model = "model"   # a placeholder: the checks come before the model is used
    return [
        (sparsefool.run, dict(model=model, data=None, lam=math.nan)),
        (sparsefool.run, dict(model=model, data=None, candidates=1)),
        (margins.run, dict(model=model, data=None, overshoot=math.inf)),
        (margins.run, dict(model=model, data=None, max_iter=0)),
        (masking.run, dict(model=model, data=None, overshoot=-math.inf)),
        (masking.run, dict(model=model, data=None, steps=[1, 2.5])),
        (flatness.run, dict(model=model, data=None, directions=-2)),
        (flatness.run, dict(model=model, data=None, radii=[1.0, math.nan])),
        (flatness.run, dict(model=model, data=None, landscape="1d", beta_range=(0.0, math.inf))),
        (lp.run, dict(model=model, data=None, levels=0)),
        (adversarial_corruptions.run, dict(model=model, data=None, corruption_net="net", ssim_threshold=math.nan)),
        (adversarial_corruptions.run, dict(model=model, data=None, corruption_net="net", radius=[math.inf])),
        (overlap.run, dict(samples=0)),
        (fit, dict(model=model, train_set=None, lr=math.nan)),
        (fit, dict(model=model, train_set=None, batch_size=0)),
        (fit, dict(model=model, train_set=None, warmup_epochs=10.0, epochs=10)),
        (fit, dict(model=model, train_set=None, seed=2 ** 63)),
        (pretrain, dict(net=model, train_set=None, ssim_weight=math.nan)),
        (AdversarialTraining, dict(norm="l2", epsilon=math.inf)),
        (AugMix, dict(severity=math.nan)),
        (PRIME, dict(strength=math.nan)),
        (AdA, dict(net=model, nu=math.nan)),
        (DeepAugment, dict(net=model, p=math.inf)),
        (Normalized, dict(model=model, mean=[math.nan], std=[1.0])),
    ]


def test_python_callers_get_the_same_refusals():
    for entry, keywords in _python_cases():
        with pytest.raises(ParameterError, match="must be"):
            entry(**keywords)


def test_ranges():
    assert ranges.POSITIVE.admits(1e-9) and not ranges.POSITIVE.admits(0.0)
    assert not ranges.FINITE.admits(math.nan) and not ranges.NON_NEGATIVE.admits(math.inf)
    assert not ranges.integer(0).admits(1.0) and not ranges.integer(0).admits(True)
    assert ranges.SEED.admits(2 ** 63 - 1) and not ranges.SEED.admits(2 ** 63) and not ranges.SEED.admits(-1)
    assert str(ranges.in_range(0, 1, high_open=True)) == "a finite number in [0, 1)"
    with pytest.raises(ParameterError, match=r"each of radii must be a finite number > 0, got \[1.0, nan\]"):
        ranges.check(radii=([1.0, math.nan], ranges.POSITIVE))
    ranges.check(delta=(None, ranges.POSITIVE))
