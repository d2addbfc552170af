"""GAN trainer (DCGAN and conditional GAN) for the one training loop.

The project holds two ordinary graphs, ``models.generator`` and ``models.discriminator``, and the
training settings in ``train.gan`` (``GanSpec``). Each ``train_step`` updates the discriminator
once on a real batch (scaled to [-1, 1]) and a fresh fake batch; every ``n_critic``-th step it
also updates the generator. Losses: ``bce`` (the original minimax game), ``nonsaturating``
(the generator maximises log D(G(z)); the default) and ``hinge``. One-sided label smoothing
lowers the real target to ``1 - label_smoothing`` (bce/nonsaturating).

Conditional GANs: a graph's Input with dtype ``long`` receives the class labels, the float Input
the noise (generator) or the images (discriminator), in the graph's Input order.

Sample grids come from fixed noise chosen at setup (seeded) with the generator in eval mode; they
are sent as ``Samples(kind="gan")`` and kept on disk in a bounded timeline
(``run_dir/samples``). ``GanMonitor`` turns the loss trends and the grid's diversity into
plain-language ``Diagnostic`` events (discriminator overpowering, mode collapse, divergence).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..project import GanSpec, OptimizerSpec, Problem, ProjectError
from .events import Diagnostic, Samples
from .gridutil import images_geometry, make_grid, mean_pairwise_distance
from .timeline import Timeline
from .trainer import StepContext, TrainContext

FIXED_NOISE_SEED_OFFSET = 7919  # fixed noise = f(train.seed): same grid noise for the same seed
FD_SAMPLES = 500  # generated samples for the end-of-epoch quality proxy
FD_COMPONENTS = 20  # PCA dimensions for the proxy


# ---------------------------------------------------------------------------------------------
# small helpers shared with the VAE trainer


def make_optimizer(params: Any, spec: OptimizerSpec, where: str) -> torch.optim.Optimizer:
    """An optimizer from an ``OptimizerSpec`` (``where`` names the document path for errors)."""
    params = list(params)
    if not params:
        raise ProjectError([Problem(where, "the model has no trainable parameters to optimise")])
    if spec.name == "sgd":
        if spec.nesterov and spec.momentum <= 0:
            raise ProjectError([Problem(f"{where}.nesterov", "Nesterov momentum needs momentum > 0")])
        return torch.optim.SGD(
            params, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov, weight_decay=spec.weight_decay
        )
    if spec.name == "adam":
        return torch.optim.Adam(params, lr=spec.lr, betas=spec.betas, weight_decay=spec.weight_decay)
    if spec.name == "adamw":
        return torch.optim.AdamW(params, lr=spec.lr, betas=spec.betas, weight_decay=spec.weight_decay)
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=spec.lr, alpha=spec.alpha, momentum=spec.momentum, weight_decay=spec.weight_decay
        )
    raise ProjectError([Problem(f"{where}.name", f"unknown optimizer {spec.name!r}")])  # pragma: no cover


def make_schedule(optimizer: torch.optim.Optimizer, project: Any, ctx: TrainContext) -> Any:
    """The loop's ``LRSchedule`` for ``train.schedule`` (stepped once per training step)."""
    from .optim import LRSchedule

    t = project.train
    spe = ctx.extras.get("steps_per_epoch") if ctx.extras else None
    if not spe:
        bs = max(1, int(project.data.batch_size))
        spe = max(1, math.ceil(len(ctx.data.train_x) / bs))
    return LRSchedule(optimizer, t.schedule, steps_per_epoch=int(spe), epochs=t.epochs, max_steps=t.max_steps)


def warn_if_normalized(ctx: TrainContext) -> None:
    """GANs and VAEs model pixels in [0, 1]: a ``normalize`` augmentation breaks that; say so in the log."""
    extras = ctx.extras or {}
    if extras.get("normalize") is not None and callable(extras.get("log")):
        extras["log"](
            "data.augment has 'normalize': GAN/VAE trainers expect pixels in [0, 1]; remove it for correct samples",
            "warning",
        )


