"""The corruption probe: command line, seeding independent of chunking, BN adaptation, released -C folders."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from probe import models, results
from probe.__main__ import main as probe_main
from probe.corruptions import CorruptionProbe, main
from probe.corruptions.bn_adapt import adapted_logits
from probe.corruptions.probe import SEED_BLOCK, chunk_size, parse_corruptions, parse_severities
from probe.corruptions.released import CorruptedFolder
from probe.data import get_batch, subset_indices
from probe.errors import DataError, ParameterError
from probe.evaluate import accuracy
from probe.runner import run_chunked


def test_command_line_end_to_end(tmp_path, lenet_checkpoint, sample_test):
    out, plot = tmp_path / "c.nc", tmp_path / "c.png"
    assert main([str(lenet_checkpoint), "--data", "fashion-mnist-sample", "--n", "64", "--corruptions", "gaussian_noise",
                 "contrast", "--severities", "1,5", "--out", str(out), "--plot", str(plot), "--quiet"]) == 0
    ds = results.load(out)
    assert ds.attrs["probe"] == "corruptions" and ds.attrs["complete"] and plot.stat().st_size > 0
    assert ds["correct"].dims == ("corruption", "severity", "sample") and ds["correct"].dtype == bool
    assert list(ds["corruption"].values) == ["gaussian_noise", "contrast"] and list(ds["severity"].values) == [1, 5]
    np.testing.assert_allclose(ds["accuracy"].values, 100 * ds["correct"].mean("sample").values)
    assert float(ds["mce"]) == pytest.approx(100 - float(ds["accuracy"].mean()))
    assert ds["accuracy"].attrs["units"] == "%"
    model = models.load(lenet_checkpoint)
    assert float(ds["clean_accuracy"]) == pytest.approx(accuracy(model, sample_test, ds["sample"].values))
    assert float(ds["accuracy"].sel(corruption="contrast", severity=5)) < float(ds["clean_accuracy"])
    assert ds["example"].shape == (2, 2, 1, 28, 28)
    # `python -m probe corruptions` is the same command
    again = tmp_path / "again.nc"
    assert probe_main(["corruptions", str(lenet_checkpoint), "--n", "64", "--corruptions", "gaussian_noise",
                       "contrast", "--severities", "1,5", "--out", str(again), "--quiet"]) == 0
    np.testing.assert_array_equal(results.load(again)["correct"].values, ds["correct"].values)


def test_results_do_not_depend_on_chunking(lenet, sample_test):
    probe = CorruptionProbe(lenet, sample_test, ["gaussian_noise", "glass_blur", "snow"], [3])
    indices = subset_indices(len(sample_test), 3 * SEED_BLOCK, seed=1)
    attrs = {"probe": "corruptions", "parameters": {}}
    small = run_chunked(probe, indices, attrs, chunk_size=SEED_BLOCK)
    large = run_chunked(probe, indices, attrs, chunk_size=3 * SEED_BLOCK)
    np.testing.assert_array_equal(small["correct"].values, large["correct"].values)
    block = indices[:SEED_BLOCK]
    x, y = get_batch(sample_test, block)
    seeded = [CorruptionProbe(lenet, sample_test, ["gaussian_noise"], [5], seed=seed).corrupted(x, y, block, "gaussian_noise", 5)
              for seed in (0, 0, 1)]
    assert torch.equal(seeded[0], seeded[1]) and not torch.equal(seeded[0], seeded[2])
    example = probe.examples(indices)["example"].sel(corruption="glass_blur", severity=3).values
    regenerated = probe.corrupted(x, y, block, "glass_blur", 3)[0]
    np.testing.assert_array_equal(example, (regenerated * 255).round().to(torch.uint8).numpy())
    assert chunk_size(128, None) == 128 and chunk_size(100, 48) % 48 == 0 and chunk_size(10, None) == SEED_BLOCK


def test_bn_adaptation_in_the_probe(tmp_path, lenet_checkpoint, sample_test):
    out = tmp_path / "bn.nc"
    assert main([str(lenet_checkpoint), "--n", "64", "--corruptions", "brightness", "--severities", "2",
                 "--bn-adapt", "0:32", "--out", str(out), "--quiet"]) == 0
    ds = results.load(out)
    model = models.load(lenet_checkpoint)
    x, y = get_batch(sample_test, ds["sample"].values)
    expected = 100 * float((adapted_logits(model, x, 0.0, 32).argmax(1) == y).float().mean())
    assert float(ds["clean_accuracy"]) == pytest.approx(expected)


def test_parsing_options():
    assert parse_severities("1-5") == [1, 2, 3, 4, 5] and parse_severities("5,1,3") == [1, 3, 5]
    for bad in ("0-2", "x", "6"):
        with pytest.raises(ParameterError):
            parse_severities(bad)
    assert len(parse_corruptions(None)) == 15 and len(parse_corruptions(["all"])) == 19
    assert parse_corruptions(["fog", "extra"])[:2] == ["fog", "speckle_noise"]
    with pytest.raises(ParameterError):
        parse_corruptions(["rain"])


@pytest.fixture()
def cifar_c_layout(tmp_path, sample_test):
    """30 clean test images as .npz, and a CIFAR-10-C style folder whose odd severities hold the
    clean images and whose even severities hold black images (channels-last uint8)."""
    x, y = get_batch(sample_test, range(30))
    clean = np.rint(x[:, 0].numpy() * 255).astype(np.uint8)
    np.savez(tmp_path / "clean.npz", x=clean, y=y.numpy())
    folder = tmp_path / "fmnist-c"
    folder.mkdir()
    blocks = [clean if s % 2 else np.zeros_like(clean) for s in range(1, 6)]
    np.save(folder / "gaussian_noise.npy", np.concatenate(blocks)[..., None])
    np.save(folder / "labels.npy", np.tile(y.numpy().astype(np.uint8), 5))
    return tmp_path / "clean.npz", folder, x, y


def test_cifar_c_reader_gets_severity_blocks_and_labels(cifar_c_layout):
    _, folder, x, y = cifar_c_layout
    source = CorruptedFolder(folder, expected_length=30)
    assert source.corruptions() == ["gaussian_noise"] and source.severities("gaussian_noise") == [1, 2, 3, 4, 5]
    for severity in (1, 2, 5):
        images, labels = get_batch(source.block("gaussian_noise", severity), range(30))
        assert torch.equal(labels, y)
        torch.testing.assert_close(images, x if severity % 2 else torch.zeros_like(x), atol=1e-6, rtol=0)
    with pytest.raises(DataError):
        CorruptedFolder(folder, expected_length=31).block("gaussian_noise", 1)


def test_probe_reads_the_corrupted_folder(tmp_path, cifar_c_layout, lenet_checkpoint):
    clean, folder, x, y = cifar_c_layout
    out = tmp_path / "c.nc"
    assert main([str(lenet_checkpoint), "--data", str(clean), "--corrupted-dir", str(folder), "--out", str(out), "--quiet"]) == 0
    ds = results.load(out)
    model = models.load(lenet_checkpoint)
    with torch.no_grad():
        black = 100 * float((model(torch.zeros_like(x)).argmax(1) == y).float().mean())
    accuracy_by_severity = ds["accuracy"].sel(corruption="gaussian_noise").values
    np.testing.assert_allclose(accuracy_by_severity[[0, 2, 4]], float(ds["clean_accuracy"]))
    np.testing.assert_allclose(accuracy_by_severity[[1, 3]], black)
    # labels that disagree with the clean data are refused
    np.save(folder / "labels.npy", np.tile(((y.numpy() + 1) % 10).astype(np.uint8), 5))
    assert main([str(lenet_checkpoint), "--data", str(clean), "--corrupted-dir", str(folder), "--quiet"]) == 2


def test_imagenet_c_folder_layout(tmp_path):
    root = tmp_path / "imagenet-c"
    for severity in (1, 2):
        for label, wnid in enumerate(("n01", "n02")):
            folder = root / "fog" / str(severity) / wnid
            folder.mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.full((16, 16, 3), 10 * severity + label + i, dtype=np.uint8)).save(folder / f"{i}.png")
    source = CorruptedFolder(root, expected_length=6)
    assert source.corruptions() == ["fog"] and source.severities("fog") == [1, 2]
    images, labels = get_batch(source.block("fog", 2), range(6))
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    values = (images[:, 0, 0, 0] * 255).round().long().tolist()
    assert values == [20, 21, 22, 21, 22, 23]
    with pytest.raises(DataError):
        source.block("fog", 3)
