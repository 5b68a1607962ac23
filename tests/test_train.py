"""Training: schedules, reproducibility, resume after an interruption, the command line."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from probe import models, results
from probe.commands.train import main
from probe.train import fit, history_path, learning_rate


def test_schedules():
    assert learning_rate("triangular", 0.2, 0.0) == 0.0
    assert learning_rate("triangular", 0.2, 0.4) == pytest.approx(0.2)
    assert learning_rate("triangular", 0.2, 0.7) == pytest.approx(0.1)
    assert learning_rate("cosine", 0.1, 0.5) == pytest.approx(0.05)
    assert learning_rate("step", 1.0, 0.8) == pytest.approx(0.01)


def _small(sample_train):
    return torch.utils.data.Subset(sample_train, list(range(0, 5000, 10)))


def _linear():
    torch.manual_seed(1)
    return models.build("linear", in_channels=1, image_size=(28, 28), num_classes=10)


def test_resume_after_interruption_matches_uninterrupted(tmp_path, sample_train, sample_test):
    train = _small(sample_train)
    train.info = sample_train.info
    reference = _linear()
    fit(reference, train, None, epochs=3, batch_size=50, lr=0.05, seed=5)

    def stop_after_first_epoch(message):
        if message.lstrip().startswith("epoch   1/"):
            raise KeyboardInterrupt

    interrupted = _linear()
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, train, None, epochs=3, batch_size=50, lr=0.05, seed=5, checkpoint=tmp_path / "m.pt",
            log=stop_after_first_epoch)
    resumed = _linear()
    history = fit(resumed, train, None, epochs=3, batch_size=50, lr=0.05, seed=5, checkpoint=tmp_path / "m.pt",
                  resume=True)
    assert history.sizes["epoch"] == 3
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_command_line_trains_and_saves(tmp_path, sample_test):
    out = tmp_path / "lenet.pt"
    assert main(["--arch", "lenet", "--epochs", "3", "--n", "1000", "--out", str(out), "--quiet",
                 "--plot", str(tmp_path / "curve.png")]) == 0
    model = models.load(out)
    assert model.probe_info["meta"]["epochs_done"] == 3
    history = results.load(history_path(out))
    assert history.attrs["probe"] == "train" and history.sizes["epoch"] == 3 and history.attrs["complete"]
    assert history.attrs["param_epochs"] == 3 and len(history.attrs["model_sha256"]) == 64
    assert history["test_accuracy"].values[-1] > 50
    assert (tmp_path / "curve.png").exists()
    assert main(["--arch", "lenet", "--epochs", "1", "--out", str(out), "--quiet", "--transform", "low-pass:0"]) == 2


def test_training_without_a_test_set_records_no_test_accuracy(sample_train):
    train = _small(sample_train)
    train.info = sample_train.info
    history = fit(_linear(), train, None, epochs=1, batch_size=100)
    assert "test_accuracy" not in history and not np.isnan(history["train_loss"].values).any()


def test_augmentations_keep_shapes(sample_train):
    from probe.augment import random_crop_flip
    x, _ = sample_train.batch(np.arange(8))
    generator = torch.Generator().manual_seed(0)
    out = random_crop_flip(x, 2, True, generator)
    assert out.shape == x.shape
    torch.testing.assert_close(random_crop_flip(x, 0, False, generator), x)
