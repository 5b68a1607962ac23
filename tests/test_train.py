"""Training: schedules, reproducibility, resume after an interruption, the command line."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from probe import models, results
from probe.commands.train import main
from probe.errors import ResumeError
from probe.train import fit, history_path, learning_rate


def test_schedules():
    assert learning_rate("triangular", 0.2, 0.0) == 0.0
    assert learning_rate("triangular", 0.2, 0.4) == pytest.approx(0.2)
    assert learning_rate("triangular", 0.2, 0.7) == pytest.approx(0.1)
    assert learning_rate("cosine", 0.1, 0.5) == pytest.approx(0.05)
    assert learning_rate("step", 1.0, 0.8) == pytest.approx(0.01)
    assert learning_rate("linear", 0.1, 0.0) == pytest.approx(0.1)
    assert learning_rate("linear", 0.1, 0.75) == pytest.approx(0.025)


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


def test_resume_refuses_the_state_of_another_run(tmp_path, sample_train):
    """A state file left by one run is never continued by another (other options or other data)."""
    train = _small(sample_train)
    train.info = sample_train.info
    other_data = torch.utils.data.Subset(sample_train, list(range(1, 5000, 10)))
    other_data.info = sample_train.info

    def stop_after_first_epoch(message):
        if message.lstrip().startswith("epoch   1/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(_linear(), train, None, epochs=3, batch_size=50, lr=0.05, seed=5, checkpoint=tmp_path / "m.pt",
            log=stop_after_first_epoch)
    for dataset, lr, words in ((train, 0.1, "lr"), (other_data, 0.05, "data_fingerprint")):
        with pytest.raises(ResumeError, match=words):
            fit(_linear(), dataset, None, epochs=3, batch_size=50, lr=lr, seed=5, checkpoint=tmp_path / "m.pt",
                resume=True)
    assert fit(_linear(), train, None, epochs=3, batch_size=50, lr=0.05, seed=5, checkpoint=tmp_path / "m.pt",
               resume=True).sizes["epoch"] == 3


def test_history_path_keeps_dotted_names(tmp_path):
    assert history_path(tmp_path / "lenet.pt") == tmp_path / "lenet.history.nc"
    assert history_path(tmp_path / "eps_0.3") == tmp_path / "eps_0.3.history.nc"   # not eps_0.history.nc
    assert history_path(tmp_path / "eps_0.3.pt") != history_path(tmp_path / "eps_0.5.pt")


def test_a_finished_thesis_run_is_reused_only_for_the_same_run(tmp_path, sample_train):
    from analyses import thesis
    train = _small(sample_train)
    train.info = sample_train.info
    recipe = thesis.Recipe(epochs=1, lr=0.05, schedule="triangular", weight_decay=0.0)
    first = thesis.train(_linear(), train, None, tmp_path / "run.pt", recipe, log=None)
    assert thesis.train(_linear(), train, None, tmp_path / "run.pt", recipe, log=None).equals(first)
    other = torch.utils.data.Subset(sample_train, list(range(1, 5000, 10)))
    other.info = sample_train.info
    with pytest.raises(ResumeError, match="data_fingerprint"):
        thesis.train(_linear(), other, None, tmp_path / "run.pt", recipe, log=None)
    with pytest.raises(ResumeError, match="recipe"):
        thesis.train(_linear(), train, None, tmp_path / "run.pt", recipe.scaled(epochs=2), log=None)


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


def _imagenet_layout(root, classes=("ant", "bee", "cat"), per_class=6):
    """train/ and val/ with one folder per class, JPEG photos of mixed sizes."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("val", 2)):
        for c, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                size = (int(rng.integers(40, 70)), int(rng.integers(40, 70)))
                base = np.full((*size, 3), 60 * c, np.uint8) + rng.integers(0, 40, (*size, 3), dtype=np.uint8)
                Image.fromarray(base).save(root / split / name / f"{i}.JPEG", quality=90)
    return root


def test_image_folder_batches_do_not_depend_on_the_number_of_workers(tmp_path):
    from probe import data
    from probe.train.loader import RandomResizedCrops, loader
    folder = data.load(_imagenet_layout(tmp_path), split="train", image_size=32)
    crops = RandomResizedCrops(folder, 32)
    batches = []
    for workers in (0, 2):
        batch_loader, sampler = loader(crops, 5, seed=3, workers=workers)
        sampler.epoch = 1
        batches.append([(x.clone(), y.clone()) for x, y in batch_loader])
    assert len(batches[0]) == 4 and batches[0][0][0].shape == (5, 3, 32, 32)
    for (xa, ya), (xb, yb) in zip(*batches):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    sampler.epoch = 2
    assert not torch.equal(next(iter(batch_loader))[0], batches[0][0][0])   # another epoch, other crops


def test_an_imagenet_layout_folder_trains_and_evaluates_on_val(tmp_path):
    from probe.commands import probe_main
    root = _imagenet_layout(tmp_path / "set")
    out = tmp_path / "model.pt"
    assert main(["--arch", "lenet", "--data", str(root), "--image-size", "32", "--epochs", "2", "--batch-size", "6",
                 "--workers", "2", "--out", str(out), "--quiet"]) == 0
    assert models.load(out).probe_info["arch_kwargs"]["image_size"] == [32, 32]
    assert probe_main("evaluate", [str(out), "--data", str(root), "--split", "test", "--image-size", "32",
                                   "--out", str(tmp_path / "e.nc"), "--quiet"]) == 0
    ds = results.load(tmp_path / "e.nc")
    assert ds.sizes["sample"] == 6 and ds.attrs["data_size"] == 6   # val/ holds 2 images per class


def test_warmup_and_linear_scaling_of_the_learning_rate():
    from probe.train import scheduled_rate
    assert scheduled_rate("cosine", 0.4, 0.05, warmup=0.1) == pytest.approx(0.2)
    assert scheduled_rate("cosine", 0.4, 0.1, warmup=0.1) == pytest.approx(0.4)
    assert scheduled_rate("cosine", 0.4, 0.55, warmup=0.1) == pytest.approx(0.2)
    assert scheduled_rate("triangular", 0.2, 0.4) == learning_rate("triangular", 0.2, 0.4)


def test_training_under_torchrun_with_two_processes(tmp_path):
    import os
    import subprocess
    import sys
    out = tmp_path / "ddp.pt"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "probe.train",
                           "--arch", "lenet", "--epochs", "2", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    history = results.load(history_path(out))
    assert history.sizes["epoch"] == 2 and history["test_accuracy"].values[-1] > 60
    from probe import data
    from probe.evaluate import accuracy
    assert accuracy(models.load(out), data.load("fashion-mnist-sample", split="test")) > 60
