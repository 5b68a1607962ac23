"""Readers (and a few writers, used by tests and tools) for on-disk dataset formats.

Every reader returns a dataset yielding `(float CHW image in [0, 1], int label)` and raises
`DataError` with the file name for missing, truncated or malformed input.
"""
from __future__ import annotations

import gzip
import io
import pickle
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, SupportsInt, TypeVar, cast

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from probe.data.arrays import ArrayDataset
from probe.errors import DataError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

IDX_DTYPES: dict[int, npt.DTypeLike] = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def _open(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _require(path: Path) -> Path:
    if not path.exists():
        raise DataError(f"no such file: {path}")
    return path


# ----------------------------------------------------------------------------- IDX (MNIST)

def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into an array of its declared shape."""
    path = _require(Path(path))
    try:
        with _open(path) as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX file is truncated or malformed: header promises {expected} bytes of data "
                        f"for shape {shape}, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz)."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())


IDX_PREFIXES = {"train": "train", "test": "t10k"}


def find_idx_pair(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) IDX files of `split` in `folder`, gzipped or not, if present."""
    if split not in IDX_PREFIXES:
        return None
    prefix = IDX_PREFIXES[split]
    for suffix in (".gz", ""):
        images = folder / f"{prefix}-images-idx3-ubyte{suffix}"
        labels = folder / f"{prefix}-labels-idx1-ubyte{suffix}"
        if images.exists() and labels.exists():
            return images, labels
    return None


def idx_splits(folder: Path) -> list[str]:
    """The splits whose IDX files are present in `folder`."""
    return [split for split in IDX_PREFIXES if find_idx_pair(folder, split)]


def missing_split(source: str | Path, split: str, available: list[str]) -> DataError:
    """The error for a dataset that lacks the requested split (never a silent substitute)."""
    if available == ["all"]:
        return DataError(f"{source} has no '{split}' split: it holds one unsplit set of images; "
                         f"ask for split 'all' (--split all)")
    return DataError(f"{source} has no '{split}' split (it has: {', '.join(available) or 'none'})")


def read_idx_pair(images_path: Path, labels_path: Path, info: dict | None = None) -> ArrayDataset:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(f"{images_path}: expected images (N,H,W) and labels (N,), "
                        f"got {images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{images_path}: {len(images)} images but {labels_path.name} has {len(labels)} labels")
    return ArrayDataset(images, labels, source=str(images_path), info=info)


# ----------------------------------------------------------------------------- CIFAR pickles

# What the pickles of the CIFAR python format need: numpy arrays (rebuilt by `_reconstruct`
# from `ndarray` and a `dtype`; numpy 1 and 2 spell the module differently) and, in protocol-2
# pickles written by Python 3, `_codecs.encode` for bytes.  Nothing else is ever called.
PLAIN_PICKLE_GLOBALS = frozenset({("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                                  ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")})
NUMERIC_KINDS = "biufc"   # numpy dtype kinds of booleans, integers and floats (complex included)


class PlainUnpickler(pickle.Unpickler):
    """Unpickles plain data only: containers, strings, bytes, numbers and numeric numpy arrays.

    A pickle can call any importable function while it is read (the `pickle` module's own
    warning); this reader refuses every global outside `PLAIN_PICKLE_GLOBALS` with a
    `DataError` naming it, before it is called.
    """

    def __init__(self, handle: BinaryIO, source: Path) -> None:
        super().__init__(handle, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in PLAIN_PICKLE_GLOBALS:
            raise DataError(f"{self.source}: refused to unpickle: it calls {module}.{name}, which is not plain data "
                            f"(a crafted pickle runs code when read); pass --trust-data (trust=True) only if you "
                            f"trust its source")
        return super().find_class(module, name)


def _check_plain(value: object, source: Path) -> None:
    """Refuse numpy arrays of non-numeric dtypes (objects, strings) anywhere in an unpickled value."""
    if isinstance(value, np.ndarray) and value.dtype.kind not in NUMERIC_KINDS:
        raise DataError(f"{source}: holds an array of dtype {value.dtype}, not numbers; pass --trust-data "
                        f"(trust=True) only if you trust its source")
    if isinstance(value, dict):
        for item in value.values():
            _check_plain(item, source)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, source)


def _unpickle(path: Path, trust: bool = False) -> dict:
    """A CIFAR python pickle: plain data only (`PlainUnpickler`), anything with `trust`."""
    _require(path)
    try:
        with open(path, "rb") as handle:
            content = pickle.load(handle, encoding="bytes") if trust else PlainUnpickler(handle, path).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise DataError(f"{path}: not a CIFAR python pickle ({exc})") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: not a CIFAR python pickle (it holds a {type(content).__name__}, not a dict)")
    if not trust:
        _check_plain(content, path)
    return content


def _key(batch: dict, name: str) -> Any:   # an unpickled value: anything plain
    for key in (name.encode(), name):
        if key in batch:
            return batch[key]
    return None


def read_cifar(folder: str | Path, split: str, info: dict | None = None, trust: bool = False) -> ArrayDataset:
    """CIFAR-10 (`data_batch_1..5`, `test_batch`) or CIFAR-100 (`train`, `test`) pickles, read
    as plain data unless `trust` (see `PlainUnpickler`)."""
    folder = Path(folder)
    if split not in ("train", "test"):
        raise missing_split(folder, split, ["train", "test"])
    if (folder / "test_batch").exists() or (folder / "data_batch_1").exists():
        files = [folder / f"data_batch_{i}" for i in range(1, 6)] if split == "train" else [folder / "test_batch"]
        label_key = "labels"
    else:
        files, label_key = [folder / split], "fine_labels"
    images, labels = [], []
    for path in files:
        batch = _unpickle(path, trust)
        data, batch_labels = _key(batch, "data"), _key(batch, label_key)
        if data is None or batch_labels is None:
            raise DataError(f"{path}: missing 'data' or '{label_key}' entry")
        data = np.asarray(data, dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"{path}: expected data of shape (N, 3072), got {data.shape}")
        if len(data) != len(batch_labels):
            raise DataError(f"{path}: {len(data)} images but {len(batch_labels)} labels")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch_labels))
    return ArrayDataset(np.concatenate(images), np.concatenate(labels), source=str(folder), info=info)


