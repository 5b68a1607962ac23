"""The one runner every probe uses: samples, device, model checks, chunks, provenance, resume.

A probe's `run(...)` describes its computation and hands it here with the shared execution
options (`probe.execution.Execution`) it was given:

    runner.run("margins", model, data, plan, **execution)

`plan` is a `Plan` (the per-chunk `compute`, the options to record, `finalize`, the memory cost
of a row, the chunk size), or a function making one from the `Context` the runner resolved
(dataset, selected samples, device, first images, activation size, memory budget), so that no
probe resolves data, devices or budgets itself.  `compute(chunk)` gets a `Chunk` (dataset
indices, images and labels on the device, the working-batch cap) and returns an `xr.Dataset`
over `sample`.  The runner

- resolves the data (a dataset or a spec for `probe.data.load`), selects the samples
  (`indices`, or `n` seeded ones, sorted) and moves the model to the device (the model's own
  by default; the data follows it), in eval mode, restored afterwards;
- checks the model before any work: logits of shape (N, K) with K ≥ 2, finite on the first
  images, and the labels of the selected samples in [0, K) (`ModelError` / `DataError`);
- cuts the samples into chunks of a fixed size chosen by the probe (never by the batch size
  or the device, so a result does not depend on them), stores every finished chunk once in a
  folder beside `out` (`OUT.parts/`), and at the end folds them into `out`, so the cost of
  saving grows linearly with the run;
- with `resume=True` continues only the same run: same probe, options, seed, model weights
  (SHA-256), data (spec, split, size, SHA-256 of every selected image and label) and samples;
  anything else is a `ResumeError` naming what differs;
- fills the provenance attributes (`probe.results.provenance`), elapsed time and `complete`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TextIO, cast, overload

import numpy as np
import numpy.typing as npt
import torch
import xarray as xr
from torch import nn
from torch.utils.data import Dataset

from probe import data as datasets
from probe import distributed, memory, ranges, results
from probe import progress as progress_sinks
from probe.data import dataset_size, inputs
from probe.errors import DataError, ModelError, ParameterError, ProbeWarning, ResumeError, ShapeError
from probe.execution import PER_SAMPLE, Execution, Unpack, check, complete
from probe.logits import classify, finite_rows
from probe.models import model_identity, normalization_of, outputs
from probe.params import eval_mode, model_device

DIM = "sample"
CHECK_IMAGES = 8          # images the model check runs on
IDENTITY_FILE = "run.json"
CHUNK_RUN = "run_identity_sha256"   # attribute of a stored chunk: the SHA-256 of its run's identity
ACCURACY_IMAGES = 64      # the first selected images whose accuracy the runner checks (labels known)
LOW_ACCURACY = 50.0       # % on the first selected images below which the runner warns (labels known)
PIXEL_UNITS = "pixels in [0, 1], before the model's input normalisation"
# what a differing identity key means, for the one-line refusal of a resume
IDENTITY_WORDS = {"probe": "probe", "model_sha256": "model weights (SHA-256)", "data": "dataset",
                  "split": "split", "data_size": "dataset size", "data_fingerprint": "dataset images",
                  "samples_sha256": "selected samples (n, seed or indices)", "seed": "seed",
                  "chunk_size": "chunk size", "shard": "shard",
                  "input_normalization": "input normalisation", "data_sha256": "data content (SHA-256)"}


@dataclasses.dataclass
class Chunk:
    """One chunk of samples as a probe's `compute` sees it."""

    indices: np.ndarray        # dataset indices (the `sample` coordinate of the chunk's result)
    x: torch.Tensor            # (n, C, H, W) images in [0, 1] on `device`
    y: torch.Tensor            # (n,) int64 labels on `device`
    batch_size: int            # cap on the working batch of the computation
    device: torch.device
    number: int = 0            # position of the chunk in the run (chunk 0 holds the first selected samples)
    progress: Callable[[float], None] = lambda amount: None   # samples' worth of work done inside the chunk


Compute = Callable[[Chunk], xr.Dataset]
Finalize = Callable[[xr.Dataset], xr.Dataset]


# ----------------------------------------------------------------------------- checks

