"""Models and data as people hold them: TorchScript, output forms, fp16/bf16, tensors, arrays,
datasets of tuples or dicts, class names, input normalisation (issue 23)."""
from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from test_runner import MODEL_PROBES, QUICK_OPTIONS
from torch import nn
from torch.utils.data import Dataset, TensorDataset

import probe
from conftest import messages
from probe import data, memory, models, registry, results
from probe.errors import DataError, ModelError, ParameterError, ProbeWarning

TESTS = Path(__file__).resolve().parent
# the four probes every form of model and data must run through, with quick options
FOUR = {"evaluate": {}, "margins": {"max_iter": 2, "block": 14, "stride": 14}, "sparsefool": {"max_iter": 1},
        "corruptions": {"corruptions": ["gaussian_noise"], "severities": "1"}}
N = 3


def _run(name: str, model: nn.Module, dataset, **extra) -> xr.Dataset:
    return registry.entry(name).load().run(model, dataset, n=N, **FOUR.get(name, {}), **extra)


@pytest.fixture(scope="module")
def reference(lenet_checkpoint):
    """name → the result of probe `name` on the trained LeNet and the held images (computed once)."""
    found: dict[str, xr.Dataset] = {}

    def get(name: str, dataset) -> xr.Dataset:
        if name not in found:
            found[name] = _run(name, models.load(lenet_checkpoint), dataset)
        return found[name]
    return get


# ----------------------------------------------------------------------------- TorchScript

@pytest.fixture(scope="module")
def scripted(tmp_path_factory, lenet_checkpoint):
    path = tmp_path_factory.mktemp("scripted") / "lenet_script.pt"
    torch.jit.script(models.load(lenet_checkpoint)).save(str(path))
    return path


@pytest.mark.parametrize("name", MODEL_PROBES)
def test_every_probe_runs_a_torchscript_model(name, scripted, sample_test):
    model = models.load(scripted, trust=True)
    ds = registry.entry(name).load().run(model, sample_test, n=4, **QUICK_OPTIONS.get(name, {}))
    assert ds.attrs["complete"] and ds.attrs["model"] == "torchscript"
    assert ds.attrs["memory_measure"] == memory.OPERATORS


def test_activation_bytes_of_a_scripted_model_bound_the_hooked_measure(lenet):
    x = torch.rand(1, 1, 28, 28)
    hooked = memory.activation_bytes(lenet, x)
    counted = memory.activation_bytes(torch.jit.script(lenet), x)
    assert memory.measure(lenet) == memory.HOOKS
    assert hooked <= counted <= 2 * hooked


# ----------------------------------------------------------------------------- output forms and dtypes

@dataclasses.dataclass
class Output:
    logits: torch.Tensor


class Outputs(nn.Module):
    """`model`'s logits as a tuple, a list, a dict (under `key`) or an object with `.logits`."""

    def __init__(self, model: nn.Module, kind: str, key: str = "logits") -> None:
        super().__init__()
        self.model, self.kind, self.key = model, kind, key

    def forward(self, x):
        logits = self.model(x)
        if self.kind == "tuple":
            return logits, x.flatten(1)
        if self.kind == "list":
            return [logits]
        if self.kind == "dict":
            return {"features": x.flatten(1), self.key: logits}
        return Output(logits)


KINDS = ["tuple", "list", "dict", "object", "float16", "bfloat16"]


def _model_of(kind: str, lenet: nn.Module) -> nn.Module:
    if kind in ("float16", "bfloat16"):
        return copy.deepcopy(lenet).to(getattr(torch, kind))
    return Outputs(lenet, kind)