def write_cifar_batch(path: str | Path, images_nchw: np.ndarray, labels: Iterable[SupportsInt],
                      label_key: str = "labels") -> None:
    """Write a CIFAR-style pickle (used to test the reader)."""
    data = {b"data": np.asarray(images_nchw, dtype=np.uint8).reshape(len(images_nchw), -1),
            label_key.encode(): list(map(int, labels))}
    with open(path, "wb") as handle:
        pickle.dump(data, handle)


# ----------------------------------------------------------------------------- *-C folders

def corrupted_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.npy") if p.stem != "labels")


def read_corrupted_npy(folder: str | Path, corruption: str | None, severity: int | None, split: str = "test",
                       info: dict | None = None) -> ArrayDataset:
    """One (corruption, severity) block of a CIFAR-10-C style folder, memory-mapped.

    `<corruption>.npy` holds all five severities stacked along the first axis, severity s
    in rows [(s-1)·n, s·n); `labels.npy` holds the labels of those rows.
    """
    folder = Path(folder)
    names = corrupted_names(folder)
    if split != "test":
        raise missing_split(folder, split, ["test"])
    if corruption is None or severity is None:
        raise DataError(f"{folder} is a corrupted test set: say which block to read with corruption= and severity= "
                        f"(--data-corruption NAME --data-severity 1..5; corruptions: {', '.join(names)})")
    if corruption not in names:
        raise DataError(f"{folder}: no corruption '{corruption}' (found: {', '.join(names) or 'none'})")
    if not 1 <= int(severity) <= 5:
        raise DataError(f"{folder}: severity must be 1..5, got {severity}")
    try:
        images = np.load(folder / f"{corruption}.npy", mmap_mode="r")
        labels = np.load(_require(folder / "labels.npy"), mmap_mode="r")
    except ValueError as exc:
        raise DataError(f"{folder}: malformed .npy file ({exc})") from None
    if len(images) != len(labels):
        raise DataError(f"{folder}: {corruption}.npy has {len(images)} images but labels.npy has {len(labels)}")
    if len(images) % 5:
        raise DataError(f"{folder}: {corruption}.npy has {len(images)} rows, not a multiple of 5 severities")
    per = len(images) // 5
    rows = slice((int(severity) - 1) * per, int(severity) * per)
    info = dict(info or {}, corruption=corruption, severity=int(severity))
    return ArrayDataset(images[rows], np.asarray(labels[rows]), source=f"{folder}/{corruption}.npy[s{severity}]",
                        info=info)


