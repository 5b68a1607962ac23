"""The T2 transition analysis (thesis Fig. 4.10) on a tiny setting: several seeds per ε, a model is
measured only when it fits its training set, `--only-unfit` retries only the ε where no seed fits,
and the assembled `t2.nc` records per ε the seeds tried, which fit and the fitted ones' margins."""
from __future__ import annotations

import numpy as np

from analyses import t2_transition
from probe import results

# D = 10, 512 training samples, 12 epochs (48 steps), He-normal initialisation (PyTorch's default makes
# the 10-layer MLP wait for dozens of steps before it learns), the thesis' depth of 10 at width 64
# instead of 500 (test speed; the behaviour checked needs no more width): at ε = 8 the classes are separated along u1 by
# a gap of 8 (σ = 1 noise elsewhere), which the MLP learns at once; at ε = 0 only the comb along u2
# (12 alternating clusters, ρ = 20) separates them, which 48 steps cannot learn
TINY = ["--dim", "10", "--train-n", "512", "--test-n", "24", "--epochs", "12", "--max-iter", "30", "--init", "he",
        "--width", "64", "--depth", "10"]


def test_seeds_that_fit_are_measured_and_only_unfit_eps_are_retried(tmp_path, capsys):
    t2_transition.main(["--out", str(tmp_path), "--epsilons", "0", "8", "--seeds", "0", "1", *TINY])
    stdout = capsys.readouterr().out
    first = results.load(tmp_path / "t2.nc")
    assert first["tried"].values.all()
    assert first["fits"].values.tolist() == [[False, False], [True, True]]       # ε = 0, 8 × seeds 0, 1
    assert (first["measured"] == first["fits"]).all()
    assert np.isnan(first["margin_refined"].sel(epsilon=0.0).values).all()
    fitted = first.sel(epsilon=8.0)
    assert (fitted["train_accuracy"] >= 99).all() and (first["train_accuracy"].sel(epsilon=0.0) < 99).all()
    # both seeds' 24 test samples; along u1 a model that separates the classes puts its boundary
    # between the class means ±ε/2, so the median distance lies near ε/2 = 4 (exactly 4 for the
    # ideal classifier, whose boundary is the midplane)
    assert fitted["median_samples"].values.tolist() == [48, 48]
    u1 = fitted.sel(subspace="u1")
    assert 0 < float(u1["median_margin_low"]) < 4 < float(u1["median_margin_high"]) < 8
    assert np.isinf(first["median_margin"].sel(epsilon=0.0)).all()
    assert first["fit_fraction"].values.tolist() == [0.0, 1.0]
    assert "0/2" in stdout and "2/2" in stdout and (tmp_path / "t2_transition.pdf").is_file()

    kept = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("eps_*_seed_*")}
    t2_transition.main(["--out", str(tmp_path), "--epsilons", "0", "8", "--seeds", "2", "--only-unfit", *TINY])
    assert "ε = 8: seed(s) [0, 1] fit already, skipped" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("eps_*_seed_*") if p.name in kept} == kept
    second = results.load(tmp_path / "t2.nc")
    assert second["seed"].values.tolist() == [0, 1, 2]
    assert second["tried"].values.tolist() == [[True, True, True], [True, True, False]]
    assert np.isnan(second["train_accuracy"].sel(epsilon=8.0, seed=2))
    assert second["seeds_tried"].values.tolist() == [3, 2]
    np.testing.assert_array_equal(second["margin_refined"].sel(epsilon=8.0, seed=[0, 1]),
                                  first["margin_refined"].sel(epsilon=8.0))