@pytest.mark.parametrize("name", FOUR)
@pytest.mark.parametrize("kind", KINDS)
def test_every_output_form_and_dtype_runs_through_the_probes(name, kind, lenet, held, reference):
    x, y = held
    expected = reference(name, data.ArrayDataset(x.numpy(), y.numpy()))
    ds = _run(name, _model_of(kind, lenet), (x, y))
    assert ds.attrs["model_sha256"] == models.weights_sha256(_model_of(kind, lenet))
    assert ds.attrs["data_labels"] == "given"
    assert ds.attrs["model_dtype"] == ("float32" if kind not in ("float16", "bfloat16") else kind)
    if kind in ("float16", "bfloat16"):   # computed in the model's dtype: close to float32, not equal
        assert (ds["label"].values == expected["label"].values).all()
        if "margin" in ds:
            assert ds["margin"].dtype == np.float64 and np.isfinite(ds["margin"].values).any()
    else:
        xr.testing.assert_allclose(ds.drop_vars(["time"], errors="ignore"),
                                   expected.drop_vars(["time"], errors="ignore"))


def test_a_dict_output_under_another_key_needs_output(lenet, sample_test):
    model = Outputs(lenet, "dict", key="scores")
    with pytest.raises(ModelError, match="--output"):
        probe.evaluate.run(model, sample_test, n=N)
    ds = probe.evaluate.run(models.classifier(model, output="scores"), sample_test, n=N)
    assert (ds["prediction"].values == probe.evaluate.run(lenet, sample_test, n=N)["prediction"].values).all()


def test_half_precision_logits_are_accumulated_in_float32(lenet):
    half = models.classifier(copy.deepcopy(lenet).half())
    x = torch.rand(3, 1, 28, 28, requires_grad=True)
    logits = half(x)
    logits.sum().backward()
    assert logits.dtype == torch.float32 and x.grad.dtype == torch.float32


def test_a_model_in_train_mode_is_probed_in_eval_mode_and_restored(lenet, sample_test):
    lenet.train()
    probe.evaluate.run(Outputs(lenet, "tuple"), sample_test, n=N)
    assert lenet.training


# ----------------------------------------------------------------------------- data forms

