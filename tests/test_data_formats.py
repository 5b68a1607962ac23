"""Every dataset format round-trips on small files written here; bad files fail clearly."""
from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from probe import data
from probe.data.formats import write_cifar_batch, write_idx
from probe.errors import DataError, ParameterError

RNG = np.random.default_rng(0)


def _images(n, shape=(28, 28)):
    return RNG.integers(0, 256, size=(n, *shape), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_round_trip(tmp_path, suffix):
    images, labels = _images(12), RNG.integers(0, 10, 12).astype(np.uint8)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels)
    for spec in (tmp_path, tmp_path / f"t10k-images-idx3-ubyte{suffix}"):
        ds = data.load(spec, split="test")
        x, y = data.get_batch(ds, np.arange(12))
        assert x.shape == (12, 1, 28, 28) and x.dtype == torch.float32
        np.testing.assert_allclose(x[:, 0].numpy() * 255, images, atol=1e-4)
        np.testing.assert_array_equal(y.numpy(), labels)
    image, label = ds[3]
    assert image.shape == (1, 28, 28) and label == labels[3]


def test_idx_truncated_and_mismatched(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", _images(5))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="5 images but .* 4 labels"):
        data.load(tmp_path, split="test")
    raw = (tmp_path / "t10k-images-idx3-ubyte").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(raw[:-100])
    with pytest.raises(DataError, match="truncated"):
        data.load(tmp_path, split="test")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"garbage!")
    with pytest.raises(DataError, match="magic"):
        data.load(tmp_path, split="test")
    with gzip.open(tmp_path / "bad-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(raw[:50])
    with pytest.raises(DataError):
        data.load(tmp_path / "bad-images-idx3-ubyte.gz", split="all")


def test_idx_folder_without_the_requested_split(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", _images(3))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="no 'train' split .*has: test"):
        data.load(tmp_path, split="train")
    with pytest.raises(DataError, match="no 'train' split"):
        data.load(tmp_path / "t10k-images-idx3-ubyte", split="train")


def test_cifar10_and_cifar100(tmp_path):
    c10 = tmp_path / "cifar-10-batches-py"
    c10.mkdir()
    batches = [(_images(4, (3, 32, 32)), RNG.integers(0, 10, 4)) for _ in range(6)]
    for i, (images, labels) in enumerate(batches[:5], start=1):
        write_cifar_batch(c10 / f"data_batch_{i}", images, labels)
    write_cifar_batch(c10 / "test_batch", *batches[5])
    train = data.load("cifar10", split="train", root=tmp_path)
    test = data.load(c10, split="test")
    assert len(train) == 20 and len(test) == 4 and train.num_classes == 10
    x, y = data.get_batch(test, np.arange(4))
    np.testing.assert_allclose(x.numpy() * 255, batches[5][0], atol=1e-4)
    np.testing.assert_array_equal(y.numpy(), batches[5][1])
    x, _ = data.get_batch(train, [4])
    np.testing.assert_allclose(x[0].numpy() * 255, batches[1][0][0], atol=1e-4)

    c100 = tmp_path / "cifar-100-python"
    c100.mkdir()
    images, labels = _images(6, (3, 32, 32)), RNG.integers(0, 100, 6)
    write_cifar_batch(c100 / "test", images, labels, label_key="fine_labels")
    write_cifar_batch(c100 / "train", images, labels, label_key="fine_labels")
    (c100 / "meta").write_bytes(pickle.dumps({}))
    ds = data.load("cifar100", split="test", root=tmp_path)
    np.testing.assert_array_equal(data.get_batch(ds, np.arange(6))[1].numpy(), labels)


def test_corrupted_npy_folder(tmp_path):
    folder = tmp_path / "CIFAR-10-C"
    folder.mkdir()
    per = 3
    blocks = _images(5 * per, (32, 32, 3))
    np.save(folder / "fog.npy", blocks)
    np.save(folder / "labels.npy", np.tile(np.arange(per, dtype=np.uint8), 5))
    ds = data.load(folder, corruption="fog", severity=4)
    x, y = data.get_batch(ds, np.arange(per))
    assert isinstance(ds.images, np.memmap) or isinstance(ds.images.base, np.memmap)
    np.testing.assert_allclose(x.permute(0, 2, 3, 1).numpy() * 255, blocks[3 * per:4 * per], atol=1e-4)
    np.testing.assert_array_equal(y.numpy(), np.arange(per))
    with pytest.raises(DataError, match="no corruption 'snow'"):
        data.load(folder, corruption="snow", severity=1)
    with pytest.raises(DataError, match="severity"):
        data.load(folder, corruption="fog", severity=6)
    with pytest.raises(DataError, match="--data-corruption NAME --data-severity"):
        data.load(folder)
    with pytest.raises(DataError, match="no 'train' split"):
        data.load(folder, split="train", corruption="fog", severity=1)


def test_npz_and_pt(tmp_path):
    images = RNG.random((7, 3, 8, 8), dtype=np.float32)
    labels = RNG.integers(0, 3, 7)
    np.savez_compressed(tmp_path / "set.npz", x_test=images, y_test=labels, x_train=images[:2], y_train=labels[:2])
    ds = data.load(tmp_path / "set.npz", split="test")
    np.testing.assert_allclose(data.get_batch(ds, np.arange(7))[0].numpy(), images)
    assert len(data.load(tmp_path / "set.npz", split="train")) == 2
    with pytest.raises(DataError, match="no 'all' split"):
        data.load(tmp_path / "set.npz", split="all")
    torch.save({"images": torch.from_numpy(images), "labels": torch.from_numpy(labels)}, tmp_path / "set.pt")
    ds = data.load(tmp_path / "set.pt", split="all")
    np.testing.assert_array_equal(data.get_batch(ds, [6])[1].numpy(), labels[6:])
    torch.save((torch.from_numpy(images * 2), torch.from_numpy(labels)), tmp_path / "bad.pt")
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        data.load(tmp_path / "bad.pt", split="all")
    np.savez(tmp_path / "count.npz", x=images, y=labels[:3])
    with pytest.raises(DataError, match="7 images but 3 labels"):
        data.load(tmp_path / "count.npz", split="all")


@pytest.mark.parametrize("suffix", [".npz", ".pt"])
def test_an_unsplit_file_has_no_test_split(tmp_path, suffix):
    images, labels = RNG.random((5, 1, 8, 8), dtype=np.float32), RNG.integers(0, 3, 5)
    path = tmp_path / f"one{suffix}"
    if suffix == ".npz":
        np.savez(path, x=images, y=labels)
    else:
        torch.save((torch.from_numpy(images), torch.from_numpy(labels)), path)
    for split in ("test", "train"):
        with pytest.raises(DataError, match=f"no '{split}' split: it holds one unsplit set.*--split all"):
            data.load(path, split=split)
    assert len(data.load(path, split="all")) == 5


def test_image_folder(tmp_path):
    from PIL import Image
    arrays = {}
    for cls in ("cat", "dog"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        for i in range(2):
            array = _images(1, (10, 12, 3))[0]
            Image.fromarray(array).save(tmp_path / "train" / cls / f"{i}.png")
            arrays[(cls, i)] = array
    ds = data.load(tmp_path, split="train")
    assert len(ds) == 4 and ds.num_classes == 2
    x, y = data.get_batch(ds, [2, 3])
    assert x.shape == (2, 3, 10, 12) and y.tolist() == [1, 1]
    np.testing.assert_allclose(x[0].permute(1, 2, 0).numpy() * 255, arrays[("dog", 0)], atol=1e-4)
    resized = data.load(tmp_path / "train", split="all", image_size=8)
    assert resized[0][0].shape == (3, 8, 8)
    with pytest.raises(DataError, match="no 'test' split .*has: train"):
        data.load(tmp_path, split="test")
    with pytest.raises(DataError, match="unsplit"):
        data.load(tmp_path / "train", split="test")


def _write_folder(root, classes, size=(6, 6), count=1):
    from PIL import Image
    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(_images(1, size)[0]).save(root / cls / f"{i}.png")


def test_image_folder_classes_come_from_every_split(tmp_path):
    _write_folder(tmp_path / "train", ["ant", "bee", "cat"])
    _write_folder(tmp_path / "val", ["ant", "cat"])    # an ImageNet layout's val/ is its test split
    test = data.load(tmp_path, split="test")
    assert test.classes == ["ant", "bee", "cat"] and test.num_classes == 3
    assert data.get_batch(test, [0, 1])[1].tolist() == [0, 2]   # cat keeps label 2 without bee


def test_image_folder_of_mixed_sizes_asks_for_an_image_size(tmp_path):
    _write_folder(tmp_path / "small", ["a"], size=(6, 6))
    _write_folder(tmp_path / "big", ["b"], size=(9, 7))
    (tmp_path / "big" / "b").rename(tmp_path / "small" / "b")
    with pytest.raises(DataError, match="different sizes.*--image-size"):
        data.load(tmp_path / "small", split="all")
    assert data.load(tmp_path / "small", split="all", image_size=5)[1][0].shape == (1, 5, 5)


def test_imagenet_c_layout(tmp_path):
    from PIL import Image
    for wnid in ("n01", "n02"):
        folder = tmp_path / "blur" / "2" / wnid
        folder.mkdir(parents=True)
        Image.fromarray(_images(1, (6, 6))[0]).save(folder / "a.JPEG")
    ds = data.load(tmp_path, corruption="blur", severity=2)
    assert len(ds) == 2 and ds[1][1] == 1 and ds[0][0].shape == (1, 6, 6)


def test_digits():
    pytest.importorskip("sklearn")
    train, test = data.load("digits", split="train"), data.load("digits", split="test")
    assert len(train) + len(test) == 1797 and len(test) == 359
    x, _ = data.get_batch(test, np.arange(len(test)))
    assert x.shape[1:] == (1, 8, 8) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_named_errors(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'imagenet-21k'"):
        data.load("imagenet-21k")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not found"):
        data.load("mnist", root=tmp_path / "empty")
    with pytest.raises(DataError, match="no such file"):
        data.load(tmp_path / "missing.npz")
    with pytest.raises(DataError, match="unknown split"):
        data.load("fashion-mnist-sample", split="validation")
    with pytest.raises(DataError, match="no 'all' split"):
        data.load("fashion-mnist-sample", split="all")


def test_a_data_root_that_does_not_exist_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="does not exist"):
        data.load("fashion-mnist", root=tmp_path / "typo")
    with pytest.raises(DataError, match="does not exist"):
        data.load("fashion-mnist-sample", root=tmp_path / "typo")
    monkeypatch.setenv("PROBE_DATA_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="PROBE_DATA_ROOT"):
        data.load("mnist")


def test_subset_indices_are_seeded_dataset_indices():
    a, b = data.subset_indices(1000, 50, seed=3), data.subset_indices(1000, 50, seed=3)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 50 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, data.subset_indices(1000, 50, seed=4))
    with pytest.raises(ParameterError):
        data.subset_indices(10, 11)


def test_transformed_dataset_and_frequency_transforms(sample_test):
    from probe.data.transforms import parse_transform
    x, _ = data.get_batch(sample_test, np.arange(4))
    flip = parse_transform("dct-flip")
    torch.testing.assert_close(flip(flip(x)), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(parse_transform("low-pass:28")(x), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(parse_transform("high-pass:28")(x), x, atol=1e-5, rtol=0)
    low, high = parse_transform("low-pass:14")(x), parse_transform("high-pass:14")(x)
    assert float((low - x).abs().max()) > 0.01 and float(high.abs().mean()) < float(low.abs().mean())
    ds = data.TransformedDataset(sample_test, parse_transform("low-pass:8"), "low-pass:8")
    xt, _ = data.get_batch(ds, np.arange(4))
    torch.testing.assert_close(xt, parse_transform("low-pass:8")(x))  # linear: never clipped
    with pytest.raises(ParameterError):
        parse_transform("band-pass:3")