# ----------------------------------------------------------------------------- tensor files

Entry = TypeVar("Entry")   # what a tensor file's dict holds (arrays, tensors)
ARRAY_KEYS = (("x", "images", "data", "inputs"), ("y", "labels", "targets"))


def tensor_file_splits(container: Mapping[str, object]) -> list[str]:
    """Splits of a dict of arrays: 'train'/'test' from suffixed keys (`x_train`), else 'all'."""
    suffixed = [split for split in ("train", "test") if any(f"{key}_{split}" in container for key in ARRAY_KEYS[0])]
    return suffixed or (["all"] if any(key in container for key in ARRAY_KEYS[0]) else [])


def _pick(container: Mapping[str, Entry], keys: Sequence[str], split: str, source: str) -> Entry:
    names = [f"{key}_{split}" for key in keys] if split != "all" else list(keys)
    for name in names:
        if name in container:
            return container[name]
    available = tensor_file_splits(container)
    if split not in available and available:
        raise missing_split(source, split, available)
    raise DataError(f"{source}: no entry among {', '.join(names)}; found {', '.join(map(str, container))}")


def read_npz(path: str | Path, split: str, info: dict | None = None) -> ArrayDataset:
    """`.npz` with `x`/`images` and `y`/`labels` arrays (or `x_train`, `y_test`, ...)."""
    path = _require(Path(path))
    try:
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    images = _pick(arrays, ARRAY_KEYS[0], split, str(path))
    labels = _pick(arrays, ARRAY_KEYS[1], split, str(path))
    return ArrayDataset(images, labels, source=str(path), info=info)