def check_batch_size(batch_size: int | None) -> None:
    if batch_size is not None and int(batch_size) < 1:
        raise ParameterError(f"the batch size must be a positive integer, got {batch_size}")


def check_output(path: str | os.PathLike | None, suffixes: tuple[str, ...] = (".nc",)) -> None:
    """Fail now, not after the computation, when `path` cannot be written."""
    if path is None:
        return
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ParameterError(f"{path}: the file name must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise ParameterError(f"{path} is a folder, not a file name")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK) or not _can_create_in(folder):
        raise ParameterError(f"cannot write {path}: {folder} is not a writable folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise ParameterError(f"cannot write {path}: the file is read-only")


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in `folder` (tried, then removed): permission bits do not
    tell for root, nor for system folders such as /proc and /sys."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-write-test-"):
            return True
    except OSError:
        return False


def check_model(model: nn.Module, x: torch.Tensor, labels: np.ndarray, indices: np.ndarray) -> int:
    """Run the model on a few images and check the model contract; return the number of classes K."""
    expected = getattr(model, "probe_info", {}).get("arch_kwargs", {})
    if "in_channels" in expected and expected["in_channels"] != x.shape[1]:
        raise ShapeError(f"the model expects {expected['in_channels']}-channel images but the data has "
                         f"{x.shape[1]} channels")
    if "image_size" in expected and list(expected["image_size"]) != list(x.shape[2:]):
        size = "×".join(map(str, expected["image_size"]))
        raise ShapeError(f"the model expects {size} images but the data has {x.shape[2]}×{x.shape[3]} images")
    try:
        with torch.no_grad():
            logits = model(x)
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or ["?"])[0]
        raise ShapeError(f"the model does not accept images of shape {tuple(x.shape[1:])}: {first}") from None
    if not isinstance(logits, torch.Tensor):
        raise ModelError(f"the model must return a tensor of logits, got {type(logits).__name__}")
    if logits.ndim != 2 or logits.shape[0] != len(x):
        raise ModelError(f"the model must return logits of shape (N, K) for N = {len(x)} images, "
                         f"got shape {tuple(logits.shape)}")
    classes = int(logits.shape[1])
    if classes < 2:
        raise ModelError(f"the model returns {classes} output per image; probes need logits for K ≥ 2 classes "
                         f"(a binary classifier must return two logits)")
    finite = finite_rows(logits).cpu().numpy()
    if not finite.all():
        bad = indices[: len(x)][~finite]
        raise ModelError(f"the model returns non-finite logits (NaN or inf) on {len(bad)} of the first {len(x)} "
                         f"images (dataset indices {', '.join(map(str, bad[:5]))})")
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        worst = int(labels.max() if labels.max() >= classes else labels.min())
        raise DataError(f"the data has label {worst} but the model has {classes} classes: labels must lie in "
                        f"[0, {classes})")
    return classes


# ----------------------------------------------------------------------------- the run

@dataclasses.dataclass
class Context:
    """What the runner has resolved before a probe plans its computation (`Prepare`): the
    dataset, the selected samples, the device (the model is on it, checked), the first selected
    images, and, measured when first asked for, the activation size and the memory budget."""

    model: nn.Module
    dataset: Any
    indices: np.ndarray        # the selected dataset indices, in run order
    device: torch.device
    seed: int
    head: tuple[torch.Tensor, torch.Tensor]   # images (CPU, [0, 1]) and labels of the first selected samples
    max_memory: str | int | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images."""
        return cast(tuple[int, int, int], tuple(self.head[0].shape[1:]))

    @functools.cached_property
    def activation_bytes(self) -> int:
        """Activations of the model for one image (`probe.memory.activation_bytes`), in bytes."""
        return memory.activation_bytes(self.model, self.head[0][:1].to(self.device))

    @functools.cached_property
    def memory_budget(self) -> int:
        """Bytes the working batch may use on the device (`probe.memory.budget` of `max_memory`)."""
        return memory.budget(self.device, self.max_memory)


@dataclasses.dataclass
class Plan:
    """A probe's computation as the runner needs it."""

    compute: Compute
    options: dict[str, Any]          # the probe's own options: `param_<name>` attributes, part of the identity
    finalize: Finalize | None = None  # summary variables of the merged result (a pure function of it)
    row_cost: float = 1.0            # memory of one working-batch row, in activations of one image
    chunk_size: int | None = 64      # samples per stored chunk (None: one chunk), never the device's choice
    batch_size: int = 128            # working batch when `batch_size` is not given

    def __post_init__(self) -> None:
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ParameterError(f"chunk size must be positive, got {self.chunk_size}")


