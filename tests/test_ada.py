"""AdA and DeepAugment: the feasible set, untouched weights, per-image batching, ν = 0, the probe's
robust accuracy, augmentation composition and refusals."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import probe
from conftest import messages, run_command
from probe import models, results, seeding
from probe.attacks.ada import ada_attack, block_radii, corrupt, zero_offsets
from probe.augment import parse_augment, parse_augments
from probe.augment.adversarial import parse_adversarial
from probe.augment.deepaugment import DeepAugment
from probe.commands import probe_main
from probe.commands.train import main as train_main
from probe.data import get_batch
from probe.errors import ParameterError, ShapeError
from probe.params import parameter_blocks
from probe.ssim import ssim

RADII = [0.0, 0.0075, 0.015, 0.03]


@pytest.fixture()
def net(corruption_net_checkpoint):
    return models.load(corruption_net_checkpoint)


@pytest.fixture(scope="module")
def probed(lenet_checkpoint, corruption_net_checkpoint):
    """The probe on 64 test images of the embedded sample at four radii (5 steps, to stay quick)."""
    return probe.adversarial_corruptions.run(models.load(lenet_checkpoint), "fashion-mnist-sample", n=64,
                                             corruption_net=models.load(corruption_net_checkpoint), radius=RADII,
                                             steps=5)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def _identical(module: torch.nn.Module, saved: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(saved[k], v) for k, v in module.state_dict().items())


def test_every_block_stays_in_its_ball_after_every_step(lenet, net, sample_test):
    x, y = get_batch(sample_test, range(6))
    radii = block_radii(parameter_blocks(net), 0.03)
    seen = []

    def check(step, offsets):
        for name, beta in offsets.items():
            norms = beta.flatten(1).norm(dim=1)
            assert (norms <= radii[name] * (1 + 1e-5)).all(), (step, name, norms.max() / radii[name])
        seen.append(step)
    with probe.params.eval_mode(lenet):
        result = ada_attack(lenet, net, x, y, nu=0.03, steps=5, generator=torch.Generator().manual_seed(0),
                            on_step=check)
    assert seen == list(range(6))
    on_sphere = [(result.offsets[n].flatten(1).norm(dim=1) / radii[n]).min() for n in radii if radii[n] > 0]
    assert min(on_sphere) > 0.99   # sign steps are large: every block ends on its sphere


def test_the_attack_raises_the_loss_and_the_guard_holds(lenet, net, sample_test):
    x, y = get_batch(sample_test, range(16))
    with probe.params.eval_mode(lenet):
        start = ada_attack(lenet, net, x, y, nu=0.03, steps=0, generator=torch.Generator().manual_seed(0))
        attacked = ada_attack(lenet, net, x, y, nu=0.03, steps=10, generator=torch.Generator().manual_seed(0))
    assert (attacked.loss > start.loss).float().mean() >= 0.9 and attacked.loss.mean() > 1.3 * start.loss.mean()
    assert (attacked.ssim_after >= 0.3 - 0.02).all() and (attacked.images >= 0).all() and (attacked.images <= 1).all()
    torch.testing.assert_close(attacked.ssim_after, ssim(x, attacked.images))


def test_batch_attack_equals_each_image_alone(lenet, net, sample_test):
    indices = np.arange(5)
    x, y = get_batch(sample_test, indices)

    def attack(rows):
        generators = [seeding.generator(0, int(i), "test") for i in indices[rows]]
        return ada_attack(lenet, net, x[rows], y[rows], nu=0.03, steps=4, generators=generators)
    with probe.params.eval_mode(lenet):
        batch = attack(slice(None))
        alone = [attack(slice(i, i + 1)) for i in range(len(indices))]
    torch.testing.assert_close(torch.cat([a.images for a in alone]), batch.images, rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.cat([a.loss for a in alone]), batch.loss, rtol=1e-5, atol=1e-5)
    for name, beta in batch.offsets.items():
        torch.testing.assert_close(torch.cat([a.offsets[name] for a in alone]), beta, rtol=0, atol=1e-7)


def test_nu_zero_is_exactly_the_reconstruction(probed):
    at_zero = probed.sel(nu=0.0)
    assert np.array_equal(at_zero["prediction"].values, probed["reconstruction_prediction"].values)
    assert np.array_equal(at_zero["correct"].values, probed["reconstruction_correct"].values)
    assert not at_zero["guard_fired"].any()
    np.testing.assert_array_equal(at_zero["ssim"].values, probed["reconstruction_ssim"].values)


def test_robust_accuracy_falls_as_the_radius_grows(probed):
    accuracy = probed["robust_accuracy"].values
    one_sample = 100.0 / probed.sizes["sample"]
    assert all(b <= a + one_sample + 1e-9 for a, b in zip(accuracy, accuracy[1:])), accuracy
    assert accuracy[-1] <= accuracy[0] - 5, accuracy
    numbers = probe.adversarial_corruptions.summary(probed)
    assert numbers["robust_accuracy_nu_0_03"] == pytest.approx(accuracy[-1])
    assert numbers["median_ssim_nu_0"] > numbers["median_ssim_nu_0_03"]
    assert probed["example_corrupted"].sizes == {"example": 4, "nu": 4, "channel": 1, "row": 28, "col": 28}


def test_the_probe_leaves_both_networks_bit_identical(lenet, net, sample_test):
    saved_model, saved_net = _state(lenet), _state(net)
    probe.adversarial_corruptions.run(lenet, sample_test, n=8, corruption_net=net, radius=[0.03], steps=3)
    assert _identical(lenet, saved_model) and _identical(net, saved_net)
    assert all(p.grad is None for p in [*lenet.parameters(), *net.parameters()])


def test_an_ada_training_step_leaves_both_networks_bit_identical(lenet, corruption_net_checkpoint, sample_train):
    x, y = get_batch(sample_train, range(16))
    ada = parse_augment(f"ada:net={corruption_net_checkpoint},nu=0.03,steps=3")
    lenet.train()
    saved_model, saved_net = _state(lenet), _state(ada.net)
    images, targets = ada.images(lenet, x, y, torch.Generator().manual_seed(0))
    assert lenet.training and _identical(lenet, saved_model) and _identical(ada.net, saved_net)
    assert all(p.grad is None for p in [*lenet.parameters(), *ada.net.parameters()])
    assert torch.equal(targets, y) and not torch.equal(images, x)
    loss, _ = ada.loss(lenet, x, y, torch.Generator().manual_seed(0))
    loss.backward()
    assert all(p.grad is not None for p in lenet.parameters()) and all(p.grad is None for p in ada.net.parameters())


# ----------------------------------------------------------------------------- DeepAugment and composition

def test_deepaugment_at_zero_strength_is_the_reconstruction(net, sample_test):
    x, _ = get_batch(sample_test, range(8))
    phi = parameter_blocks(net)
    out = DeepAugment(net, strength=0.0, p=1.0).augment(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, corrupt(net, phi, zero_offsets(phi, len(x)), x), rtol=0, atol=0)


def test_deepaugment_is_seeded_and_distorts(net, sample_test):
    x, y = get_batch(sample_test, range(32))
    augment = DeepAugment(net, strength=1.0, p=1.0)
    a = augment.augment(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, augment.augment(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, augment.augment(x, torch.Generator().manual_seed(2)))
    similarity = ssim(x, a)
    assert (a >= 0).all() and (a <= 1).all() and similarity.median() < 0.9 and similarity.median() > 0.2
    half, _ = DeepAugment(net, p=0.5).apply(x, y, torch.Generator().manual_seed(0))
    unchanged = (half == x).flatten(1).all(1)
    assert 0 < unchanged.sum() < len(x)
    assert torch.equal(DeepAugment(net, p=0.0).apply(x, y, torch.Generator())[0], x)


def test_augmentations_compose_in_the_published_order(corruption_net_checkpoint, tmp_path):
    folder = tmp_path / "with:colon"       # key=value arguments: paths may hold ':'
    folder.mkdir()
    path = folder / "net.pt"
    path.write_bytes(corruption_net_checkpoint.read_bytes())
    pipeline = parse_augments(["augmix", f"ada:net={path},nu=0.01,steps=2", f"deepaugment:net={path},strength=0.5"])
    assert [stage.name for stage in pipeline.stages] == ["deepaugment", "ada", "augmix"]
    assert pipeline.stages[1].nu == 0.01 and pipeline.stages[0].strength == 0.5 and pipeline.maximises
    assert parse_augments(["lp:L0:0.01"]).name == "lp"


@pytest.mark.parametrize("specs, fragment", [
    (["ada:net=NET", "adversarial:l2:0.5"], "cannot be combined"),
    (["augmix:jsd", "prime"], "JSD"),
    (["augmix", "augmix"], "more than once"),
    (["ada"], "needs net=NET.pt")])
def test_bad_compositions_are_refused(specs, fragment, corruption_net_checkpoint):
    with pytest.raises(ParameterError, match=fragment):
        parse_augments([s.replace("NET", str(corruption_net_checkpoint)) for s in specs])


def test_ada_with_adversarial_training_is_refused(corruption_net_checkpoint, tmp_path, capsys):
    with pytest.raises(ParameterError, match="cannot be combined"):
        parse_adversarial("l2:0.5", inner=parse_augment(f"ada:net={corruption_net_checkpoint}"))
    status = train_main(["--augment", f"ada:net={corruption_net_checkpoint}", "--adversarial", "l2:0.5",
                         "--out", str(tmp_path / "m.pt")])
    lines = messages(capsys.readouterr().err)
    assert status == 2 and len(lines) == 1 and "cannot be combined" in lines[0], lines
    assert not (tmp_path / "m.pt").exists()


def test_train_command_composes_deepaugment_ada_and_augmix(corruption_net_checkpoint, tmp_path):
    out = tmp_path / "m.pt"
    proc = run_command("probe.train", "--epochs", "1", "--n", "64", "--augment", "augmix",
                       "--augment", f"ada:net={corruption_net_checkpoint},steps=1",
                       "--augment", f"deepaugment:net={corruption_net_checkpoint}", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert models.load(out).probe_info["meta"]["augment"].startswith("augmix ada:net=")


# ----------------------------------------------------------------------------- the command

def test_command_writes_result_and_figure(lenet_checkpoint, corruption_net_checkpoint, tmp_path):
    out, figure = tmp_path / "ac.nc", tmp_path / "ac.png"
    proc = run_command("probe.adversarial_corruptions", str(lenet_checkpoint), "--corruption-net",
                       str(corruption_net_checkpoint), "--n", "8", "--radius", "0", "0.02", "--steps", "2",
                       "--out", str(out), "--plot", str(figure))
    assert proc.returncode == 0, proc.stderr
    ds = results.load(out)
    assert dict(ds.sizes)["nu"] == 2 and ds.attrs["param_radius"] == [0.0, 0.02] and figure.stat().st_size > 0
    assert ds.attrs["param_corruption_net_sha256"] == models.weights_sha256(models.load(corruption_net_checkpoint))
    assert "robust acc" in proc.stdout


def test_a_classifier_is_not_a_corruption_network(lenet_checkpoint, lenet, sample_test, capsys):
    with pytest.raises(ShapeError, match="its input's shape"):
        probe.adversarial_corruptions.run(lenet, sample_test, n=4, corruption_net=lenet_checkpoint)
    with pytest.raises(SystemExit) as exited:
        probe_main("adversarial_corruptions", [str(lenet_checkpoint), "--n", "4"])
    assert exited.value.code == 2 and "--corruption-net" in capsys.readouterr().err
