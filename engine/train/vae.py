"""Variational autoencoder trainer for the one training loop.

The project holds ``models.encoder`` (image -> ``2 * latent_dim`` numbers: the first half is the
mean ``mu``, the second the log-variance ``logvar`` of the latent code) and ``models.decoder``
(latent code -> image logits, the data's image shape). Settings live in ``train.vae`` (``VaeSpec``);
the optimizer is ``train.optimizer``.

Loss per image = reconstruction (``bce``: BCE-with-logits against the [0, 1] pixels, or ``mse``:
squared error of ``sigmoid(logits)``; summed over pixels) + ``beta_t * KL(q(z|x) || N(0, I))``,
where ``beta_t`` ramps linearly from 0 to ``beta`` over ``kl_warmup_epochs`` (fractional, per step).
Validation uses ``z = mu`` (deterministic) and the full ``beta``.

Samples: ``vae_recon`` (rows of validation originals, each followed by a row of their
reconstructions), ``vae_samples`` (decoded fixed latent noise; also kept in the on-disk timeline
``run_dir/samples``) and, with a 2-D latent space, ``vae_latent_map`` (the decoded plane, and an
``extra={"xy", "y"}`` scatter of encoded validation images).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..project import Problem, ProjectError, VaeSpec
from .events import Samples
from .gan import (
    autocast,
    compile_role,
    make_optimizer,
    make_scaler,
    make_schedule,
    sample_steps,
    warn_if_normalized,
)
from .gridutil import grid_geometry, images_geometry, interleave_rows, make_grid
from .timeline import Timeline
from .trainer import StepContext, TrainContext

FIXED_SEED_OFFSET = 104729
SCATTER_MAX = 2000  # encoded validation points in the latent scatter
VAL_CHUNK = 512
LOGVAR_RANGE = (-30.0, 20.0)  # clamp for numerical safety (exp overflow)

METRICS = ("loss", "recon", "kl")


def kl_weight(beta: float, warmup_epochs: float, epochs_done: float) -> float:
    """The KL weight after ``epochs_done`` (fractional) epochs: linear warm-up from 0 to ``beta``."""
    if warmup_epochs <= 0:
        return beta
    return beta * min(1.0, max(0.0, epochs_done / warmup_epochs))


def vae_terms(
    logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, recon_loss: str = "bce"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction, KL), each summed per image and averaged over the batch."""
    n = x.shape[0]
    if recon_loss == "bce":
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(n, -1).sum(1).mean()
    elif recon_loss == "mse":
        rec = (torch.sigmoid(logits) - x).pow(2).reshape(n, -1).sum(1).mean()
    else:
        raise ValueError(f"unknown reconstruction loss {recon_loss!r} (bce or mse)")
    kl = (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    return rec, kl


class VaeTrainer:
    """Encoder -> (mu, logvar) -> reparameterised z -> decoder; reconstruction + beta * KL."""

    name = "vae"
    monitor_default = "val_loss"

    def __init__(self, project: Any):
        self.project = project
        self.spec: VaeSpec = project.train.vae or VaeSpec()

    # -- setup -------------------------------------------------------------------------------------
    def setup(self, ctx: TrainContext) -> None:
        spec = self.spec
        self.device = torch.device(ctx.device)
        self.amp_dtype = ctx.amp_dtype
        self.E = compile_role(self.project, "encoder").to(self.device)
        self.Dec = compile_role(self.project, "decoder").to(self.device)
        data = ctx.data
        img_shape = tuple(data.train_x.shape[1:])
        k = spec.latent_dim
        self._check_io(self.E, "encoder", img_shape, (2 * k,), f"Linear({2 * k}) (mu and logvar, 2 x train.vae.latent_dim)")
        self._check_io(self.Dec, "decoder", (k,), img_shape, f"the data's image shape {list(img_shape)}")
        warn_if_normalized(ctx)
        self.opt = make_optimizer(
            itertools.chain(self.E.parameters(), self.Dec.parameters()), self.project.train.optimizer, "train.optimizer"
        )
        self.sched = make_schedule(self.opt, self.project, ctx)
        self.scaler = make_scaler(self.device, self.amp_dtype)

        gen = torch.Generator().manual_seed(int(self.project.train.seed) + FIXED_SEED_OFFSET)
        g = spec.grid
        self.grid_cols = g
        n_pairs = max(1, g // 2) * g
        self.val_x = data.val_x if data.val_x is not None and len(data.val_x) else data.train_x
        self.val_y = data.val_y if data.val_x is not None and len(data.val_x) else data.train_y
        self.recon_cols = min(g, len(self.val_x))  # whole rows only, even for a tiny validation set
        n_pairs = min(n_pairs, (len(self.val_x) // self.recon_cols) * self.recon_cols)
        idx = torch.randperm(len(self.val_x), generator=gen)[:n_pairs].to(self.val_x.device)
        self.fixed_x = self.val_x[idx]
        self.fixed_z = torch.randn(g * g, k, generator=gen).to(self.device)
        self.timeline = Timeline(Path(ctx.run_dir) / "samples", spec.timeline_max)
        self._sums = torch.zeros(len(METRICS), device=self.device)
        self._n = 0
        self._beta_now = kl_weight(spec.beta, spec.kl_warmup_epochs, 0.0)

    def _check_io(self, m: Any, role: str, want_in: tuple[int, ...], want_out: tuple[int, ...], hint: str) -> None:
        path = f"models.{role}"
        shapes = [tuple(s) for s in m.input_shapes]
        dtypes = list(getattr(m, "input_dtypes", ["float"] * len(shapes)))
        if len(shapes) != 1 or dtypes[0] == "long":
            raise ProjectError([Problem(path, f"the {role} needs exactly one float Input (got {len(shapes)} inputs)", None, path)])
        if shapes[0] != want_in:
            raise ProjectError([Problem(
                path, f"the {role}'s Input shape is {list(shapes[0])}, expected {list(want_in)}", None, path
            )])
        if tuple(m.output_shape) != want_out:
            raise ProjectError([Problem(
                path, f"the {role}'s output shape is {list(m.output_shape)}, expected {list(want_out)}: end it with {hint}",
                None, path,
            )])

    def modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.E, "decoder": self.Dec}

    def current_lr(self) -> float:
        return float(self.opt.param_groups[0]["lr"])

    # -- model pieces ------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.E(x).float()
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder logits (float32)."""
        return self.Dec(z).float()

    # -- one step ----------------------------------------------------------------------------------
    def train_step(self, batch: tuple[Any, ...], sc: StepContext) -> dict[str, Any]:
        x = batch[0]
        spec = self.spec
        self._beta_now = kl_weight(spec.beta, spec.kl_warmup_epochs, sc.global_step / max(1, sc.steps_per_epoch))
        with autocast(self.device, self.amp_dtype):
            mu, logvar = self.encode(x)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            logits = self.decode(z)
        rec, kl = vae_terms(logits, x, mu, logvar, spec.recon_loss)
        loss = rec + self._beta_now * kl
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step_batch()
        with torch.no_grad():
            logs = torch.stack([loss.detach(), rec.detach(), kl.detach()])
            self._sums += logs
        self._n += 1
        return {"loss": logs[0], "recon": logs[1], "kl": logs[2]}

    # -- evaluation --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _eval(self) -> Iterator[None]:
        was = self.E.training, self.Dec.training
        self.E.eval()
        self.Dec.eval()
        try:
            with torch.no_grad(), autocast(self.device, self.amp_dtype):
                yield
        finally:
            self.E.train(was[0])
            self.Dec.train(was[1])

    def end_epoch(self, epoch: int) -> dict[str, float]:
        out: dict[str, float] = {}
        if self._n:
            vals = (self._sums / self._n).tolist()
            out.update({f"train_{k}": v for k, v in zip(METRICS, vals)})
        self._sums.zero_()
        self._n = 0
        rec_sum = torch.zeros((), device=self.device)
        kl_sum = torch.zeros((), device=self.device)
        with self._eval():
            for i in range(0, len(self.val_x), VAL_CHUNK):
                xb = self.val_x[i : i + VAL_CHUNK]
                mu, logvar = self.encode(xb)
                rec, kl = vae_terms(self.decode(mu), xb, mu, logvar, self.spec.recon_loss)
                rec_sum += rec * len(xb)
                kl_sum += kl * len(xb)
        n = max(1, len(self.val_x))
        val_recon, val_kl = (torch.stack([rec_sum, kl_sum]) / n).tolist()
        out.update({
            "val_loss": val_recon + self.spec.beta * val_kl,
            "val_recon": val_recon,
            "val_kl": val_kl,
            "beta": self._beta_now,
        })
        self.sched.step_epoch(out["val_loss"])
        return out

    # -- sampling --------------------------------------------------------------------------------------
    def wants_samples(self, sc: StepContext) -> bool:
        """True at ``samples_per_epoch`` evenly spaced steps inside an epoch (the epoch end is separate)."""
        return sc.step in sample_steps(self.spec.samples_per_epoch, sc.steps_per_epoch)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstructions (z = mu) in [0, 1]."""
        with self._eval():
            mu, _ = self.encode(x)
            return torch.sigmoid(self.decode(mu))

    def samples(self, epoch: int, global_step: int) -> list[Samples]:
        g = self.grid_cols
        with self._eval():
            mu, _ = self.encode(self.fixed_x)
            recon = torch.sigmoid(self.decode(mu))
            gen = torch.sigmoid(self.decode(self.fixed_z))
        c = self.recon_cols
        recon_img = make_grid(interleave_rows(self.fixed_x.float(), recon, c), c)
        gen_img = make_grid(gen, g)
        path = self.timeline.add(gen_img, epoch, global_step)
        out = [
            Samples(kind="vae_recon", epoch=epoch, global_step=global_step, image=recon_img,
                    grid=grid_geometry(2 * len(recon), recon.shape[-2], recon.shape[-1], c)),
            Samples(kind="vae_samples", epoch=epoch, global_step=global_step, image=gen_img, path=str(path),
                    grid=images_geometry(gen, g)),
        ]
        if self.spec.latent_dim == 2:
            out.append(self._latent_map(epoch, global_step))
        return out

    def _latent_map(self, epoch: int, global_step: int, side: int | None = None) -> Samples:
        side = side or max(self.spec.grid, 10)
        q = torch.linspace(0.05, 0.95, side)
        coords = torch.distributions.Normal(0.0, 1.0).icdf(q)
        # row 0 at the top = largest second coordinate
        zz = torch.stack(torch.meshgrid(coords.flip(0), coords, indexing="ij"), -1).reshape(-1, 2)
        zz = zz[:, [1, 0]].to(self.device)
        with self._eval():
            img = torch.sigmoid(self.decode(zz))
            n = min(SCATTER_MAX, len(self.val_x))
            mu, _ = self.encode(self.val_x[:n])
        image = make_grid(img, side, padding=0)
        extra = {
            "xy": mu.float().cpu().numpy().astype(np.float32),
            "y": self.val_y[:n].cpu().numpy().astype(np.int64),
            "extent": (float(coords[0]), float(coords[-1])),  # the map spans this range on both axes
        }
        return Samples(kind="vae_latent_map", epoch=epoch, global_step=global_step, image=image, extra=extra,
                       grid=images_geometry(img, side, padding=0))

    # -- checkpoints ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "vae",
            "models": {"encoder": self.E.state_dict(), "decoder": self.Dec.state_dict()},
            "optimizer": self.opt.state_dict(),
            "schedule": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "fixed_x": self.fixed_x.detach().cpu(),
            "fixed_z": self.fixed_z.detach().cpu(),
            "sums": self._sums.detach().cpu(),
            "n": self._n,
            "timeline": self.timeline.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        models = state.get("models", state)  # {"models": {...}} (current) or the roles at the top level
        self.E.load_state_dict(models["encoder"])
        self.Dec.load_state_dict(models["decoder"])
        self.opt.load_state_dict(state["optimizer"])
        if state.get("schedule"):
            self.sched.load_state_dict(state["schedule"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if state.get("fixed_x") is not None:
            self.fixed_x = state["fixed_x"].to(self.device)
        if state.get("fixed_z") is not None:
            self.fixed_z = state["fixed_z"].to(self.device)
        if state.get("sums") is not None:
            self._sums = state["sums"].to(self.device)
            self._n = int(state.get("n", 0))
        if state.get("timeline") is not None:
            self.timeline.load_state_dict(state["timeline"])