Prepare = Callable[[Context], Plan]   # a plan that depends on the data or the device


@dataclasses.dataclass
class _Setup:
    context: Context
    plan: Plan
    attrs: dict[str, Any]
    identity: dict[str, Any]

    @property
    def dataset(self) -> Any:
        return self.context.dataset

    @property
    def indices(self) -> np.ndarray:
        return self.context.indices

    @property
    def device(self) -> torch.device:
        return self.context.device


def resolve_data(data: Any, split: str = "test") -> Dataset:
    """The data as a dataset: a spec string loaded with `probe.data.load` (test split), or any
    form `probe.data.inputs.as_dataset` accepts (datasets, tensors, arrays, `(x, y)` pairs)."""
    if isinstance(data, (str, os.PathLike)):
        return datasets.load(data, split=split)
    return inputs.as_dataset(data)


@overload
def classifier(model: nn.Module) -> nn.Module: ...
@overload
def classifier(model: None) -> None: ...
def classifier(model: nn.Module | None) -> nn.Module | None:
    """The model as probes call it (`probe.models.outputs.Classifier`: float32 logits from any
    output form and dtype); None stays None."""
    return None if model is None else outputs.classifier(model)


def warn_if_inaccurate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Clean accuracy (%) on the images `x` with labels `y`; a `ProbeWarning` below `LOW_ACCURACY`
    naming the most common cause, a missing input normalisation."""
    with torch.no_grad():
        prediction, _ = classify(model(x))
    accuracy = float(100.0 * (prediction.cpu() == y.cpu()).double().mean())
    if accuracy < LOW_ACCURACY:
        warnings.warn(f"clean accuracy on the first {len(x)} selected images is {accuracy:.0f} % (< "
                      f"{LOW_ACCURACY:.0f} %): does the model expect normalised input? pass --normalize "
                      f"(normalize=) with its mean and std", ProbeWarning, stacklevel=3)
    return accuracy


def select(size: int, n: int | None, indices: Collection[int] | np.ndarray | None, seed: int) -> np.ndarray:
    """The dataset indices a run covers: `indices` as given, else `n` seeded ones (all by default)."""
    if indices is None:
        return datasets.subset_indices(size, n, seed)
    chosen = datasets.integral(cast("npt.ArrayLike", indices), "sample indices", ParameterError).reshape(-1)
    if n is not None and n != len(chosen):
        raise ParameterError(f"n = {n} but {len(chosen)} indices were given; pass one or the other")
    if len(chosen) == 0:
        raise ParameterError("no samples selected")
    if chosen.min() < 0 or chosen.max() >= size:
        raise ParameterError(f"sample indices must lie in [0, {size}), got {chosen.min()}..{chosen.max()}")
    if len(np.unique(chosen)) != len(chosen):
        raise ParameterError("sample indices must be distinct")
    return chosen


def _setup(probe: str, model: nn.Module, data: Any, plan: Plan | Prepare, n: int | None,
           indices: Collection[int] | np.ndarray | None, seed: int, device: torch.device | str | None,
           max_memory: str | int | None, shard: tuple[int, int] | None) -> _Setup:
    dataset = resolve_data(data)
    chosen = select(dataset_size(dataset), n, indices, seed)
    device = distributed.start(torch.device(device) if device is not None else model_device(model))
    model.to(device)
    head = chosen[:ACCURACY_IMAGES]
    with eval_mode(model):
        if not inputs.labels_given(dataset):   # a bare image batch: the model's predictions become the labels
            check_model(model, datasets.get_batch(dataset, head[:CHECK_IMAGES])[0].to(device),
                        np.zeros(0, dtype=np.int64), chosen)
            inputs.label_by_model(dataset, model, device)
        x, y = datasets.get_batch(dataset, head)
        labels = datasets.labels_of(dataset, chosen)
        check_model(model, x[:CHECK_IMAGES].to(device), labels, chosen)
        if inputs.labels_given(dataset):
            warn_if_inaccurate(model, x.to(device), y)
    context = Context(model, dataset, chosen, device, seed, (x, y), max_memory)
    if not isinstance(plan, Plan):
        plan = plan(context)
    data_identity = dict(datasets.identity(dataset), **inputs.description(dataset),
                         data_fingerprint=datasets.selection_fingerprint(dataset, chosen))
    normalization = normalization_of(outputs.unwrap(model))
    attrs = results.provenance(probe, plan.options, model_identity=model_identity(model),
                               data_identity=data_identity, seed=seed, samples=len(chosen), device=device)
    attrs.update(input_normalization="none" if normalization is None else
                 f"mean {','.join(f'{v:g}' for v in normalization[0])} "
                 f"std {','.join(f'{v:g}' for v in normalization[1])}",
                 pixel_units=PIXEL_UNITS)
    names = datasets.class_names(dataset)
    if names:
        if len(labels) and int(labels.max()) >= len(names):
            raise DataError(f"{len(names)} class names but the data has label {int(labels.max())}: name every class")
        attrs["class_names"] = names
    identity = {key: attrs[key] for key in ("probe", "model_sha256", "data", "split", "data_size",
                                            "data_fingerprint", "seed", "input_normalization")}
    if "data_sha256" in attrs:
        identity["data_sha256"] = attrs["data_sha256"]
    identity.update({k: v for k, v in attrs.items() if k.startswith(results.PARAMETER_PREFIX)})
    identity["samples_sha256"] = hashlib.sha256(chosen.tobytes()).hexdigest()
    identity["chunk_size"] = int(plan.chunk_size or len(chosen))
    if shard is not None:
        identity["shard"] = f"{shard[0]}/{shard[1]}"
    return _Setup(context, plan, attrs, identity)


def run(probe: str, model: nn.Module, data: Any, plan: Plan | Prepare, **execution: Unpack[Execution]) -> xr.Dataset:
    """Run a probe's `plan` chunk by chunk over the selected samples and return the finished result.

    `plan` is a `Plan`, or a `Prepare` function that makes one from the `Context` the runner
    resolved (data, selected samples, device, first images, activation size) when the plan
    depends on them.  `execution` holds the shared options (`probe.execution.Execution`, which
    documents each).  The working batch is `batch_size` (else the plan's), capped so that
    `plan.row_cost` activations of one image per row fit the memory budget (`max_memory`, see
    `probe.memory`); an out-of-memory error halves it and reruns the chunk.  Under torchrun the
    chunks are shared among the ranks (`out` is needed: they meet in `OUT.parts/`);
    `shard='I/N'` computes only the chunks c with c mod N = I into a shard file for `probe.merge`.
    `progress` counts samples; a probe's `compute` reports work inside a chunk through
    `chunk.progress`, the rest of the chunk is counted when it is finished.  See the module
    docstring for the rest.
    """
    settings = check(run, execution)
    check_batch_size(settings["batch_size"])
    ranges.check(seed=(settings["seed"], ranges.SEED), n=(settings["n"], ranges.integer(1)))
    out = settings["out"]
    check_output(out)
    shard = distributed.parse_shard(settings["shard"])
    if model is None:
        raise ModelError(f"probe '{probe}' needs a model")
    model = classifier(model)
    device = settings["device"]
    device = distributed.start(torch.device(device) if device is not None else model_device(model))
    rank, ranks = distributed.world()
    if out is None and (shard is not None or ranks > 1):
        raise ParameterError("a sharded or multi-process run needs a result file (out=, --out): its parts meet there")
    with RunLock(out) if out is not None and rank == 0 else contextlib.nullcontext():   # rank 0 speaks for all
        return _run(probe, model, data, plan, dict(settings, device=device, shard=shard))


def _run(probe: str, model: nn.Module, data: Any, plan: Plan | Prepare, settings: dict[str, Any]) -> xr.Dataset:
    """`run` once its arguments are checked and, with `out`, its lock is held."""
    rank, ranks = distributed.world()
    out, shard, progress = settings["out"], settings["shard"], settings["progress"]
    setup = _setup(probe, model, data, plan, settings["n"], settings["indices"], settings["seed"],
                   settings["device"], settings["max_memory"], shard)
    size = int(setup.identity["chunk_size"])
    chunks = [setup.indices[i:i + size] for i in range(0, len(setup.indices), size)]
    ours = [c for c in range(len(chunks)) if shard is None or c % shard[1] == shard[0]]
    store = ChunkStore(out, setup.identity, chunks) if out is not None else None
    if store is not None:
        finished = store.open(settings["resume"]) if rank == 0 else None
        distributed.barrier()
        if rank != 0 and not store.folder.is_dir():
            finished = results.load(out)   # rank 0 found this run complete in `out`
        if finished is not None:
            return finished
    cap = _working_batch(setup, settings["batch_size"] or setup.plan.batch_size)
    setup.attrs.update(batch_size=cap)
    compute = setup.plan.compute
    in_memory: list[xr.Dataset] = []
    sink = progress_sinks.resolve(progress, probe, sum(len(chunks[c]) for c in ours[rank::ranks]))
    with eval_mode(model):
        for number in ours[rank::ranks]:
            if store is not None and store.has(number):
                sink.update(len(chunks[number]))
                continue
            part, cap, reported = _compute_chunk(compute, setup, chunks[number], number, cap, sink)
            if store is not None:
                store.write(number, part)
            else:
                in_memory.append(part)
            sink.update(len(chunks[number]) - reported)           # the chunk is finished once it is stored
        if sink is not progress:
            sink.close()
        distributed.barrier()
        if rank != 0:
            distributed.barrier()
            return results.load(out)
        parts = store.read(ours) if store is not None else in_memory
        if shard is not None and not ours:   # more shards than chunks: a legal shard without samples
            first, _, _ = _compute_chunk(compute, setup, chunks[0][:1], 0, cap, progress_sinks.Callback(None))
            parts = [first.isel({DIM: slice(0, 0)})]
        if shard is not None:
            attrs = dict(setup.attrs, shard=f"{shard[0]}/{shard[1]}", shard_chunks=ours,
                         samples_sha256=setup.identity["samples_sha256"], chunk_size=size)
            ds = fold(parts, attrs, None, out, store)
        else:
            ds = fold(parts, setup.attrs, setup.plan.finalize, out, store)
        distributed.barrier()
        return ds


def _working_batch(setup: _Setup, requested: int) -> int:
    """The requested working batch, capped by the memory budget of the device."""
    context = setup.context
    row_bytes = setup.plan.row_cost * context.activation_bytes
    setup.attrs.update(memory_budget=int(context.memory_budget), memory_measure=memory.measure(context.model))
    return memory.working_batch(context.memory_budget, row_bytes, int(requested))


def _compute_chunk(compute: Compute, setup: _Setup, indices: np.ndarray, number: int,
                   cap: int, sink: progress_sinks.Sink) -> tuple[xr.Dataset, int, float]:
    """`compute` on one chunk; on an out-of-memory error, again with half the working batch.
    Returns the result, the working batch that worked (kept for the next chunks) and the work
    reported to `sink` inside the chunk (at most its samples; the caller adds the rest once the
    chunk is stored)."""
    start = time.perf_counter()
    x, y = datasets.get_batch(setup.dataset, indices)
    x, y = x.to(setup.device), y.to(setup.device)
    reported = 0.0

    def advance(amount: float) -> None:
        nonlocal reported
        amount = min(amount, len(indices) - reported)
        reported += amount
        sink.update(amount)

    while True:
        try:
            part = compute(Chunk(indices, x, y, cap, setup.device, number, advance))
            break
        except Exception as error:  # only the allocator's failure is handled here
            if not memory.is_out_of_memory(error) or cap == 1:
                raise
            cap = max(1, cap // 2)
            if setup.device.type == "cuda":
                torch.cuda.empty_cache()
    part.attrs["elapsed_seconds"] = time.perf_counter() - start
    return part, cap, reported


def run_once(probe: str, compute: Callable[[], xr.Dataset], *, options: dict[str, Any],
             model: nn.Module | None = None, data_identity: dict[str, Any] | None = None,
             **execution: Unpack[Execution]) -> xr.Dataset:
    """A probe without dataset samples (`overlap`): one computation, the same provenance and saving.
    Of the execution options it takes `seed`, `device` (both recorded) and `out`."""
    settings = complete(check(run_once, execution, excluded=PER_SAMPLE))
    out = settings["out"]
    check_output(out)
    start = time.perf_counter()
    ds = compute()
    ds.attrs["elapsed_seconds"] = time.perf_counter() - start
    attrs = results.provenance(probe, options, model_identity=model_identity(model) if model is not None else None,
                               data_identity=data_identity, seed=settings["seed"], device=settings["device"] or "cpu")
    if out is not None:
        results.remove_stale_temporaries(out)
    return fold([ds], attrs, None, out, None)


def fold(parts: list[xr.Dataset], attrs: dict[str, Any], finalize: Finalize | None,
            out: str | os.PathLike | None, store: ChunkStore | None = None) -> xr.Dataset:
    """Concatenate finished chunks (in order) into one result, `finalize` it, attach the
    provenance `attrs` with `complete` and the summed elapsed time, save it to `out`."""
    elapsed = sum(float(p.attrs.get("elapsed_seconds", 0.0)) for p in parts)
    start = time.perf_counter()
    ds = parts[0] if len(parts) == 1 else xr.concat(parts, dim=DIM, data_vars="minimal", coords="minimal",
                                                      compat="override", join="outer", combine_attrs="override")
    ds.attrs = {**{k: v for k, v in ds.attrs.items() if k != "elapsed_seconds"}, **attrs}
    if finalize is not None:
        ds = finalize(ds)   # it may read the options from the provenance attributes
    ds.attrs.update(complete=True, elapsed_seconds=elapsed + time.perf_counter() - start)
    if out is not None:
        results.save(ds, out)
    if store is not None:
        store.remove()
    return ds


# ----------------------------------------------------------------------------- storage of chunks

class RunLock:
    """One run at a time per result file: an OS lock (`fcntl.flock`) on `OUT.lock`, held while
    the run lasts.

    The operating system releases the lock when its process ends, killed or crashed included,
    so a stale lock file never blocks a later run.  The file names its owner (PID, host, start
    time) for the one-line refusal of a second run.
    """

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)
        self.path = self.out.with_name(self.out.name + ".lock")
        self.handle: TextIO | None = None   # the locked file, from `__enter__`

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                owner = handle.read().strip() or "a run that is starting"
                handle.close()
                raise ParameterError(f"{self.out} is being written by another run ({owner}; lock {self.path}); "
                                     f"wait for it to end or choose another result file") from None
            try:   # the run that just ended may have removed the file: lock the one that is there now
                current = os.fstat(handle.fileno()).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            handle.close()
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        handle.seek(0)
        handle.truncate()
        handle.write(f"PID {os.getpid()} on {socket.gethostname()}, started {started}\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.path.unlink(missing_ok=True)   # while still locked: a waiting run then locks a new file
        cast(TextIO, self.handle).close()   # set: `__exit__` follows a successful `__enter__`


class ChunkStore:
    """Finished chunks of a run in `OUT.parts/`: one netCDF file each, holding its sample indices
    (the `sample` coordinate) and the SHA-256 of the run's identity (`CHUNK_RUN` attribute),
    plus the run's identity itself (`run.json`).  A resumed run adopts a chunk only when both
    are this run's."""

    def __init__(self, out: str | os.PathLike, identity: dict[str, Any],
                 chunks: list[np.ndarray] | None = None) -> None:
        self.out = Path(out)
        self.folder = self.out.with_name(self.out.name + ".parts")
        self.identity = identity
        self.identity_sha256 = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        self.chunks = chunks or []

    def open(self, resume: bool) -> xr.Dataset | None:
        """Prepare for writing; with `resume`, check the saved run is this run and every stored
        chunk is one of its chunks.  Returns the finished result when `out` already holds this
        run, complete."""
        results.remove_stale_temporaries(self.out)
        description = self.folder / IDENTITY_FILE
        if not resume:
            self.remove()
        elif self.folder.is_dir() and description.is_file():
            try:
                saved = json.loads(description.read_text())
            except (ValueError, OSError) as exc:
                raise ResumeError(f"cannot resume: {description} is unreadable ({exc}); remove {self.folder} or run "
                                  f"without resume") from None
            self._compare(saved, f"{self.folder}")
            for stale in self.folder.glob(".*tmp*"):
                stale.unlink(missing_ok=True)
            self._check_chunks()
            return None
        elif self.count():
            raise ResumeError(f"cannot resume: {self.folder} holds chunks but not its run description "
                              f"({IDENTITY_FILE}),"
                              f" so nothing says which run made them; remove it or run without resume")
        elif self.out.is_file():
            done = results.load(self.out)
            saved = {key: value for key, value in done.attrs.items()
                     if key in IDENTITY_WORDS or key.startswith(results.PARAMETER_PREFIX)}
            saved.setdefault("samples_sha256", hashlib.sha256(   # a shard file records its run's samples
                np.asarray(done[DIM].values, dtype=np.int64).tobytes()).hexdigest())
            saved["chunk_size"] = self.identity["chunk_size"]
            self._compare(saved, str(self.out))
            if done.attrs.get("complete"):
                return done
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = results.temporary_path(description)
        temporary.write_text(json.dumps(self.identity, indent=1))
        os.replace(temporary, description)
        return None

    def _check_chunks(self) -> None:
        """Refuse (naming it) a stored chunk that another run made or that holds other samples."""
        for path in sorted(self.folder.glob("chunk-*.nc")):
            digits = path.stem[len("chunk-"):]
            number = int(digits) if digits.isdigit() else len(self.chunks)   # a name no chunk of a run has
            try:
                part = results.load(path)
            except DataError as exc:
                raise ResumeError(f"cannot resume: chunk {path} is unreadable ({exc})") from None
            if part.attrs.get(CHUNK_RUN) != self.identity_sha256:
                raise ResumeError(f"cannot resume: chunk {path} was made by another run (its run identity differs); "
                                  f"remove {self.folder} or run without resume")
            if number >= len(self.chunks) or not np.array_equal(part[DIM].values, self.chunks[number]):
                raise ResumeError(f"cannot resume: chunk {path} does not hold this run's samples of chunk {number}; "
                                  f"remove {self.folder} or run without resume")

    def _compare(self, saved: dict[str, Any], where: str) -> None:
        differing = [key for key in sorted(set(saved) | set(self.identity)) if saved.get(key) != self.identity.get(key)]
        if not differing:
            return
        words = []
        for key in differing[:3]:
            if key.startswith(results.PARAMETER_PREFIX):
                words.append(f"{key[len(results.PARAMETER_PREFIX):]} {saved.get(key)!r} → {self.identity.get(key)!r}")
            else:
                words.append(IDENTITY_WORDS.get(key, key))
        raise ResumeError(f"cannot resume: {where} was made by a different run ({'; '.join(words)} differ); "
                          f"remove it or run without resume")

    def path(self, number: int) -> Path:
        return self.folder / f"chunk-{number:06d}.nc"

    def has(self, number: int) -> bool:
        return self.path(number).is_file()

    def write(self, number: int, part: xr.Dataset) -> None:
        part.attrs[CHUNK_RUN] = self.identity_sha256
        results.save(part, self.path(number))

    def read(self, numbers: list[int]) -> list[xr.Dataset]:
        parts = [results.load(self.path(number)) for number in numbers]
        for part in parts:
            part.attrs.pop(CHUNK_RUN, None)
        return parts

    def count(self) -> int:
        """Finished chunks on disk (0 when the folder does not exist)."""
        return len(list(self.folder.glob("chunk-*.nc"))) if self.folder.is_dir() else 0

    def remove(self) -> None:
        if self.folder.exists():
            shutil.rmtree(self.folder)


def finished_chunks(out: str | os.PathLike) -> int:
    """How many chunks of an interrupted run are stored beside `out` (for messages)."""
    return ChunkStore(out, {}).count()
