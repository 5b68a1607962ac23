"""Every architecture trains a step and round-trips through a checkpoint; unsafe or
mismatched checkpoints are refused with clear errors."""
from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F

from probe import models
from probe.errors import CheckpointError

SMALL = {
    "linear": dict(in_channels=1, image_size=(28, 28)),
    "mlp": dict(in_channels=1, image_size=(28, 28), width=32, depth=2),
    "lenet": dict(in_channels=1, image_size=(28, 28)),
    "resnet18": dict(in_channels=3, image_size=(32, 32), base_width=8),
    "preact_resnet18": dict(in_channels=3, image_size=(32, 32), base_width=8),
    "wide_resnet": dict(in_channels=3, image_size=(32, 32), depth=10, width=1),
    "imagenet-resnet18": dict(in_channels=3, image_size=(32, 32)),
    # 32×32 ends in 1×1 maps: one step at lr 0.1 overflows in eval
    "imagenet-resnet50": dict(in_channels=3, image_size=(64, 64)),
}


def test_registry_is_covered():   # the image-to-image corruption networks: tests/test_corruption_nets.py
    assert set(SMALL) == set(models.ARCHITECTURES) - models.IMAGE_TO_IMAGE


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_train_step_and_round_trip(arch, tmp_path):
    torch.manual_seed(0)
    kwargs = SMALL[arch]
    c = kwargs["in_channels"]
    model = models.build(arch, num_classes=7, mean=[0.5] * c, std=[0.25] * c, **kwargs)
    x, y = torch.rand(4, c, *kwargs["image_size"]), torch.tensor([0, 1, 2, 3])
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    model.eval()
    models.save(model, tmp_path / "m.pt", meta={"note": "test"})
    loaded = models.load(tmp_path / "m.pt")
    assert not loaded.training and loaded.probe_info["meta"] == {"note": "test"}
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert models.weights_sha256(loaded) == models.weights_sha256(model)


def test_normalization_is_inside_the_model():
    model = models.build("linear", in_channels=1, image_size=(2, 2), num_classes=2, mean=[0.5], std=[0.5])
    linear = model.model[1]
    x = torch.rand(3, 1, 2, 2)
    torch.testing.assert_close(model(x), linear(((x - 0.5) / 0.5).flatten(1)))


def test_pickled_module_refused_unless_trusted(tmp_path):
    model = models.build("linear", in_channels=1, image_size=(4, 4), num_classes=3)
    torch.save(model, tmp_path / "whole.pt")
    with pytest.raises(CheckpointError, match="trust"):
        models.load(tmp_path / "whole.pt")
    loaded = models.load(tmp_path / "whole.pt", trust=True)
    x = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(loaded(x), model.eval()(x))


def test_mismatched_state_dict(tmp_path):
    model = models.build("lenet", in_channels=1, image_size=(28, 28), num_classes=10)
    models.save(model, tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["arch_kwargs"]["num_classes"] = 5
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="do not match"):
        models.load(tmp_path / "bad.pt")
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="--factory"):
        models.load(tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        models.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        models.load(tmp_path / "junk.pt")


def test_torchscript_and_factory(tmp_path, monkeypatch):
    model = models.build("lenet", in_channels=1, image_size=(28, 28), num_classes=10).eval()
    x = torch.rand(2, 1, 28, 28)
    torch.jit.trace(model, x).save(str(tmp_path / "scripted.pt"))
    with pytest.raises(CheckpointError, match="TorchScript.*--trust-checkpoint"):
        models.load(tmp_path / "scripted.pt")
    torch.testing.assert_close(models.load(tmp_path / "scripted.pt", trust=True)(x), model(x))

    (tmp_path / "user_factory.py").write_text(
        "from probe import models\n"
        "def make():\n"
        "    return models.build('lenet', in_channels=1, image_size=(28, 28), num_classes=10)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("user_factory", None)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    loaded = models.load(tmp_path / "weights.pt", factory="user_factory:make")
    torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(CheckpointError, match="cannot import"):
        models.load(tmp_path / "weights.pt", factory="user_factory:nothing")


@pytest.mark.parametrize("kind", ["zip", "legacy"])
def test_every_truncation_of_a_checkpoint_is_a_checkpoint_error(tmp_path, kind):
    model = models.build("linear", in_channels=1, image_size=(3, 3), num_classes=2)
    full = tmp_path / "full.pt"
    if kind == "zip":
        models.save(model, full)
    else:
        torch.save(model.state_dict(), full, _use_new_zipfile_serialization=False)
    raw = full.read_bytes()
    cut = tmp_path / "cut.pt"
    for length in range(0, len(raw), 3):
        cut.write_bytes(raw[:length])
        with pytest.raises(CheckpointError):
            models.load(cut)
        with pytest.raises(CheckpointError):
            models.load(cut, trust=True)


def test_text_and_empty_files_are_not_checkpoints(tmp_path):
    (tmp_path / "model.pt").write_text("weights: see the paper\n")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        models.load(tmp_path / "model.pt", trust=True)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        models.load(tmp_path / "empty.pt")


def test_pickled_module_of_a_class_that_cannot_be_imported(tmp_path, monkeypatch):
    (tmp_path / "gone_module.py").write_text("import torch\nclass Net(torch.nn.Linear):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import gone_module
    torch.save(gone_module.Net(2, 2), tmp_path / "whole.pt")
    sys.modules.pop("gone_module")
    (tmp_path / "gone_module.py").unlink()
    with pytest.raises(CheckpointError, match="trust"):
        models.load(tmp_path / "whole.pt")
    with pytest.raises(CheckpointError, match="cannot be imported"):
        models.load(tmp_path / "whole.pt", trust=True)
