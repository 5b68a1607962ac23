"""Checkpoints: save and rebuild models; TorchScript; `package.module:factory` + state dict.

Files are read with `torch.load(weights_only=True)`.  A pickled whole module can run
arbitrary code when loaded, and so can a TorchScript archive (its scripted `__setstate__` and
`forward` may call any TorchScript operator, e.g. `torch.from_file(path, shared=True)`, which
writes files); both are refused unless the caller trusts them.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from probe.errors import CheckpointError
from probe.models.normalize import Normalized
from probe.models.outputs import model_dtype, set_probe_info, unwrap
from probe.models.zoo import ARCHITECTURES, IMAGE_TO_IMAGE

FORMAT = "probe-checkpoint"
FORMAT_VERSION = 1


def build(arch: str, in_channels: int = 1, num_classes: int | None = None, image_size: Sequence[int] = (28, 28),
          mean: Sequence[float] | None = None, std: Sequence[float] | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered architecture: a classifier wrapped in `Normalized` (defaults: 10
    classes, mean 0, std 1), or an image-to-image network as it is (no classes, no normalisation)."""
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"unknown architecture '{arch}' (known: {', '.join(sorted(ARCHITECTURES))})")
    if arch in IMAGE_TO_IMAGE:
        if num_classes is not None or mean is not None or std is not None:
            raise CheckpointError(f"'{arch}' maps images to images: it takes no num_classes and no normalisation")
        arch_kwargs = dict(in_channels=in_channels, image_size=list(image_size), **kwargs)
        model = _construct(arch, arch_kwargs)
    else:
        num_classes = 10 if num_classes is None else num_classes
        mean = [0.0] * in_channels if mean is None else list(mean)
        std = [1.0] * in_channels if std is None else list(std)
        if len(mean) != in_channels or len(std) != in_channels:
            raise CheckpointError(f"normalisation has {len(mean)} means and {len(std)} stds for {in_channels} channels")
        arch_kwargs = dict(in_channels=in_channels, num_classes=num_classes, image_size=list(image_size), **kwargs)
        model = Normalized(_construct(arch, arch_kwargs), mean, std)
    set_probe_info(model, {"arch": arch, "arch_kwargs": arch_kwargs, "meta": {}})
    return model


def _construct(arch: str, kwargs: dict) -> nn.Module:
    """Call the builder of `arch` (image size as a tuple); a bad keyword or value is a `CheckpointError`."""
    try:
        return ARCHITECTURES[arch](**dict(kwargs, image_size=tuple(kwargs["image_size"])))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"cannot build '{arch}' with {kwargs}: {exc}") from None


def save(model: nn.Module, path: str | os.PathLike, arch: str | None = None,
         arch_kwargs: dict | None = None, meta: dict | None = None) -> None:
    """Write a checkpoint: architecture name and kwargs, state dict, normalisation, metadata.

    For a model made by `build`, `arch` and `arch_kwargs` default to what built it.  The
    file is written atomically (temporary name, then rename).
    """
    info = getattr(model, "probe_info", {})
    arch = arch or info.get("arch")
    arch_kwargs = dict(arch_kwargs if arch_kwargs is not None else info.get("arch_kwargs", {}))
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"save needs a registered architecture name, got {arch!r}")
    normalization = {}
    if isinstance(model, Normalized):
        normalization = {"mean": model.mean.flatten().tolist(), "std": model.std.flatten().tolist()}
    payload = {"format": FORMAT, "version": FORMAT_VERSION, "arch": arch, "arch_kwargs": arch_kwargs,
               "normalization": normalization, "meta": dict(meta or info.get("meta", {})),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _is_torchscript(path: Path) -> bool:
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name or name.endswith("constants.pkl") for name in archive.namelist())


def _check_container(path: Path) -> bool:
    """Whether `path` is a zip archive (the modern torch format); a `CheckpointError` for files
    that cannot be a checkpoint at all: empty, text, a truncated archive."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not head:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise CheckpointError(f"{path}: damaged checkpoint archive ({exc})") from None
        if damaged is not None:
            raise CheckpointError(f"{path}: damaged checkpoint archive (member {damaged} fails its checksum)")
        return True
    if head.startswith(b"PK"):
        raise CheckpointError(f"{path}: truncated checkpoint (a zip archive without its directory)")
    if head[:1] != b"\x80":
        raise CheckpointError(f"{path}: not a checkpoint (neither a torch archive nor a pickle)")
    return False


def _unreadable(path: Path, exc: BaseException) -> CheckpointError:
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return CheckpointError(f"{path}: not a readable checkpoint, truncated or corrupt "
                           f"({type(exc).__name__}: {detail[:160]})")


def _read(path: Path, trust: bool, map_location: str | torch.device) -> Any:
    """`torch.load` with `weights_only=True`; a pickle of other objects only with `trust`."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):
            raise _unreadable(path, exc) from None
        if not trust:
            raise CheckpointError(
                f"{path} holds pickled Python objects (e.g. a whole nn.Module), which can run arbitrary code "
                f"when loaded; re-run with --trust-checkpoint (trust=True) only if you trust its source") from None
    except Exception as exc:  # torch raises many types for damaged files; all mean "unreadable"
        raise _unreadable(path, exc) from None
    try:
        return torch.load(path, map_location=map_location, weights_only=False)  # only with trust=True
    except (ImportError, AttributeError) as exc:
        raise CheckpointError(f"{path}: the pickled model needs code that cannot be imported here ({exc}); "
                              f"save a state dict with probe.models.save instead") from None
    except Exception as exc:
        raise _unreadable(path, exc) from None


