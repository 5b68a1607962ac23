"""Loss flatness around trained weights, and `python -m probe.flatness`.

- **Sphere flatness** F(γ) = E_{‖Δ‖=γ} L(θ + Δ) − L(θ): Δ = γu with u a normalised
  Gaussian over all trainable parameters (or a filter-normalised direction), each u used
  as a ± pair (the pair mean cancels the gradient term), averaged over directions with a
  standard error, on one fixed seeded data subset.
- **Filter-normalised directions**: each filter (first axis of a weight) of a Gaussian
  direction is rescaled to the norm of the matching weight filter, so scale-invariant
  (BN) networks compare fairly; biases and BN parameters are not moved unless asked.
- **Landscape slices** in 1-D and 2-D along filter-normalised directions or towards a
  second checkpoint.
- **Hessian probes** (`probe.hessian`): top eigenvalues, Hutchinson trace, SLQ density.

Everything runs in eval mode with the data batched once on the device; perturbed weights
are written in place and restored by copying the saved tensors (`probe.params.preserved`),
so parameters and BN buffers are bit-identical afterwards.  (Evaluating several perturbed
copies at once with `torch.func.vmap` was about 3× slower on CPU, where it becomes grouped
convolutions; see `analyses/bench_flatness.py`.)
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Callable, Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import cli, hessian, models, results
from probe import params as P
from probe.data import get_batch
from probe.errors import ParameterError
from probe.runner import run_chunked

LossFn = hessian.LossFn
DEFAULT_RADII = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
DEFAULT_RELATIVE_RADII = (0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2)
FLATNESS_STREAM, LANDSCAPE_STREAM = 0, 1


# ----------------------------------------------------------------------------- directions

def direction_generator(seed: int, stream: int, index: int) -> torch.Generator:
    """A CPU generator for direction `index` of `stream`: direction d is the same whatever the count."""
    state = np.random.SeedSequence([seed, stream, index]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & ((1 << 63) - 1))


def sphere_direction(params: Sequence[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """A flat unit vector uniform on the sphere over all `params` (a normalised Gaussian)."""
    total = sum(p.numel() for p in params)
    u = torch.randn(total, generator=generator, dtype=torch.float64)
    return (u / u.norm()).to(params[0].dtype).to(params[0].device)


def filter_normalized_direction(params: Sequence[torch.Tensor], generator: torch.Generator,
                                include_bias_bn: bool = False) -> torch.Tensor:
    """A flat Gaussian direction whose every filter has the norm of the matching weight filter.

    Filters are slices along the first axis of weights with ≥ 2 dimensions.  One-dimensional
    parameters (biases, BN scales and shifts) get zero, or with `include_bias_bn` a Gaussian
    rescaled to the norm of the whole parameter.
    """
    parts = []
    for p in params:
        d = torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p.dtype).to(p.device)
        w = p.detach()
        if P.is_filter_weight(p):
            rows, weight_rows = d.reshape(len(d), -1), w.reshape(len(w), -1)
            scale = weight_rows.norm(dim=1, keepdim=True) / rows.norm(dim=1, keepdim=True).clamp_min(1e-30)
            parts.append((rows * scale).reshape(-1))
        elif include_bias_bn:
            parts.append((d * (w.norm() / d.norm().clamp_min(1e-30))).reshape(-1))
        else:
            parts.append(torch.zeros(p.numel(), device=p.device, dtype=p.dtype))
    return torch.cat(parts)


def make_direction(params: Sequence[torch.Tensor], generator: torch.Generator, filter_norm: bool,
                   include_bias_bn: bool) -> torch.Tensor:
    """Filter-normalised or plain unit-sphere direction, as chosen."""
    if filter_norm:
        return filter_normalized_direction(params, generator, include_bias_bn)
    return sphere_direction(params, generator)


def direction_towards(model: nn.Module, other: nn.Module) -> torch.Tensor:
    """θ_other − θ over the trainable parameters (shapes must match)."""
    mine, theirs = P.trainable(model), P.trainable(other)
    shapes = [tuple(p.shape) for _, p in mine]
    if shapes != [tuple(p.shape) for _, p in theirs]:
        raise ParameterError("--towards: the second checkpoint's parameters do not match the first model's")
    return P.flatten([p for _, p in theirs]).to(mine[0][1].device) - P.flatten([p for _, p in mine])


# ----------------------------------------------------------------------------- loss evaluation

class DataLoss:
    """Mean loss over fixed data (batched once on the device) at parameter vectors written in place.

    Use inside `probe.params.preserved(model)`: calls overwrite the model's parameters.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 256,
                 loss_fn: LossFn = hessian.cross_entropy) -> None:
        if batch_size <= 0:
            raise ParameterError(f"batch size must be positive, got {batch_size}")
        self.model = model
        self.params = [p for _, p in P.trainable(model)]
        self.theta = P.flatten(self.params).clone()
        self.batches = [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        self.n = len(x)
        self.loss_fn = loss_fn

    @torch.no_grad()
    def per_sample(self) -> torch.Tensor:
        """Per-sample losses at the model's current parameters."""
        return torch.cat([self.loss_fn(self.model(xb), yb) for xb, yb in self.batches])

    @torch.no_grad()
    def __call__(self, vector: torch.Tensor | None = None) -> float:
        """Mean loss at `vector` (written into the model), or at the current parameters."""
        if vector is not None:
            P.assign(self.params, vector)
        return float(sum(self.loss_fn(self.model(xb), yb).sum() for xb, yb in self.batches)) / self.n


def _var(dims, values, long_name: str, units: str | None = None) -> tuple:
    attrs = {"long_name": long_name}
    if units is not None:
        attrs["units"] = units
    return dims, values, attrs


def sphere_flatness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, radii: Sequence[float],
                    directions: int = 50, *, filter_norm: bool = False, include_bias_bn: bool = False,
                    seed: int = 0, batch_size: int = 256, loss_fn: LossFn = hessian.cross_entropy,
                    progress: Callable[[int], None] | None = None) -> xr.Dataset:
    """F(γ) over `radii` from `directions` ± pairs, with its standard error over directions.

    Plain: Δ = γu, u uniform on the unit sphere of all trainable parameters (γ in parameter
    units).  Filter-normalised: Δ = γd, d filter-normalised (γ relative to the weights).
    """
    radii = np.asarray(radii, dtype=np.float64)
    if radii.ndim != 1 or len(radii) == 0 or np.any(radii <= 0):
        raise ParameterError("radii must be a non-empty list of positive numbers")
    if directions < 2:
        raise ParameterError(f"need at least 2 directions for a standard error, got {directions}")
    loss = np.empty((len(radii), directions, 2))
    with P.preserved(model):
        evaluate = DataLoss(model, x, y, batch_size=batch_size, loss_fn=loss_fn)
        base = evaluate()
        for d in range(directions):
            u = make_direction(evaluate.params, direction_generator(seed, FLATNESS_STREAM, d), filter_norm,
                               include_bias_bn)
            for r, gamma in enumerate(radii):
                loss[r, d, 0] = evaluate(evaluate.theta + gamma * u)
                loss[r, d, 1] = evaluate(evaluate.theta - gamma * u)
            if progress is not None:
                progress(2 * len(radii))
    change = loss.mean(axis=2) - base
    units = "relative to filter norms" if filter_norm else "parameter-space L2 norm"
    return xr.Dataset(
        {"loss": _var(("radius", "direction", "sign"), loss, "loss at θ ± γu", "nats"),
         "loss_change": _var(("radius", "direction"), change, "(L(θ+γu) + L(θ−γu)) / 2 − L(θ)", "nats"),
         "flatness": _var("radius", change.mean(axis=1), "sphere flatness F(γ)", "nats"),
         "flatness_se": _var("radius", change.std(axis=1, ddof=1) / np.sqrt(directions),
                             "standard error of F(γ) over directions", "nats"),
         "base_loss": _var((), base, "loss at the trained weights L(θ)", "nats")},
        coords={"radius": ("radius", radii, {"long_name": "perturbation radius γ", "units": units}),
                "direction": np.arange(directions), "sign": [1, -1]})