def read_pt(path: str | Path, split: str, info: dict | None = None) -> ArrayDataset:
    """`.pt` holding a dict of tensors (keys as for `.npz`) or an `(images, labels)` pair."""
    path = _require(Path(path))
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for malformed files
        raise DataError(f"{path}: not a readable tensor file "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if isinstance(content, (tuple, list)) and len(content) == 2:
        if split != "all":
            raise missing_split(path, split, ["all"])
        images, labels = content
    elif isinstance(content, dict):
        images = _pick(content, ARRAY_KEYS[0], split, str(path))
        labels = _pick(content, ARRAY_KEYS[1], split, str(path))
    else:
        raise DataError(f"{path}: expected a dict of tensors or an (images, labels) pair, got {type(content).__name__}")
    images = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    labels = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    return ArrayDataset(images, labels, source=str(path), info=info)


# ----------------------------------------------------------------------------- image folders

class ImageFolder(Dataset):
    """One sub-folder per class, images read with Pillow.

    `classes` are the class names of the whole dataset (every split): labels are their
    sorted positions, so a split that lacks a class keeps the others' labels.  Greyscale
    folders give 1 channel, anything else RGB.  With `size`, images are resized (shorter
    side to size·8/7) and centre-cropped to size×size, as for ImageNet; without it every
    image must have the same size (checked on the file headers when the folder is opened).
    """

    SIZE_CHECK_LIMIT = 50_000  # header checks of larger folders stop here (later mismatches fail at reading)

    def __init__(self, root: str | Path, size: int | None = None, classes: list[str] | None = None,
                 info: dict | None = None) -> None:
        self.root = Path(root)
        own = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        self.classes = sorted(classes) if classes is not None else own
        unknown = sorted(set(own) - set(self.classes))
        if unknown:
            raise DataError(f"{self.root}: class folders {', '.join(unknown)} are not among the dataset's classes")
        position = {name: label for label, name in enumerate(self.classes)}
        self.samples = [(path, position[name]) for name in own
                        for path in sorted((self.root / name).rglob("*")) if path.suffix.lower() in IMAGE_SUFFIXES]
        if not self.samples:
            raise DataError(f"{self.root}: no images found in class sub-folders")
        self.size = size
        self.source = str(self.root)
        self.info = dict(info or {}, classes=self.classes, num_classes=len(self.classes))
        from PIL import Image
        with Image.open(self.samples[0][0]) as first:
            self.mode = "L" if first.mode in ("L", "1", "I;16") else "RGB"
        if size is None:
            self._check_uniform_size()

    def _check_uniform_size(self) -> None:
        from PIL import Image, UnidentifiedImageError
        sizes: dict[tuple[int, int], Path] = {}
        for path, _ in self.samples[: self.SIZE_CHECK_LIMIT]:
            try:
                with Image.open(path) as image:
                    sizes.setdefault(image.size, path)
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{path}: unreadable image ({exc})") from None
            if len(sizes) > 1:
                (a, first), (b, second) = list(sizes.items())[:2]
                raise DataError(f"{self.root}: images of different sizes ({a[0]}×{a[1]} in {first.name}, "
                                f"{b[0]}×{b[1]} in {second.name}); pass an image size (--image-size S) to resize "
                                f"and centre-crop them")

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([label for _, label in self.samples], dtype=np.int64)

    def read(self, index: int, size: int | None = None) -> tuple[torch.Tensor, int]:
        """Image `index` as a float (C, H, W) tensor in [0, 1] (resized and centre-cropped to
        `size` when given) and its label."""
        from PIL import Image, UnidentifiedImageError
        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                image = image.convert(self.mode)
                if size is not None:
                    image = _resize_center_crop(image, size)
                array = np.asarray(image, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"{path}: unreadable image ({exc})") from None
        tensor = torch.from_numpy(array.copy()).float().div_(255.0)
        return (tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)), label

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.read(index, self.size)

    def batch(self, indices: Iterable[SupportsInt]) -> tuple[torch.Tensor, torch.Tensor]:
        items = [self[int(i)] for i in indices]
        shapes = {tuple(x.shape) for x, _ in items}
        if len(shapes) > 1:
            raise DataError(f"{self.root}: images of different sizes {sorted(shapes)[:3]}; pass an image size "
                            f"(--image-size S) to resize them")
        return torch.stack([x for x, _ in items]), torch.as_tensor([y for _, y in items])


def _resize_center_crop(image: PILImage, size: int) -> PILImage:
    from PIL import Image
    short = round(size * 8 / 7)
    width, height = image.size
    scale = short / min(width, height)
    # Image.BILINEAR exists at run time but not in Pillow's types; Image.Resampling needs pillow 9.1 (we accept 9.0)
    resample = Image.BILINEAR  # type: ignore[attr-defined]
    image = image.resize((max(size, round(width * scale)), max(size, round(height * scale))), resample)
    width, height = image.size
    left, top = (width - size) // 2, (height - size) // 2
    return image.crop((left, top, left + size, top + size))


# ----------------------------------------------------------------------------- format detection

IMAGE_SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val")}  # an ImageNet layout's val/ is its test split


def _class_folders(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.is_dir()]


