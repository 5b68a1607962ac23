"""Shared fixtures: the embedded Fashion-MNIST sample and a LeNet trained on it once per session."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from probe import data, models  # noqa: E402
from probe.train import fit  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed_global_generators():
    """Every test starts from the same global RNG state, whatever ran before it."""
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def sample_train():
    return data.load("fashion-mnist-sample", split="train")


@pytest.fixture(scope="session")
def sample_test():
    return data.load("fashion-mnist-sample", split="test")


@pytest.fixture(scope="session")
def lenet_checkpoint(tmp_path_factory, sample_train, sample_test):
    """Path of a LeNet trained for 8 epochs on the embedded sample (about 85 % test accuracy)."""
    path = tmp_path_factory.mktemp("models") / "lenet.pt"
    torch.manual_seed(0)
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353])
    fit(model, sample_train, sample_test, epochs=8, lr=0.1, seed=0, checkpoint=path,
        meta={"data": "fashion-mnist-sample"})
    return path


@pytest.fixture()
def lenet(lenet_checkpoint):
    """A fresh copy of the trained LeNet in eval mode."""
    return models.load(lenet_checkpoint)