def landscape(model: nn.Module, x: torch.Tensor, y: torch.Tensor, directions: Sequence[torch.Tensor],
              grids: Sequence[np.ndarray], *, batch_size: int = 256, loss_fn: LossFn = hessian.cross_entropy,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Loss at θ + Σ_i a_i d_i over the grid of coefficients (1-D or 2-D), shape of the grids."""
    if len(directions) not in (1, 2) or len(directions) != len(grids):
        raise ParameterError("a landscape needs one or two directions, each with its grid")
    mesh = np.meshgrid(*grids, indexing="ij")
    out = np.empty(mesh[0].shape)
    with P.preserved(model):
        evaluate = DataLoss(model, x, y, batch_size=batch_size, loss_fn=loss_fn)
        for idx in np.ndindex(out.shape):
            point = evaluate.theta.clone()
            for d, coefficients in zip(directions, mesh):
                point += float(coefficients[idx]) * d
            out[idx] = evaluate(point)
            if progress is not None:
                progress(1)
    return out


def hessian_probes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: dict[str, int], *,
                   method: str = "lanczos", max_iter: int = 100, tol: float = 1e-3, density_probes: int = 3,
                   seed: int = 0, batch_size: int = 256, loss_fn: LossFn = hessian.cross_entropy) -> xr.Dataset:
    """Top-k eigenvalues, Hutchinson trace and SLQ density of the loss Hessian (see `probe.hessian`)."""
    if method not in hessian.METHODS:
        raise ParameterError(f"unknown eigenvalue method '{method}' (expected {', '.join(hessian.METHODS)})")
    variables: dict[str, tuple] = {}
    coords: dict[str, np.ndarray] = {}
    with P.preserved(model):
        operator = hessian.HessianOperator(model, x, y, batch_size=batch_size, loss_fn=loss_fn)
        common = dict(seed=seed, device=operator.device, dtype=operator.dtype)
        start = time.perf_counter()
        if "top" in spec:
            eig = hessian.METHODS[method](operator, operator.dim, spec["top"], max_iter=max_iter, tol=tol, **common)
            coords["rank"] = np.arange(1, spec["top"] + 1)
            variables["eigenvalue"] = _var("rank", eig.values, "Hessian eigenvalue (by decreasing |λ|, signed; "
                                           "+inf if not converged)", "nats")
            variables["eigenvalue_converged"] = _var("rank", eig.converged, "eigenvalue converged")
            variables["eigenvalue_residual"] = _var("rank", eig.residuals, "residual ‖Hv − λv‖ bound", "nats")
        if "trace" in spec:
            tr = hessian.hutchinson_trace(operator, operator.dim, spec["trace"], **common)
            variables["trace"] = _var((), tr.trace, "Hessian trace (Hutchinson, Rademacher)", "nats")
            variables["trace_se"] = _var((), tr.standard_error, "standard error of the trace", "nats")
        if "density" in spec:
            dens = hessian.slq_density(operator, operator.dim, spec["density"], density_probes, **common)
            finite = dens.nodes[np.isfinite(dens.nodes)]
            low, high = float(finite.min()), float(finite.max())
            sigma = max(0.01 * (high - low), 1e-6 * max(abs(low), abs(high), 1e-30))
            grid = np.linspace(low - 5 * sigma, high + 5 * sigma, 400)
            coords["spectrum"] = grid
            variables["density"] = _var("spectrum", hessian.smooth_density(dens, grid, sigma),
                                        f"spectral density (SLQ, Gaussian σ = {sigma:.3g})", "1/nats")
            variables["slq_node"] = _var(("slq_vector", "node"), dens.nodes, "Lanczos Ritz value", "nats")
            variables["slq_weight"] = _var(("slq_vector", "node"), dens.weights, "quadrature weight")
        elapsed = time.perf_counter() - start
    variables["parameter_count"] = _var((), operator.dim, "number of parameters the Hessian is over")
    variables["hvp_count"] = _var((), operator.calls, "Hessian-vector products computed")
    variables["seconds_per_hvp"] = _var((), elapsed / max(operator.calls, 1), "time per Hessian-vector product", "s")
    return xr.Dataset(variables, coords=coords)


# ----------------------------------------------------------------------------- the probe

@dataclasses.dataclass
class Settings:
    """What `flatness_probe` computes; the CLI options map onto these fields."""

    radii: tuple[float, ...] | None = None       # None: DEFAULT_RADII (plain) or DEFAULT_RELATIVE_RADII
    directions: int = 50
    filter_norm: bool = False
    include_bias_bn: bool = False
    hessian: str = ""                             # 'top:K,trace[:M],density[:STEPS]'
    eig_method: str = "lanczos"
    max_iter: int = 100
    tol: float = 1e-3
    density_probes: int = 3
    landscape: str | None = None                  # '1d' or '2d'
    alpha_range: tuple[float, float] | None = None  # default (-1, 1); towards a checkpoint (-0.5, 1.5)
    beta_range: tuple[float, float] = (-1.0, 1.0)
    points: int = 21
    seed: int = 0
    batch_size: int = 256

    def resolved_radii(self) -> tuple[float, ...]:
        if self.radii:
            return tuple(float(r) for r in self.radii)
        return DEFAULT_RELATIVE_RADII if self.filter_norm else DEFAULT_RADII

    def evaluations(self) -> int:
        """Loss evaluations the probe will make (for progress bars)."""
        count = 2 * len(self.resolved_radii()) * self.directions if self.directions else 0
        if self.landscape:
            count += self.points ** (2 if self.landscape == "2d" else 1)
        return count


def flatness_probe(model: nn.Module, dataset, indices: np.ndarray, settings: Settings, *,
                   towards: nn.Module | None = None, device: torch.device | str = "cpu",
                   progress: Callable[[int], None] | None = None) -> xr.Dataset:
    """Flatness, Hessian and landscape results on the samples `indices` (one fixed data subset)."""
    s = settings
    if s.landscape not in (None, "1d", "2d"):
        raise ParameterError(f"--landscape must be 1d or 2d, got '{s.landscape}'")
    if s.points < 2:
        raise ParameterError(f"a landscape needs at least 2 points per axis, got {s.points}")
    x, y = get_batch(dataset, indices)
    x, y = x.to(device), y.to(device)
    parts = []
    if s.directions:
        parts.append(sphere_flatness(model, x, y, s.resolved_radii(), s.directions, filter_norm=s.filter_norm,
                                     include_bias_bn=s.include_bias_bn, seed=s.seed, batch_size=s.batch_size,
                                     progress=progress))
    spec = hessian.parse_hessian_spec(s.hessian)
    if spec:
        parts.append(hessian_probes(model, x, y, spec, method=s.eig_method, max_iter=s.max_iter, tol=s.tol,
                                    density_probes=s.density_probes, seed=s.seed, batch_size=s.batch_size))
    if s.landscape:
        parts.append(_landscape_dataset(model, x, y, s, towards, progress))
    with P.preserved(model):
        sample_loss = DataLoss(model, x, y, batch_size=s.batch_size).per_sample().cpu().numpy()
    parts.append(xr.Dataset(
        {"sample_loss": _var("sample", sample_loss.astype(np.float64), "loss at the trained weights", "nats"),
         "label": _var("sample", y.cpu().numpy(), "true class")},
        coords={"sample": np.asarray(indices, dtype=np.int64)}))
    return xr.merge(parts, combine_attrs="override")


def _landscape_dataset(model: nn.Module, x: torch.Tensor, y: torch.Tensor, s: Settings,
                       towards: nn.Module | None, progress: Callable[[int], None] | None) -> xr.Dataset:
    params = [p for _, p in P.trainable(model)]
    random = [filter_normalized_direction(params, direction_generator(s.seed, LANDSCAPE_STREAM, i), s.include_bias_bn)
              for i in range(2)]
    first = direction_towards(model, towards) if towards is not None else random[0]
    alpha_range = s.alpha_range or ((-0.5, 1.5) if towards is not None else (-1.0, 1.0))
    grids = [np.linspace(*alpha_range, s.points)]
    directions = [first]
    if s.landscape == "2d":
        directions.append(random[1])
        grids.append(np.linspace(*s.beta_range, s.points))
    values = landscape(model, x, y, directions, grids, batch_size=s.batch_size, progress=progress)
    name = "towards a second checkpoint (parameters only)" if towards is not None else "filter-normalised"
    coords = {"alpha": ("alpha", grids[0], {"long_name": f"step along direction 1 ({name})"})}
    if s.landscape == "2d":
        coords["beta"] = ("beta", grids[1], {"long_name": "step along direction 2 (filter-normalised)"})
        return xr.Dataset({"landscape_2d": _var(("alpha", "beta"), values, "loss on a 2-D slice", "nats")}, coords)
    return xr.Dataset({"landscape_1d": _var("alpha", values, "loss on a 1-D slice", "nats")}, coords)


# ----------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("python -m probe.flatness",
                             "Loss flatness around the trained weights: sphere Monte Carlo, Hessian spectrum, "
                             "landscape slices.")
    parser.set_defaults(batch_size=256)
    parser.add_argument("--radii", type=float, nargs="+", metavar="R",
                        help=f"perturbation radii (default {' '.join(map(str, DEFAULT_RADII))}; with --filter-norm "
                             f"{' '.join(map(str, DEFAULT_RELATIVE_RADII))})")
    parser.add_argument("--directions", type=int, default=50,
                        help="random directions, each used as a ± pair (0: skip the sweep; default %(default)s)")
    parser.add_argument("--filter-norm", action="store_true", help="filter-normalised directions (radius relative)")
    parser.add_argument("--include-bias-bn", action="store_true",
                        help="also perturb biases and BN parameters in filter-normalised directions")
    parser.add_argument("--hessian", default="", metavar="SPEC",
                        help="comma-separated: top:K (eigenvalues), trace[:M] (Hutchinson vectors), "
                             "density[:STEPS] (SLQ), e.g. top:5,trace,density")
    parser.add_argument("--eig-method", default="lanczos", choices=sorted(hessian.METHODS))
    parser.add_argument("--max-iter", type=int, default=100, help="eigenvalue iterations (default %(default)s)")
    parser.add_argument("--tol", type=float, default=1e-3,
                        help="relative eigenvector residual tolerance (default %(default)s)")
    parser.add_argument("--density-probes", type=int, default=3, help="SLQ probe vectors (default %(default)s)")
    parser.add_argument("--landscape", choices=("1d", "2d"), help="also compute a landscape slice")
    parser.add_argument("--towards", help="second checkpoint: the slice's first direction goes towards its weights")
    parser.add_argument("--alpha-range", type=float, nargs=2, metavar=("LO", "HI"),
                        help="first slice axis (default -1 1; with --towards -0.5 1.5)")
    parser.add_argument("--beta-range", type=float, nargs=2, metavar=("LO", "HI"), default=(-1.0, 1.0))
    parser.add_argument("--points", type=int, default=21, help="grid points per slice axis (default %(default)s)")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    if args.directions < 0 or args.directions == 1:
        raise ParameterError(f"--directions must be 0 or at least 2, got {args.directions}")
    if not args.directions and not args.hessian and not args.landscape:
        raise ParameterError("nothing to compute: --directions 0 without --hessian or --landscape")
    if args.towards and not args.landscape:
        raise ParameterError("--towards needs --landscape 1d or 2d")
    return Settings(radii=tuple(args.radii) if args.radii else None, directions=args.directions,
                    filter_norm=args.filter_norm, include_bias_bn=args.include_bias_bn, hessian=args.hessian,
                    eig_method=args.eig_method, max_iter=args.max_iter, tol=args.tol,
                    density_probes=args.density_probes, landscape=args.landscape,
                    alpha_range=tuple(args.alpha_range) if args.alpha_range else None,
                    beta_range=tuple(args.beta_range), points=args.points, seed=args.seed,
                    batch_size=args.batch_size)


def run(args: argparse.Namespace) -> xr.Dataset:
    settings = settings_from_args(args)
    hessian.parse_hessian_spec(settings.hessian)  # fail on a bad spec before any loading
    device, model, dataset, indices = cli.setup(args)
    towards = None
    parameters = dataclasses.asdict(settings)
    parameters["radii"] = list(settings.resolved_radii())
    if args.towards:
        towards = models.load(args.towards, trust=args.trust_checkpoint, factory=args.factory,
                              map_location=device).eval()
        parameters.update(towards=str(args.towards), towards_sha256=models.weights_sha256(towards))
    attrs = results.provenance("flatness", parameters, model=model, data=args.data, split=args.split,
                               seed=args.seed, device=device)
    bar = cli.progress_bar(settings.evaluations(), "loss evaluations", args.quiet)
    bar.unit = "eval"
    ds = run_chunked(lambda chunk: flatness_probe(model, dataset, chunk, settings, towards=towards, device=device,
                                                  progress=bar.update),
                     indices, attrs, chunk_size=len(indices), out=args.out)
    bar.close()
    if not args.quiet:
        print(summary(ds))
    cli.save_outputs(ds, args)
    return ds


def summary(ds: xr.Dataset) -> str:
    """Short text tables of the flatness curve and the Hessian numbers."""
    blocks = [f"{ds.sizes['sample']} samples, loss at the trained weights "
              f"{float(ds['sample_loss'].mean()):.4f}"]
    if "flatness" in ds:
        rows = [(float(r), float(f), float(se), f"{100 * se / abs(f):.1f}%" if f else "-")
                for r, f, se in zip(ds["radius"].values, ds["flatness"].values, ds["flatness_se"].values)]
        blocks.append(cli.format_table(["radius", "flatness", "std err", "rel"], rows))
    if "eigenvalue" in ds:
        rows = [(int(k), float(v), bool(c)) for k, v, c in
                zip(ds["rank"].values, ds["eigenvalue"].values, ds["eigenvalue_converged"].values)]
        blocks.append(cli.format_table(["rank", "eigenvalue", "converged"], rows))
        if np.any(ds["eigenvalue"].values < 0):
            blocks.append("note: a dominant eigenvalue is negative (the loss curves down along it)")
    if "trace" in ds:
        blocks.append(f"Hessian trace {float(ds['trace']):.5g} ± {float(ds['trace_se']):.2g} (Hutchinson)")
    if "hvp_count" in ds:
        blocks.append(f"{int(ds['hvp_count'])} Hessian-vector products over {int(ds['parameter_count'])} "
                      f"parameters, {1e3 * float(ds['seconds_per_hvp']):.1f} ms each")
    return "\n\n".join(blocks)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_command(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