def read_image_folders(path: Path, split: str, image_size: int | None) -> ImageFolder:
    """`path/<split>/<class>/...` (test may be `val/`) or, unsplit, `path/<class>/...`."""
    split_folders = {name: next((path / f for f in folders if (path / f).is_dir()), None)
                     for name, folders in IMAGE_SPLIT_FOLDERS.items()}
    present = {name: folder for name, folder in split_folders.items() if folder is not None}
    if present:
        if split not in present:
            raise missing_split(path, split, list(present))
        classes = sorted({name for folder in present.values() for name in _class_folders(folder)})
        return ImageFolder(present[split], size=image_size, classes=classes)
    if not _class_folders(path):
        raise DataError(f"{path}: no dataset format recognised (IDX, CIFAR pickles, *-C .npy, .npz, .pt or class "
                        f"sub-folders)")
    if split != "all":
        raise missing_split(path, split, ["all"])
    return ImageFolder(path, size=image_size)


def _idx_file_split(name: str) -> str:
    return next((split for split, prefix in IDX_PREFIXES.items() if name.startswith(prefix)), "all")


def refuse_block_options(source: str | Path, kind: str, corruption: str | None = None, severity: int | None = None,
                         image_size: int | None = None) -> None:
    """A `DataError` when a reading option is given for data it does not apply to (it would be
    recorded in the result as if it had been applied)."""
    given = [option for option, value in (("corruption= (--data-corruption)", corruption),
                                          ("severity= (--data-severity)", severity),
                                          ("image_size= (--image-size)", image_size)) if value is not None]
    if given:
        raise DataError(f"{source} is {kind}: {' and '.join(given)} do not apply to it (corruption and severity "
                        f"select a block of a *-C folder, the image size resizes image folders)")


def read_path(path: Path, split: str, corruption: str | None = None, severity: int | None = None,
              image_size: int | None = None, trust: bool = False) -> ArrayDataset | ImageFolder:
    """Read the `split` of a dataset from a file or folder, detecting its format; a dataset
    without that split is a `DataError` (an unsplit file or folder has only the split 'all').
    `corruption`/`severity`/`image_size` given for data they do not apply to are refused;
    `trust` allows CIFAR pickles that are not plain data."""
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    name = path.name.lower()
    if path.is_file():
        refuse_block_options(path, "a file", corruption, severity, image_size)
        if name.endswith(".npz"):
            return read_npz(path, split)
        if name.endswith(".pt") or name.endswith(".pth"):
            return read_pt(path, split)
        if re.search(r"images-idx3-ubyte(\.gz)?$", name):
            if _idx_file_split(name) != split:
                raise missing_split(path, split, [_idx_file_split(name)])
            labels = path.with_name(path.name.replace("images-idx3", "labels-idx1"))
            return read_idx_pair(path, _require(labels))
        raise DataError(f"{path}: unknown dataset file format (expected .npz, .pt or an IDX images file)")
    splits = idx_splits(path)
    if splits:
        refuse_block_options(path, "an IDX folder", corruption, severity, image_size)
        if split not in splits:
            raise missing_split(path, split, splits)
        return read_idx_pair(*cast(tuple[Path, Path], find_idx_pair(path, split)))   # present: `split` is in `splits`
    if (path / "labels.npy").exists():
        refuse_block_options(path, "a *-C folder of .npy arrays", image_size=image_size)
        return read_corrupted_npy(path, corruption, severity, split)
    if any((path / f).exists() for f in ("data_batch_1", "test_batch")) or (path / "meta").exists():
        refuse_block_options(path, "a CIFAR folder", corruption, severity, image_size)
        return read_cifar(path, split, trust=trust)
    if corruption is not None:
        if split != "test":
            raise missing_split(path, split, ["test"])
        folder = path / corruption / str(severity)
        if not folder.is_dir():
            raise DataError(f"{path}: no folder {corruption}/{severity} "
                            f"(ImageNet-C layout <corruption>/<severity>/<class>/<image>)")
        return ImageFolder(folder, size=image_size, info={"corruption": corruption, "severity": severity})
    refuse_block_options(path, "an image folder without corruption blocks", severity=severity)
    return read_image_folders(path, split, image_size)
