"""The corruption probe: command line, seeding independent of chunking and batch size, non-finite
logits, SIGKILL resume, BN adaptation, released -C folders."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from PIL import Image

from probe import models, results, runner
from probe.__main__ import main as probe_command
from probe.commands import probe_main
from probe.corruptions import CorruptionProbe, run, summary
from probe.corruptions.bn_adapt import adapted_logits
from probe.corruptions.probe import CHUNK_SIZE, SEED_BLOCK, chunk_size, parse_corruptions, parse_severities
from probe.corruptions.released import CorruptedFolder
from probe.data import get_batch, subset_indices
from probe.errors import DataError, ParameterError
from probe.evaluate import accuracy


def main(argv: list[str]) -> int:
    return probe_main("corruptions", argv)


def test_command_line_end_to_end(tmp_path, lenet_checkpoint, sample_test, capsys):
    out, plot = tmp_path / "c.nc", tmp_path / "c.png"
    assert main([str(lenet_checkpoint), "--data", "fashion-mnist-sample", "--n", "64",
                 "--corruptions", "gaussian_noise",
                 "contrast", "--severities", "1,5", "--out", str(out), "--plot", str(plot)]) == 0
    assert "mCE (CIFAR)" in capsys.readouterr().out
    ds = results.load(out)
    assert ds.attrs["probe"] == "corruptions" and ds.attrs["complete"] and plot.stat().st_size > 0
    assert ds.attrs["param_corruptions"] == ["gaussian_noise", "contrast"] and ds.attrs["param_severities"] == [1, 5]
    assert ds["correct"].dims == ("corruption", "severity", "sample") and ds["correct"].dtype == bool
    assert ds["finite"].values.all() and ds["clean_finite"].values.all()
    assert list(ds["corruption"].values) == ["gaussian_noise", "contrast"] and list(ds["severity"].values) == [1, 5]
    np.testing.assert_allclose(ds["accuracy"].values, 100 * ds["correct"].mean("sample").values)
    assert float(ds["mce"]) == pytest.approx(100 - float(ds["accuracy"].mean()))
    assert ds["accuracy"].attrs["units"] == "%"
    model = models.load(lenet_checkpoint)
    assert float(ds["clean_accuracy"]) == pytest.approx(accuracy(model, sample_test, ds["sample"].values))
    assert float(ds["accuracy"].sel(corruption="contrast", severity=5)) < float(ds["clean_accuracy"])
    assert ds["example"].shape == (2, 2, 1, 28, 28)
    numbers = summary(ds)
    assert numbers["samples"] == 64 and numbers["non_finite"] == 0 and numbers["mce"] == pytest.approx(float(ds["mce"]))
    # `python -m probe corruptions` is the same command, and Python gives the same result
    again = tmp_path / "again.nc"
    assert probe_command(["corruptions", str(lenet_checkpoint), "--n", "64", "--corruptions", "gaussian_noise",
                          "contrast", "--severities", "1,5", "--out", str(again), "--quiet"]) == 0
    python = run(model, "fashion-mnist-sample", n=64, corruptions=["gaussian_noise", "contrast"], severities=[1, 5])
    for other in (results.load(again), python):
        xr.testing.assert_identical(other.drop_attrs(), ds.drop_attrs())


def test_results_do_not_depend_on_chunking(lenet, sample_test):
    probe = CorruptionProbe(lenet, ["gaussian_noise", "glass_blur", "snow"], [3])
    indices = subset_indices(len(sample_test), 3 * SEED_BLOCK, seed=1)
    small, large = (runner.run("corruptions", lenet, sample_test, runner.Plan(probe, {}, chunk_size=size),
                               indices=indices)
                    for size in (SEED_BLOCK, 3 * SEED_BLOCK))
    np.testing.assert_array_equal(small["correct"].values, large["correct"].values)
    block = indices[:SEED_BLOCK]
    x, y = get_batch(sample_test, block)
    seeded = [CorruptionProbe(lenet, ["gaussian_noise"], [5], seed=seed).corrupted(x, y, block, "gaussian_noise", 5)
              for seed in (0, 0, 1)]
    assert torch.equal(seeded[0], seeded[1]) and not torch.equal(seeded[0], seeded[2])
    example = small["example"].sel(corruption="glass_blur", severity=3)   # made with chunk 0
    assert small.attrs["example_sample"] == int(block[0])
    regenerated = probe.corrupted(x, y, block, "glass_blur", 3)[0]
    np.testing.assert_array_equal(example.values, (regenerated * 255).round().to(torch.uint8).numpy())
    assert chunk_size() == CHUNK_SIZE and chunk_size(48) == 384 and CHUNK_SIZE % SEED_BLOCK == 0


def test_result_does_not_depend_on_the_batch_size(lenet, sample_test):
    options = dict(n=150, corruptions=["gaussian_noise", "glass_blur"], severities="2")
    a = run(lenet, sample_test, batch_size=7, **options)
    b = run(lenet, sample_test, **options)
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())


def test_non_finite_logits_are_flagged_and_excluded(bright_nan, sample_test):
    model, indices = bright_nan
    ds = run(model, sample_test, indices=indices, corruptions=["contrast", "gaussian_noise"], severities="1,5")
    bright = np.isin(ds["sample"].values, indices[24:])
    assert not ds["clean_finite"].values[bright].any() and ds["clean_finite"].values[~bright].all()
    assert not ds["finite"].sel(corruption="contrast").values[:, bright].any()   # contrast keeps the mean brightness
    finite, correct = ds["finite"].values, ds["correct"].values
    assert not correct[~finite].any() and not ds["clean_correct"].values[bright].any()
    for i in range(ds.sizes["corruption"]):
        for j in range(ds.sizes["severity"]):
            assert ds["accuracy"].values[i, j] == pytest.approx(100 * correct[i, j, finite[i, j]].mean())
    assert float(ds["clean_accuracy"]) == pytest.approx(100 * ds["clean_correct"].values[~bright].mean())
    numbers = summary(ds)
    assert numbers["non_finite"] == 8 and numbers["non_finite_cells"] == int((~finite).sum()) >= 16
    assert not any(np.isnan(value) for value in numbers.values())
    assert not any(np.isnan(ds[v].values).any() for v in ds.data_vars if ds[v].dtype.kind == "f")


def test_bn_adaptation_in_the_probe(tmp_path, lenet_checkpoint, sample_test):
    out = tmp_path / "bn.nc"
    assert main([str(lenet_checkpoint), "--n", "64", "--corruptions", "brightness", "--severities", "2",
                 "--bn-adapt", "0:32", "--out", str(out), "--quiet"]) == 0
    ds = results.load(out)
    assert ds.attrs["param_bn_adapt"] == "0:32"
    model = models.load(lenet_checkpoint)
    x, y = get_batch(sample_test, ds["sample"].values)
    expected = 100 * float((adapted_logits(model, x, 0.0, 32).argmax(1) == y).float().mean())
    assert float(ds["clean_accuracy"]) == pytest.approx(expected)
    same = run(model, sample_test, n=64, corruptions="brightness", severities=2, bn_adapt=(0, 32), batch_size=5)
    xr.testing.assert_identical(same.drop_attrs(), ds.drop_attrs())


def test_parsing_options():
    assert parse_severities("1-5") == [1, 2, 3, 4, 5] and parse_severities("5,1,3") == [1, 3, 5]
    assert parse_severities([3, 1]) == [1, 3] and parse_severities(2) == [2]
    for bad in ("0-2", "x", "6", [7]):
        with pytest.raises(ParameterError):
            parse_severities(bad)
    assert len(parse_corruptions(None)) == 15 and len(parse_corruptions(["all"])) == 19
    assert parse_corruptions(["fog", "extra"])[:2] == ["fog", "speckle_noise"] and parse_corruptions("fog") == ["fog"]
    with pytest.raises(ParameterError):
        parse_corruptions(["rain"])


def test_bad_options_fail_before_any_work(lenet, sample_test, tmp_path):
    no_batchnorm = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    for model, options in ((lenet, {"reference": "alexnet", "severities": "1-3"}),
                           (lenet, {"reference": tmp_path / "missing.nc"}), (no_batchnorm, {"bn_adapt": "0:32"}),
                           (lenet, {"corruptions": "rain"}), (lenet, {"params": "imagenet"})):
        with pytest.raises(ParameterError):
            run(model, sample_test, n=4, **options)


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


def _black_accuracy(checkpoint, x, y) -> float:
    with torch.no_grad():
        return 100 * float((models.load(checkpoint)(torch.zeros_like(x)).argmax(1) == y).float().mean())


def test_probe_reads_the_corrupted_folder(tmp_path, cifar_c_layout, lenet_checkpoint):
    clean, folder, x, y = cifar_c_layout
    out = tmp_path / "c.nc"
    assert main([str(lenet_checkpoint), "--data", str(clean), "--split", "all", "--corrupted-dir", str(folder),
                 "--out", str(out), "--quiet"]) == 0
    ds = results.load(out)
    accuracy_by_severity = ds["accuracy"].sel(corruption="gaussian_noise").values
    np.testing.assert_allclose(accuracy_by_severity[[0, 2, 4]], float(ds["clean_accuracy"]))
    np.testing.assert_allclose(accuracy_by_severity[[1, 3]], _black_accuracy(lenet_checkpoint, x, y))
    assert ds["example"].sel(severity=2).values.max() == 0
    # labels that disagree with the clean data are refused
    np.save(folder / "labels.npy", np.tile(((y.numpy() + 1) % 10).astype(np.uint8), 5))
    assert main([str(lenet_checkpoint), "--data", str(clean), "--split", "all", "--corrupted-dir", str(folder),
                 "--quiet"]) == 2


def test_a_corrupted_folder_as_data_takes_the_shared_data_options(tmp_path, cifar_c_layout, lenet_checkpoint):
    """`--data *-C --data-corruption NAME --data-severity S` is one test set; the probe's own
    `--corruptions` / `--severities` are applied on top of it."""
    _, folder, x, y = cifar_c_layout
    out = tmp_path / "c.nc"
    assert main([str(lenet_checkpoint), "--data", str(folder), "--data-corruption", "gaussian_noise",
                 "--data-severity", "2", "--corruptions", "contrast", "--severities", "3", "--out", str(out),
                 "--quiet"]) == 0
    ds = results.load(out)
    assert ds.attrs["data"].endswith("[gaussian_noise:2]") and list(ds["corruption"].values) == ["contrast"]
    assert float(ds["clean_accuracy"]) == pytest.approx(_black_accuracy(lenet_checkpoint, x, y))
    assert main([str(lenet_checkpoint), "--data", str(folder), "--quiet"]) == 2   # which block: refused


def test_imagenet_c_folder_layout(tmp_path):
    root = tmp_path / "imagenet-c"
    for severity in (1, 2):
        for label, wnid in enumerate(("n01", "n02")):
            folder = root / "fog" / str(severity) / wnid
            folder.mkdir(parents=True)
            for i in range(3):
                pixels = np.full((16, 16, 3), 10 * severity + label + i, dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    source = CorruptedFolder(root, expected_length=6)
    assert source.corruptions() == ["fog"] and source.severities("fog") == [1, 2]
    images, labels = get_batch(source.block("fog", 2), range(6))
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    values = (images[:, 0, 0, 0] * 255).round().long().tolist()
    assert values == [20, 21, 22, 21, 22, 23]
    with pytest.raises(DataError):
        source.block("fog", 3)
