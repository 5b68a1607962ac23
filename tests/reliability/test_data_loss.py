"""Reliability, data loss: a run never overwrites another run's files, writes its state atomically,
and stops (keeping what it has) when training diverges."""
from __future__ import annotations

import hashlib
import json

import pytest
import torch

import probe.report
from conftest import one_line_error, run_command
from probe import data, models
from probe.augment import Augmentation
from probe.errors import ParameterError, ResumeError
from probe.train import fit


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


TRAIN = ("probe.train", "--epochs", "1", "--n", "128", "--batch-size", "64")


# ----------------------------------------------------------------------------- training

def test_a_diverging_training_stops_with_one_line(tmp_path):
    out = tmp_path / "net.pt"
    proc = run_command("probe.train", "--epochs", "1", "--n", "512", "--batch-size", "32", "--lr", "1e4",
                       "--schedule", "constant", "--clip-grad", "0", "--out", str(out), threads=1)
    line = one_line_error(proc)
    assert "diverged at epoch 1, step" in line and "last finite loss" in line


class NanFromEpoch(Augmentation):
    """The plain loss, NaN from the `after`-th call on (a run that diverges in its second epoch)."""

    def __init__(self, after: int) -> None:
        self.after, self.calls = after, 0

    def loss(self, model, x, y, generator):
        loss, logits = super().loss(model, x, y, generator)
        self.calls += 1
        return (loss * float("nan") if self.calls > self.after else loss), logits


def _small(sample_train):
    subset = torch.utils.data.Subset(sample_train, list(range(128)))
    subset.info = sample_train.info
    return subset


def _linear():
    torch.manual_seed(1)
    return models.build("linear", in_channels=1, image_size=(28, 28), num_classes=10)


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, sample_train):
    out = tmp_path / "net.pt"
    with pytest.raises(ParameterError, match=r"diverged at epoch 2, step 1.*checkpoint of epoch 1 is kept"):
        fit(_linear(), _small(sample_train), epochs=3, batch_size=64, lr=0.05, augment=NanFromEpoch(2),
            checkpoint=out)
    assert models.load(out).probe_info["meta"]["epochs_done"] == 1
    assert torch.load(out.with_name("net.pt.state"), weights_only=True)["epoch"] == 1


def test_resume_refuses_a_finished_run_of_another_recipe(tmp_path):
    out = tmp_path / "net.pt"
    assert run_command(*TRAIN, "--lr", "0.05", "--out", str(out), threads=1).returncode == 0
    before = _digest(out)
    line = one_line_error(run_command(*TRAIN, "--lr", "0.02", "--resume", "--out", str(out), threads=1))
    assert "finished training run of another recipe" in line
    assert _digest(out) == before


def _stop_after(epoch: int):
    """A `log` that interrupts training once epoch `epoch` is written."""
    def log(message: str) -> None:
        if message.lstrip().startswith(f"epoch   {epoch}/"):
            raise KeyboardInterrupt
    return log


def _interrupted(tmp_path, sample_train):
    """A 3-epoch run stopped after its first epoch: (checkpoint, state path, the same call again)."""
    out = tmp_path / "net.pt"

    def again(**keywords):
        return fit(_linear(), _small(sample_train), epochs=3, batch_size=64, lr=0.05, checkpoint=out, **keywords)

    with pytest.raises(KeyboardInterrupt):
        again(log=_stop_after(1))
    return out, out.with_name("net.pt.state"), again


def test_resume_refuses_a_checkpoint_and_state_of_different_epochs(tmp_path, sample_train):
    out, state, again = _interrupted(tmp_path, sample_train)
    first_state = state.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        again(resume=True, log=_stop_after(2))
    state.write_bytes(first_state)   # the state of epoch 1 beside the checkpoint of epoch 2
    with pytest.raises(ResumeError, match="holds epoch 2 but its training state .* epoch 1"):
        again(resume=True)


def test_resume_refuses_a_truncated_state_file(tmp_path, sample_train):
    out, state, again = _interrupted(tmp_path, sample_train)
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    with pytest.raises(ResumeError, match="truncated or unreadable"):
        again(resume=True)


def test_the_training_state_is_written_atomically(tmp_path, sample_train, monkeypatch):
    out, state, again = _interrupted(tmp_path, sample_train)
    saved = state.read_bytes()

    original = torch.save

    def crash(obj, path, *args, **kwargs):   # a crash in the middle of writing the state
        if not isinstance(obj, dict) or "optimizer" not in obj:
            return original(obj, path, *args, **kwargs)
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        again(resume=True)
    assert state.read_bytes() == saved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pt", "net.pt.state"]


# ----------------------------------------------------------------------------- report folders

def _checkpoint(tmp_path, seed: int):
    torch.manual_seed(seed)
    path = tmp_path / f"lenet{seed}.pt"
    models.save(models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28)), path)
    return path


def test_report_refuses_a_folder_holding_another_models_report(tmp_path):
    first, second = _checkpoint(tmp_path, 1), _checkpoint(tmp_path, 2)
    folder = tmp_path / "report"
    probe.report.run(models.load(first), data.load("fashion-mnist-sample", split="test"), n=8,
                     stages=["evaluate"], out=folder)
    summary = folder / "summary.json"
    before = _digest(summary)
    command = ("probe.report", str(second), "--n", "8", "--stages", "evaluate", "--quiet", "--out", str(folder))
    line = one_line_error(run_command(*command))
    assert "another model" in line and "--force" in line
    assert _digest(summary) == before
    assert run_command(*command, "--force").returncode == 0
    recorded = json.loads(summary.read_text())["model"]["identity"]["model_sha256"]
    assert recorded == models.weights_sha256(models.load(second))
    assert run_command(*command).returncode == 0   # the same model's report may be rewritten