def _load_state_dict(model: nn.Module, state: dict, source: str) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
             if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatches (e.g. {wrong[0]})")
        raise CheckpointError(f"{source}: weights do not match the architecture: {'; '.join(parts)}")
    model.load_state_dict(state)


def _from_factory(spec: str, state: Any, source: str, arguments: dict | None = None) -> nn.Module:
    module_name, _, function = spec.partition(":")
    if not function:
        raise CheckpointError(f"factory must be 'package.module:function', got '{spec}'")
    try:
        factory = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise CheckpointError(f"cannot import factory '{spec}': {exc}") from None
    try:
        model = factory(**(arguments or {}))
    except TypeError as exc:
        raise CheckpointError(f"factory '{spec}' does not take the arguments {arguments or {}}: {exc}") from None
    except Exception as exc:   # the factory is the user's code: its failure is one line, not a probe bug
        raise CheckpointError(f"factory '{spec}' failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise CheckpointError(f"factory '{spec}' returned a {type(model).__name__}, not a model (torch.nn.Module)")
    if isinstance(state, dict) and state.get("format") == FORMAT:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: expected a state dict for factory '{spec}', got {type(state).__name__}")
    _load_state_dict(model, state, source)
    set_probe_info(model, {"arch": spec, "arch_kwargs": dict(arguments or {}), "meta": {}})
    return model


def load(path: str | os.PathLike, trust: bool = False, factory: str | None = None,
         map_location: str | torch.device = "cpu", factory_args: dict | None = None) -> nn.Module:
    """Rebuild a model in eval mode from a probe checkpoint, a TorchScript archive, or a
    state dict plus `factory` ('package.module:function', called with `factory_args`; e.g.
    `torchvision.models:resnet50` with `{"num_classes": 10}`).

    A pickled whole `nn.Module` and a TorchScript archive are only loaded with `trust=True`.
    `factory_args` without `factory` are refused.  Any file that is not a readable checkpoint
    (empty, text, truncated) is a `CheckpointError`.
    """
    path = Path(path)
    if factory_args and factory is None:
        raise CheckpointError("factory arguments (--factory-arg) are given without a factory (--factory)")
    if not path.is_file():
        raise CheckpointError(f"no such checkpoint: {path}")
    if _check_container(path) and factory is None and _is_torchscript(path):
        if not trust:
            raise CheckpointError(f"{path} is a TorchScript archive, whose code runs when loaded and called (it can "
                                  f"write any file, e.g. through torch.from_file); re-run with --trust-checkpoint "
                                  f"(trust=True) only if you trust its source")
        try:
            model = torch.jit.load(str(path), map_location=map_location)
        except Exception as exc:  # a damaged TorchScript archive
            raise _unreadable(path, exc) from None
        set_probe_info(model, {"arch": "torchscript", "arch_kwargs": {}, "meta": {}})
        return model.eval()
    content = _read(path, trust, map_location)
    if factory is not None:
        return _from_factory(factory, content, str(path), factory_args).to(map_location).eval()
    if isinstance(content, nn.Module):
        set_probe_info(content, {"arch": type(content).__name__, "arch_kwargs": {}, "meta": {}})
        return content.eval()
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CheckpointError(f"{path}: a bare state dict has no architecture; save it with probe.models.save "
                              f"or pass --factory package.module:function")
    norm = content.get("normalization") or {}
    model = build(content["arch"], mean=norm.get("mean"), std=norm.get("std"), **content["arch_kwargs"])
    _load_state_dict(model, content["state_dict"], str(path))
    cast(dict[str, Any], model.probe_info)["meta"] = dict(content.get("meta", {}))   # set by `build`
    return model.to(map_location).eval()


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 of the parameters and buffers, in state-dict order (device independent): their raw
    bytes, so that every dtype hashes (bfloat16 has no numpy equivalent); of the user's model
    inside a probe's `Classifier` wrapper."""
    model = unwrap(model)
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def model_name(model: nn.Module) -> str:
    """The architecture name a checkpoint recorded, else the model's class name."""
    model = unwrap(model)
    return str(getattr(model, "probe_info", {}).get("arch", type(model).__name__))


def model_identity(model: nn.Module) -> dict[str, str | int]:
    """What names a model in a result: architecture, SHA-256 of its weights, parameter count."""
    return {"model": model_name(model), "model_sha256": weights_sha256(model),
            "model_parameters": int(sum(p.numel() for p in model.parameters())),
            "model_dtype": str(model_dtype(model)).removeprefix("torch.")}