class TupleItems(Dataset):
    """Items `(uint8 HWC numpy image, numpy label)`, as a user's own dataset might return them."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy(), y.numpy()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class DictItems(TupleItems):
    def __getitem__(self, i):
        return {"image": torch.as_tensor(self.x[i]).permute(2, 0, 1), "label": int(self.y[i])}


@pytest.fixture(scope="module")
def held(sample_test):
    """The first 40 test images and labels as tensors (pixels on the uint8 grid, so every form is exact)."""
    x, y = data.get_batch(sample_test, np.arange(40))
    return (x * 255).round() / 255, y


FORMS = ["tuple-tensors", "tuple-numpy", "uint8-nhwc-numpy", "tensordataset", "tuple-items", "dict-items"]


def _form(kind: str, x: torch.Tensor, y: torch.Tensor):
    if kind == "tuple-tensors":
        return x, y
    if kind == "tuple-numpy":
        return x.numpy(), y.numpy()
    if kind == "uint8-nhwc-numpy":
        return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy(), y.numpy()
    if kind == "tensordataset":
        return TensorDataset(x, y)
    return (TupleItems if kind == "tuple-items" else DictItems)(x, y)


@pytest.mark.parametrize("name", FOUR)
@pytest.mark.parametrize("kind", FORMS)
def test_every_data_form_runs_through_the_probes(name, kind, lenet, held, reference):
    x, y = held
    expected = reference(name, data.ArrayDataset(x.numpy(), y.numpy()))
    ds = _run(name, lenet, _form(kind, x, y))
    xr.testing.assert_allclose(ds.drop_vars(["time"], errors="ignore"),
                               expected.drop_vars(["time"], errors="ignore"))
    assert ds.attrs["data_labels"] == "given"
    if kind.startswith("tuple-") and "items" not in kind or kind in ("uint8-nhwc-numpy", "tensordataset"):
        assert len(ds.attrs["data_sha256"]) == 64 and list(ds.attrs["data_shape"])[0] == 40


def test_a_bare_image_batch_is_labelled_by_the_model(lenet, held):
    x, _ = held
    ds = probe.margins.run(lenet, x, n=N, max_iter=3)
    assert ds.attrs["data_labels"] == "model predictions"
    assert (ds["label"].values == ds["prediction"].values).all()
    assert list(ds.attrs["data_shape"]) == [40, 1, 28, 28] and ds.attrs["data_type"] == "tensor"
    assert probe.evaluate.summary(probe.evaluate.run(lenet, x.numpy(), n=N))["accuracy"] == 100.0


def test_the_data_content_is_part_of_the_resume_identity(lenet, held, tmp_path):
    x, y = held
    out = tmp_path / "e.nc"
    probe.evaluate.run(lenet, (x, y), n=N, out=out)
    other = x.clone()
    other[-1] = 1 - other[-1]   # not among the selected images: only the content hash tells them apart
    with pytest.raises(probe.errors.ResumeError, match="data content"):
        probe.evaluate.run(lenet, (other, y), n=N, out=out, resume=True)


def test_ambiguous_and_malformed_arrays_are_refused_in_one_line(lenet):
    with pytest.raises(DataError, match="channel axis"):
        probe.evaluate.run(lenet, np.zeros((4, 3, 5, 3), dtype=np.float32))
    with pytest.raises(DataError, match="channel axis"):
        probe.evaluate.run(lenet, np.zeros((4, 5, 5, 5), dtype=np.float32))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        probe.evaluate.run(lenet, (np.full((4, 1, 28, 28), 3.0), np.zeros(4, dtype=np.int64)))
    with pytest.raises(DataError, match="integer class"):
        probe.evaluate.run(lenet, (np.zeros((4, 1, 28, 28)), np.zeros(4)))
    with pytest.raises(DataError, match="'label'"):
        probe.evaluate.run(lenet, [{"image": np.zeros((28, 28))}])


# ----------------------------------------------------------------------------- normalisation

def test_parse_normalization():
    assert models.parse_normalization("imagenet") == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert models.parse_normalization("0.5,0.25") == ([0.5], [0.25])
    for bad in ("0.5", "a,b", "0.5,0", "1,2,3"):
        with pytest.raises(ParameterError):
            models.parse_normalization(bad)


def test_normalization_is_recorded_and_part_of_the_identity(lenet, sample_test):
    ds = probe.evaluate.run(lenet, sample_test, n=N)
    assert ds.attrs["input_normalization"] == "mean 0.286 std 0.353"
    assert "before the model's input normalisation" in ds.attrs["pixel_units"]
    raw = lenet.model
    wrapped = models.normalized(raw, "0.286,0.353")
    again = probe.evaluate.run(wrapped, sample_test, n=N)
    assert again.attrs["input_normalization"] == "mean 0.286 std 0.353"
    assert (again["prediction"].values == ds["prediction"].values).all()


@pytest.fixture(scope="module")
def factory_weights(tmp_path_factory, lenet_checkpoint):
    """A LeNet trained on normalised input, saved as a bare state dict (what torchvision, timm or
    RobustBench hand out): it expects `(x − 0.286) / 0.353`."""
    path = tmp_path_factory.mktemp("factory") / "lenet_state.pt"
    torch.save(models.load(lenet_checkpoint).model.state_dict(), path)
    return path


def _command(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=600, env=env)


def test_a_factory_model_expecting_normalised_input_needs_normalize(factory_weights, lenet_checkpoint):
    trained = probe.evaluate.summary(probe.evaluate.run(models.load(lenet_checkpoint), "fashion-mnist-sample"))
    common = ["probe.evaluate", str(factory_weights), "--factory", "zoo_factory:lenet", "--quiet"]
    plain = _command(*common, "--out", str(factory_weights.with_name("plain.nc")))
    assert plain.returncode == 0, plain.stderr
    warnings = [line for line in plain.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "--normalize" in warnings[0], plain.stderr
    names = factory_weights.with_name("classes.txt")
    names.write_text("".join(f"kind {k}\n" for k in range(10)))
    fixed = _command(*common, "--normalize", "0.286,0.353", "--classes", str(names),
                     "--out", str(factory_weights.with_name("fixed.nc")))
    assert fixed.returncode == 0 and "warning:" not in fixed.stderr, fixed.stderr
    without = probe.evaluate.summary(results.load(factory_weights.with_name("plain.nc")))["accuracy"]
    with_ = probe.evaluate.summary(results.load(factory_weights.with_name("fixed.nc")))["accuracy"]
    assert with_ == pytest.approx(trained["accuracy"]) and without < 50 < with_
    assert list(results.load(factory_weights.with_name("fixed.nc")).attrs["class_names"])[3] == "kind 3"


def test_low_accuracy_warns_in_python(lenet, held):
    x, y = held
    with pytest.warns(ProbeWarning, match="--normalize"):
        probe.evaluate.run(lenet, (x, (y + 1) % 10), n=N)


# ----------------------------------------------------------------------------- class names

def test_class_names_travel_into_results(lenet, sample_test, held, tmp_path):
    ds = probe.evaluate.run(lenet, sample_test, n=N)
    assert list(ds.attrs["class_names"])[0] == "T-shirt/top"
    x, y = held
    names = [f"c{k}" for k in range(10)]
    (tmp_path / "classes.txt").write_text("\n".join(names) + "\n")
    for given in (names, tmp_path / "classes.txt"):
        ds = probe.evaluate.run(lenet, data.with_classes((x, y), given), n=N)
        assert list(ds.attrs["class_names"]) == names
    with pytest.raises(DataError, match="3 class names"):
        probe.evaluate.run(lenet, data.with_classes((x, y), ["a", "b", "c"]), n=N)


# ----------------------------------------------------------------------------- zoo recipes (optional extras)

@pytest.mark.parametrize("library, factory, arguments", [
    ("torchvision", "torchvision.models:resnet18", {"num_classes": 10}),
    ("timm", "timm:create_model", {"model_name": "resnet18", "num_classes": 10}),
])
def test_zoo_recipe(library, factory, arguments, tmp_path):
    """The README's recipe: a zoo model's state dict through a factory and a normalisation."""
    zoo = pytest.importorskip(library)
    module_name, _, function = factory.partition(":")
    built = getattr(__import__(module_name, fromlist=[function]), function)(**arguments)
    torch.save(built.state_dict(), tmp_path / "weights.pt")
    model = models.normalized(models.load(tmp_path / "weights.pt", factory=factory, factory_args=arguments), "cifar10")
    x = torch.rand(8, 3, 32, 32)
    ds = probe.evaluate.run(model, x)
    assert zoo is not None and ds.attrs["input_normalization"].startswith("mean 0.4914")


def test_the_report_runs_a_torchscript_model(scripted, sample_test):
    report = probe.report.run(models.load(scripted, trust=True), sample_test, n=8)
    assert report.model.checks and not [s for s in report.model.stages.values() if s.status == "failed"]


def test_normalize_on_a_checkpoint_that_normalises_is_refused(lenet_checkpoint):
    proc = _command("probe.evaluate", str(lenet_checkpoint), "--normalize", "0.5,0.25", "--n", "4")
    assert proc.returncode == 2 and messages(proc.stderr) == [
        f"error: {lenet_checkpoint} already normalises its input (mean 0.286, std 0.353); drop --normalize"]


def test_another_normalisation_is_another_run(lenet, sample_test, tmp_path):
    out = tmp_path / "e.nc"
    probe.evaluate.run(lenet, sample_test, n=N, out=out)
    with pytest.raises(probe.errors.ResumeError, match="input normalisation"):
        probe.evaluate.run(models.normalized(lenet.model, "0.5,0.25"), sample_test, n=N, out=out, resume=True)