def autocast(device: torch.device, amp_dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for the device when AMP is on, else a no-op context."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def make_scaler(device: torch.device, amp_dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (bf16 and fp32 need none)."""
    enabled = amp_dtype == torch.float16 and device.type in ("cuda", "mps")
    return torch.amp.GradScaler(device.type, enabled=enabled)


def init_dcgan_weights(module: nn.Module, std: float) -> None:
    """DCGAN initialisation: conv/linear weights N(0, std), norm weights N(1, std), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)):
            if getattr(m, "weight", None) is not None:
                nn.init.normal_(m.weight, 1.0, std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


@dataclass(frozen=True)
class InputLayout:
    """Where a graph wants its float (noise/image) and long (label) inputs."""

    float_index: int
    label_index: int | None
    float_shape: tuple[int, ...]
    n_inputs: int
    label_high: int | None = None  # valid labels are < this (from the Embedding it feeds), if known

    def args(self, x: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        out: list[torch.Tensor | None] = [None] * self.n_inputs
        out[self.float_index] = x
        if self.label_index is not None:
            if labels is None:
                raise ValueError("this graph takes class labels, but none were given")
            out[self.label_index] = labels
        return tuple(out)  # type: ignore[arg-type]


def input_layout(module: Any, role: str, conditional: bool) -> InputLayout:
    """Match a compiled graph's Input nodes by dtype: one float input, plus one long input if conditional."""
    dtypes = list(getattr(module, "input_dtypes", ["float"] * len(module.input_shapes)))
    shapes = [tuple(s) for s in module.input_shapes]
    floats = [i for i, d in enumerate(dtypes) if d != "long"]
    longs = [i for i, d in enumerate(dtypes) if d == "long"]
    path = f"models.{role}"
    if len(floats) != 1:
        raise ProjectError([Problem(path, f"the {role} needs exactly one float Input (got {len(floats)})", None, path)])
    if conditional:
        if len(longs) != 1:
            raise ProjectError([
                Problem(path, f"a conditional {role} needs one label Input with dtype long (got {len(longs)})", None, path)
            ])
        if shapes[longs[0]] not in ((), (1,)):
            raise ProjectError([
                Problem(path, f"the {role}'s label Input must have shape [] (one label per sample), got {list(shapes[longs[0]])}", None, path)
            ])
    elif longs:
        raise ProjectError([
            Problem("train.gan.conditional", f"the {role} has a label Input (dtype long): set train.gan.conditional to true")
        ])
    high = None
    if longs:
        highs = getattr(module, "input_high", None)
        if highs is not None:
            high = int(highs[longs[0]])
    return InputLayout(floats[0], longs[0] if longs else None, shapes[floats[0]], len(shapes), high)


def compile_role(project: Any, role: str) -> Any:
    from ..graph import compile_graph

    graphs = project.models or {}
    if role not in graphs:
        raise ProjectError([Problem(f"models.{role}", f"missing: a {project.train.task.upper()} project needs this graph")])
    module, _ = compile_graph(graphs[role], f"models.{role}", blocks=project.blocks)
    return module


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2_sqrt: torch.Tensor) -> float:
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2) given ``cov2_sqrt`` (symmetric PSD root)."""
    m = cov2_sqrt @ cov1 @ cov2_sqrt
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    cov2 = cov2_sqrt @ cov2_sqrt
    d = (mu1 - mu2).pow(2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * tr_sqrt
    return float(d.clamp(min=0))


def _psd_sqrt(c: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh((c + c.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


class PcaFrechet:
    """A cheap stand-in for FID: Fréchet distance in a PCA space of the real images (lower is better)."""

    def __init__(self, real: torch.Tensor, k: int = FD_COMPONENTS):
        x = real.detach().reshape(real.shape[0], -1).double().cpu()
        self.mean = x.mean(0)
        xc = x - self.mean
        k = max(1, min(k, xc.shape[0] - 1, xc.shape[1]))
        _, _, vh = torch.linalg.svd(xc, full_matrices=False)
        self.basis = vh[:k].T.contiguous()  # (D, k)
        z = xc @ self.basis
        self.mu = z.mean(0)
        self.cov_sqrt = _psd_sqrt(torch.cov(z.T).reshape(k, k))

    def __call__(self, fake: torch.Tensor) -> float:
        z = (fake.detach().reshape(fake.shape[0], -1).double().cpu() - self.mean) @ self.basis
        cov = torch.cov(z.T).reshape(self.basis.shape[1], self.basis.shape[1])
        return frechet_distance(z.mean(0), cov, self.mu, self.cov_sqrt)


# ---------------------------------------------------------------------------------------------
# diagnostics (pure Python; deterministic thresholds)


@dataclass
class GanMonitor:
    """Watches synced loss averages and sample diversity; returns each problem once per episode.

    * ``d_overpowering``: the discriminator loss stays below ``d_loss_floor`` for ``patience``
      consecutive observations while the generator loss climbs.
    * ``mode_collapse``: the fixed grid's mean pairwise distance falls below ``collapse_ratio``
      times the real data's, after the grid had been diverse (``>= 2 * collapse_ratio``) or from
      the second epoch on.
    * ``gan_diverged``: a loss became NaN or infinite.
    """

    patience: int = 5
    d_loss_floor: float = 0.05
    g_rise: float = 0.0  # how much g_loss must rise over the streak
    collapse_ratio: float = 0.35
    _streak: list[tuple[float, float]] = field(default_factory=list)
    _d_fired: bool = False
    _collapse_fired: bool = False
    _diverged_fired: bool = False
    peak_ratio: float = 0.0
    last_ratio: float | None = None

    def observe_losses(self, d_loss: float, g_loss: float, global_step: int = 0) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
            if not self._diverged_fired:
                self._diverged_fired = True
                out.append(Diagnostic(
                    code="gan_diverged",
                    message=f"the GAN losses became invalid (d_loss={d_loss}, g_loss={g_loss}): training has diverged",
                    suggestion="lower both learning rates (e.g. 1e-4), keep Adam beta1 at 0.5, or use the hinge loss",
                    severity="error",
                    global_step=global_step,
                ))
            return out
        if d_loss < self.d_loss_floor:
            self._streak.append((d_loss, g_loss))
        else:
            self._streak.clear()
            self._d_fired = False
        if (
            not self._d_fired
            and len(self._streak) >= self.patience
            and self._streak[-1][1] > self._streak[-self.patience][1] + self.g_rise
        ):
            self._d_fired = True
            first, last = self._streak[-self.patience][1], self._streak[-1][1]
            out.append(Diagnostic(
                code="d_overpowering",
                message=(
                    f"the discriminator is winning: its loss is near zero ({d_loss:.3f}) while the generator's "
                    f"loss climbs ({first:.2f} -> {last:.2f}), so the generator gets almost no useful signal"
                ),
                suggestion=(
                    "lower the discriminator's learning rate (train.gan.d_optimizer.lr), add one-sided label "
                    "smoothing (train.gan.label_smoothing 0.1), keep n_critic at 1, or make the discriminator smaller"
                ),
                global_step=global_step,
            ))
        return out

    def observe_diversity(self, gen_div: float, real_div: float, epoch: int, global_step: int = 0) -> list[Diagnostic]:
        if real_div <= 0 or not math.isfinite(gen_div):
            return []
        ratio = gen_div / real_div
        self.last_ratio = ratio
        self.peak_ratio = max(self.peak_ratio, ratio)
        out: list[Diagnostic] = []
        if ratio >= 1.5 * self.collapse_ratio:
            self._collapse_fired = False
        armed = self.peak_ratio >= 2 * self.collapse_ratio or epoch >= 1
        if ratio < self.collapse_ratio and armed and not self._collapse_fired:
            self._collapse_fired = True
            out.append(Diagnostic(
                code="mode_collapse",
                message=(
                    f"possible mode collapse: the generated samples are much less varied than real images "
                    f"(diversity {ratio:.2f}x the real data's); the generator may produce only a few shapes"
                ),
                suggestion=(
                    "lower the learning rates, add label smoothing, try the hinge loss, or restart from an "
                    "earlier checkpoint; a conditional GAN (template cgan) also helps cover every class"
                ),
                global_step=global_step,
            ))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "streak": [list(s) for s in self._streak],
            "d_fired": self._d_fired,
            "collapse_fired": self._collapse_fired,
            "diverged_fired": self._diverged_fired,
            "peak_ratio": self.peak_ratio,
            "last_ratio": self.last_ratio,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._streak = [(float(a), float(b)) for a, b in state.get("streak", [])]
        self._d_fired = bool(state.get("d_fired", False))
        self._collapse_fired = bool(state.get("collapse_fired", False))
        self._diverged_fired = bool(state.get("diverged_fired", False))
        self.peak_ratio = float(state.get("peak_ratio", 0.0))
        last = state.get("last_ratio")
        self.last_ratio = None if last is None else float(last)


@functools.lru_cache(maxsize=64)
def sample_steps(samples_per_epoch: int, steps_per_epoch: int) -> frozenset[int]:
    """The ``samples_per_epoch`` evenly spaced steps (1-based) inside an epoch that get a mid-epoch
    sample grid; the epoch end is not among them (the loop draws one there anyway)."""
    if samples_per_epoch <= 0:
        return frozenset()
    n, total = samples_per_epoch, steps_per_epoch
    return frozenset(round(j * total / (n + 1)) for j in range(1, n + 1)) - {0, total}


# ---------------------------------------------------------------------------------------------
# the trainer


METRICS = ("d_loss", "g_loss", "d_x", "d_gz")


class GanTrainer:
    """Alternating discriminator/generator updates on ``models.generator`` and ``models.discriminator``."""

    name = "gan"
    monitor_default = "fd_pca"

    def __init__(self, project: Any):
        self.project = project
        self.spec: GanSpec = project.train.gan or GanSpec()
        self.monitor = GanMonitor()
        self._pending: list[Diagnostic] = []

    # -- setup -------------------------------------------------------------------------------------
    def setup(self, ctx: TrainContext) -> None:
        spec = self.spec
        self.device = torch.device(ctx.device)
        self.amp_dtype = ctx.amp_dtype
        self.G = compile_role(self.project, "generator").to(self.device)
        self.D = compile_role(self.project, "discriminator").to(self.device)
        self.g_in = input_layout(self.G, "generator", spec.conditional)
        self.d_in = input_layout(self.D, "discriminator", spec.conditional)
        data = ctx.data
        img_shape = tuple(data.train_x.shape[1:])
        if self.g_in.float_shape != (spec.latent_dim,):
            raise ProjectError([Problem(
                "train.gan.latent_dim",
                f"is {spec.latent_dim}, but the generator's noise Input has shape {list(self.g_in.float_shape)}; "
                f"make them agree (e.g. Input shape [{spec.latent_dim}])",
            )])
        g_out = tuple(self.G.output_shape)
        if g_out != img_shape:
            raise ProjectError([Problem(
                "models.generator", f"the generator makes images shaped {list(g_out)}, but the data's images are {list(img_shape)}",
                None, "models.generator",
            )])
        if self.d_in.float_shape != img_shape:
            raise ProjectError([Problem(
                "models.discriminator",
                f"the discriminator's image Input has shape {list(self.d_in.float_shape)}, but the data's images are {list(img_shape)}",
                None, "models.discriminator",
            )])
        if math.prod(self.D.output_shape) != 1:
            raise ProjectError([Problem(
                "models.discriminator",
                f"the discriminator must end in one logit per image (e.g. Linear(1)), got output shape {list(self.D.output_shape)}",
                None, "models.discriminator",
            )])
        self.num_classes = spec.num_classes
        if spec.conditional:
            if data.num_classes > spec.num_classes:
                raise ProjectError([Problem(
                    "train.gan.num_classes", f"is {spec.num_classes}, but the dataset has {data.num_classes} classes"
                )])
            for role, lay in (("generator", self.g_in), ("discriminator", self.d_in)):
                if lay.label_high is not None and lay.label_high < spec.num_classes:
                    raise ProjectError([Problem(
                        f"models.{role}",
                        f"the label Embedding has {lay.label_high} entries, fewer than train.gan.num_classes "
                        f"({spec.num_classes})", None, f"models.{role}",
                    )])
        warn_if_normalized(ctx)
        init_dcgan_weights(self.G, spec.init_std)
        init_dcgan_weights(self.D, spec.init_std)
        self.g_opt = make_optimizer(self.G.parameters(), spec.g_optimizer, "train.gan.g_optimizer")
        self.d_opt = make_optimizer(self.D.parameters(), spec.d_optimizer, "train.gan.d_optimizer")
        self.g_sched = make_schedule(self.g_opt, self.project, ctx)
        self.d_sched = make_schedule(self.d_opt, self.project, ctx)
        self.g_scaler = make_scaler(self.device, self.amp_dtype)
        self.d_scaler = make_scaler(self.device, self.amp_dtype)
        # an exponential moving average of the generator's weights draws the samples (smoother, sharper)
        self.G_ema: nn.Module | None = None
        if spec.ema > 0:
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self._ema_updates = 0

        # fixed noise for the sample grid and for the quality proxy (seeded, independent of the run's RNG)
        gen = torch.Generator().manual_seed(int(self.project.train.seed) + FIXED_NOISE_SEED_OFFSET)
        if spec.conditional:
            self.grid_cols = min(spec.num_classes, 16)
            rows = spec.grid
            self.fixed_labels = torch.arange(self.grid_cols).repeat(rows).to(self.device)
        else:
            self.grid_cols = spec.grid
            rows = spec.grid
            self.fixed_labels = None
        n_grid = rows * self.grid_cols
        self.fixed_noise = torch.randn(n_grid, spec.latent_dim, generator=gen).to(self.device)
        self.eval_noise = torch.randn(FD_SAMPLES, spec.latent_dim, generator=gen).to(self.device)
        self.eval_labels = (torch.arange(FD_SAMPLES) % spec.num_classes).to(self.device) if spec.conditional else None
        # real references: diversity of as many real images as the grid shows, PCA-Fréchet stats
        ref = data.val_x if data.val_x is not None and len(data.val_x) >= 2 else data.train_x
        self.real_div = mean_pairwise_distance(ref[: max(2, n_grid)])
        pca_src = data.val_x if data.val_x is not None and len(data.val_x) >= 200 else data.train_x[:2000]
        self.fd = PcaFrechet(pca_src[:2000]) if len(pca_src) >= 3 else None

        self.timeline = Timeline(Path(ctx.run_dir) / "samples", spec.timeline_max)
        self._step_count = 0
        self._last_g = torch.zeros((), device=self.device)
        self._sums = torch.zeros(len(METRICS), device=self.device)
        self._n = 0
        self._win = torch.zeros(len(METRICS), device=self.device)
        self._win_n = 0
        self._last_global_step = 0

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.G, "discriminator": self.D}

    def current_lr(self) -> float:
        return float(self.g_opt.param_groups[0]["lr"])

    # -- losses ------------------------------------------------------------------------------------
    def _d_loss(self, real_logit: torch.Tensor, fake_logit: torch.Tensor) -> torch.Tensor:
        if self.spec.loss == "hinge":
            return F.relu(1.0 - real_logit).mean() + F.relu(1.0 + fake_logit).mean()
        target = torch.full_like(real_logit, 1.0 - self.spec.label_smoothing)
        return F.binary_cross_entropy_with_logits(real_logit, target) + F.binary_cross_entropy_with_logits(
            fake_logit, torch.zeros_like(fake_logit)
        )

    def _g_loss(self, fake_logit: torch.Tensor) -> torch.Tensor:
        if self.spec.loss == "hinge":
            return -fake_logit.mean()
        if self.spec.loss == "bce":  # minimax: minimise log(1 - D(G(z)))
            return -F.softplus(fake_logit).mean()
        return F.softplus(-fake_logit).mean()  # nonsaturating: -log D(G(z))

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.spec.latent_dim, device=self.device)

    # -- one step ----------------------------------------------------------------------------------
    def train_step(self, batch: tuple[Any, ...], sc: StepContext) -> dict[str, Any]:
        x = batch[0]
        y = batch[1] if len(batch) > 1 else None
        real = x * 2.0 - 1.0
        n = real.shape[0]
        cond = self.spec.conditional
        if cond and y is None:
            raise ValueError("a conditional GAN needs labelled data")
        fake_labels = torch.randint(0, self.num_classes, (n,), device=self.device) if cond else None
        g_step = self._step_count % self.spec.n_critic == self.spec.n_critic - 1
        self._step_count += 1
        z = self._noise(n)

        # discriminator
        with autocast(self.device, self.amp_dtype):
            if g_step:
                fake = self.G(*self.g_in.args(z, fake_labels))
            else:
                with torch.no_grad():
                    fake = self.G(*self.g_in.args(z, fake_labels))
            real_logit = self.D(*self.d_in.args(real, y)).reshape(n).float()
            fake_logit = self.D(*self.d_in.args(fake.detach(), fake_labels)).reshape(n).float()
            d_loss = self._d_loss(real_logit, fake_logit)
        self.d_opt.zero_grad(set_to_none=True)
        self.d_scaler.scale(d_loss).backward()
        self.d_scaler.step(self.d_opt)
        self.d_scaler.update()

        # generator (the discriminator's parameters get gradients here too; they are zeroed next D step)
        if g_step:
            for p in self.D.parameters():
                p.requires_grad_(False)
            with autocast(self.device, self.amp_dtype):
                g_logit = self.D(*self.d_in.args(fake, fake_labels)).reshape(n).float()
                g_loss = self._g_loss(g_logit)
            self.g_opt.zero_grad(set_to_none=True)
            self.g_scaler.scale(g_loss).backward()
            self.g_scaler.step(self.g_opt)
            self.g_scaler.update()
            for p in self.D.parameters():
                p.requires_grad_(True)
            self._last_g = g_loss.detach()
            self._update_ema()
        self.g_sched.step_batch()  # both learning rates follow train.schedule over the training steps
        self.d_sched.step_batch()

        with torch.no_grad():
            logs = torch.stack([
                d_loss.detach(), self._last_g, torch.sigmoid(real_logit).mean(), torch.sigmoid(fake_logit).mean()
            ])
            self._sums += logs
            self._win += logs
        self._n += 1
        self._win_n += 1
        self._last_global_step = sc.global_step + 1
        return {"d_loss": logs[0], "g_loss": logs[1], "d_x": logs[2], "d_gz": logs[3]}

    def _update_ema(self) -> None:
        """EMA of the generator's parameters (decay warms up: min(ema, (1 + k) / (10 + k))); buffers copied."""
        if self.G_ema is None:
            return
        k = self._ema_updates
        decay = min(self.spec.ema, (1.0 + k) / (10.0 + k))
        self._ema_updates += 1
        with torch.no_grad():
            for e, p in zip(self.G_ema.parameters(), self.G.parameters()):
                e.lerp_(p.detach(), 1.0 - decay)
            for e, b in zip(self.G_ema.buffers(), self.G.buffers()):
                e.copy_(b)

    @property
    def sampler(self) -> nn.Module:
        """The generator that draws samples: the EMA copy when ``train.gan.ema`` > 0."""
        return self.G_ema if self.G_ema is not None else self.G

    # -- sampling --------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _eval_g(self) -> Iterator[None]:
        g = self.sampler
        was = g.training
        g.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            g.train(was)

    def generate_fixed(self) -> torch.Tensor:
        """The fixed-noise grid batch in [0, 1] (sampling generator in eval mode)."""
        with self._eval_g(), autocast(self.device, self.amp_dtype):
            out = self.sampler(*self.g_in.args(self.fixed_noise, self.fixed_labels))
        return ((out.float() + 1.0) / 2.0).clamp(0.0, 1.0)

    def wants_samples(self, sc: StepContext) -> bool:
        """True at the ``samples_per_epoch`` evenly spaced steps inside an epoch (the loop then calls samples()).

        The epoch end is not included: the loop calls ``samples`` there anyway.
        """
        return sc.step in sample_steps(self.spec.samples_per_epoch, sc.steps_per_epoch)

    def samples(self, epoch: int, global_step: int) -> list[Samples]:
        imgs = self.generate_fixed()
        image = make_grid(imgs, self.grid_cols)
        path = self.timeline.add(image, epoch, global_step)
        self._pending.extend(self.monitor.observe_diversity(mean_pairwise_distance(imgs), self.real_div, epoch, global_step))
        return [Samples(kind="gan", epoch=epoch, global_step=global_step, image=image, path=str(path),
                        grid=images_geometry(imgs, self.grid_cols))]

    def diagnostics(self) -> list[Diagnostic]:
        """Problems seen since the last call (one device sync; the loop calls it when it syncs)."""
        if self._win_n:
            avg = (self._win / self._win_n).tolist()
            self._win.zero_()
            self._win_n = 0
            self._pending.extend(self.monitor.observe_losses(avg[0], avg[1], self._last_global_step))
        out, self._pending = self._pending, []
        return out

    # -- epoch end ------------------------------------------------------------------------------------
    def end_epoch(self, epoch: int) -> dict[str, float]:
        out: dict[str, float] = {}
        if self._n:
            vals = (self._sums / self._n).tolist()
            out.update(dict(zip(METRICS, vals)))
        self._sums.zero_()
        self._n = 0
        if self.fd is not None:
            with self._eval_g(), autocast(self.device, self.amp_dtype):
                chunks = []
                for i in range(0, FD_SAMPLES, 250):
                    lab = None if self.eval_labels is None else self.eval_labels[i : i + 250]
                    chunks.append(self.sampler(*self.g_in.args(self.eval_noise[i : i + 250], lab)).float())
            fake = ((torch.cat(chunks) + 1.0) / 2.0).clamp(0.0, 1.0)
            out["fd_pca"] = self.fd(fake)
        metric = out.get("fd_pca", out.get("g_loss"))
        self.g_sched.step_epoch(metric)  # "plateau": lower both rates when the quality proxy stalls
        self.d_sched.step_epoch(metric)
        return out

    # -- checkpoints ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "gan",
            "models": {
                "generator": self.G.state_dict(),
                "discriminator": self.D.state_dict(),
                **({"generator_ema": self.G_ema.state_dict()} if self.G_ema is not None else {}),
            },
            "ema_updates": self._ema_updates,
            "g_optimizer": self.g_opt.state_dict(),
            "d_optimizer": self.d_opt.state_dict(),
            "schedules": {"generator": self.g_sched.state_dict(), "discriminator": self.d_sched.state_dict()},
            "g_scaler": self.g_scaler.state_dict(),
            "d_scaler": self.d_scaler.state_dict(),
            "fixed_noise": self.fixed_noise.detach().cpu(),
            "fixed_labels": None if self.fixed_labels is None else self.fixed_labels.cpu(),
            "eval_noise": self.eval_noise.detach().cpu(),
            "step_count": self._step_count,
            "last_g": self._last_g.detach().cpu(),
            "sums": self._sums.detach().cpu(),
            "n": self._n,
            "timeline": self.timeline.state_dict(),
            "monitor": self.monitor.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        models = state.get("models", state)  # {"models": {...}} (current) or the roles at the top level
        self.G.load_state_dict(models["generator"])
        self.D.load_state_dict(models["discriminator"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(models.get("generator_ema", models["generator"]))
            self._ema_updates = int(state.get("ema_updates", 0))
        self.g_opt.load_state_dict(state["g_optimizer"])
        self.d_opt.load_state_dict(state["d_optimizer"])
        if state.get("schedules"):
            self.g_sched.load_state_dict(state["schedules"]["generator"])
            self.d_sched.load_state_dict(state["schedules"]["discriminator"])
        if state.get("g_scaler"):
            self.g_scaler.load_state_dict(state["g_scaler"])
        if state.get("d_scaler"):
            self.d_scaler.load_state_dict(state["d_scaler"])
        self.fixed_noise = state["fixed_noise"].to(self.device)
        if state.get("fixed_labels") is not None:
            self.fixed_labels = state["fixed_labels"].to(self.device)
        if state.get("eval_noise") is not None:
            self.eval_noise = state["eval_noise"].to(self.device)
        self._step_count = int(state.get("step_count", 0))
        self._last_g = state.get("last_g", torch.zeros(())).to(self.device)
        if state.get("sums") is not None:
            self._sums = state["sums"].to(self.device)
            self._n = int(state.get("n", 0))
        if state.get("timeline") is not None:
            self.timeline.load_state_dict(state["timeline"])
        if state.get("monitor") is not None:
            self.monitor.load_state_dict(state["monitor"])
