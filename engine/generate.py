"""Generate images from a trained GAN generator or VAE decoder (``layerlab generate`` and the GUI).

``generate(project, state, n, label=None, seed=0)`` returns a float32 array ``(N, C, H, W)`` in
[0, 1]. ``state`` may be a full checkpoint (the trainer's state under a key such as ``"trainer"``),
the trainer's own ``state_dict()`` (``{"generator": ..., "discriminator": ...}`` or
``{"encoder": ..., "decoder": ...}``) or a plain ``state_dict`` of the generator/decoder.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
MAX_IMAGES = 10_000  # per call; more is a typo (or a job for a loop), and allocates gigabytes first
ROLE = {"gan": "generator", "vae": "decoder"}
_NESTED_KEYS = ("trainer", "state", "model_state", "models", "model", "state_dict")


class GenerateError(ValueError):
    """Bad input for generation (wrong task, label, checkpoint layout); the message says which."""


class NonFiniteOutput(RuntimeError):
    """The network produced NaN/Inf: its weights are broken (a failure during work, exit 1)."""


def find_weights(state: Any, role: str, _depth: int = 0) -> dict[str, Any]:
    """The ``role`` network's ``state_dict`` inside a checkpoint of any of the supported layouts."""
    import torch

    if not isinstance(state, dict) or not state:
        raise GenerateError("the checkpoint does not hold a dictionary of weights")
    if all(isinstance(v, torch.Tensor) for v in state.values()):
        return state  # a plain state_dict
    sub = state.get(role)
    if isinstance(sub, dict) and sub and all(isinstance(v, torch.Tensor) for v in sub.values()):
        return sub
    if _depth < 3:
        for key in _NESTED_KEYS:
            inner = state.get(key)
            if isinstance(inner, dict):
                try:
                    return find_weights(inner, role, _depth + 1)
                except GenerateError:
                    pass
    raise GenerateError(
        f"the checkpoint has no {role} weights (top-level keys: {', '.join(map(str, list(state)[:12]))})"
    )


def _is_plain(state: Any) -> bool:
    import torch

    return isinstance(state, dict) and bool(state) and all(isinstance(v, torch.Tensor) for v in state.values())


def load_checkpoint(path: str | os.PathLike) -> Any:
    """``torch.load(..., weights_only=True)`` with a plain message for missing/foreign files."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise GenerateError(f"{p}: checkpoint file not found")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors, zip errors, truncated files
        raise GenerateError(f"{p}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    from .train.checkpoint import FORMAT, CheckpointError, verified

    if isinstance(data, dict) and data.get("format") == FORMAT:
        try:
            data = verified(p, data)  # version and checksum, as for resuming
        except CheckpointError as exc:
            raise GenerateError(str(exc)) from None
    return data


def build_network(project: Any, state: Any, use_ema: bool = True) -> tuple[Any, str]:
    """The compiled generator (GAN) or decoder (VAE) with weights from ``state``; returns (module, task).

    For a GAN trained with ``train.gan.ema`` the averaged generator (``generator_ema``) is used when
    the checkpoint has it and ``use_ema`` is true.
    """
    task = project.train.task
    if task not in ROLE:
        raise GenerateError(f"generate works on GAN and VAE projects; this project's task is {task!r}")
    role = ROLE[task]
    from .train.gan import compile_role

    module = compile_role(project, role)
    sd = None
    if task == "gan" and use_ema and not _is_plain(state):
        try:
            sd = find_weights(state, "generator_ema")
        except GenerateError:
            sd = None  # trained without EMA
    if sd is None:
        sd = find_weights(state, role)
    try:
        module.load_state_dict(sd)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise GenerateError(
            f"the checkpoint's {role} weights do not fit this project's {role} graph ({first[0] if first else exc}); "
            "was it trained with a different version of the project?"
        ) from None
    module.eval()
    return module, task


def generate(
    project: Any,
    state: Any,
    n: int,
    label: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    batch_size: int = 256,
    use_ema: bool = True,
) -> np.ndarray:
    """``n`` new images as float32 ``(n, C, H, W)`` in [0, 1].

    GAN: the generator on N(0, 1) noise, output mapped from [-1, 1]. Conditional GANs use ``label``
    for every image, or cycle through the classes (0, 1, 2, ...) when ``label`` is None. VAE: the
    decoder on N(0, 1) latent codes, ``sigmoid`` of its logits. ``seed`` makes the result repeatable.
    ``use_ema``: prefer the GAN generator's weight average when the checkpoint has one.
    """
    import torch

    from .train.gan import input_layout

    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_IMAGES:
        raise GenerateError(f"the number of images must be a whole number from 1 to {MAX_IMAGES:,} (got {n!r})")
    module, task = build_network(project, state, use_ema)
    dev = torch.device(device)
    module.to(dev)
    spec = project.train.gan if task == "gan" else None
    conditional = bool(spec and spec.conditional)
    if label is not None and not conditional:
        raise GenerateError("--label works only for conditional GANs (train.gan.conditional true); this project is not one")
    layout = input_layout(module, ROLE[task], conditional)
    num_classes = spec.num_classes if spec is not None else 0
    if conditional and label is not None and not 0 <= label < num_classes:
        raise GenerateError(f"label must be between 0 and {num_classes - 1} (got {label})")
    gen = torch.Generator().manual_seed(int(seed))
    z_all = torch.randn(n, *layout.float_shape, generator=gen)
    labels_all = None
    if conditional:
        labels_all = torch.full((n,), int(label)) if label is not None else torch.arange(n) % num_classes
    outs = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            z = z_all[i : i + batch_size].to(dev)
            lab = None if labels_all is None else labels_all[i : i + batch_size].to(dev)
            y = module(*layout.args(z, lab)).float()
            if not bool(torch.isfinite(y).all()):
                bad = next((k for k, v in module.state_dict().items()
                            if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
                why = f"its weight {bad} holds NaN/Inf" if bad else "its output overflowed"
                raise NonFiniteOutput(f"the {ROLE[task]} produced NaN/Inf values ({why}); the checkpoint is not "
                                      "usable for generation: use one from before training diverged (e.g. best.pt)")
            y = (y + 1.0) / 2.0 if task == "gan" else torch.sigmoid(y)
            outs.append(y.clamp(0.0, 1.0).cpu())
    arr = torch.cat(outs).numpy().astype(np.float32)
    if arr.ndim == 2:  # flat outputs: nothing to show as images
        raise GenerateError(f"the {ROLE[task]} outputs flat vectors {arr.shape[1:]}, not images")
    if arr.ndim == 3:
        arr = arr[:, None]
    return arr


def write_images(images: np.ndarray, out: str | os.PathLike, nrow: int | None = None) -> Path:
    """``.png``: one grid picture; ``.npy``: the float32 array as it is. Written atomically."""
    import io

    import torch

    from .fsutil import atomic_write_bytes
    from .train.gridutil import make_grid, png_bytes

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".png":
        atomic_write_bytes(out, png_bytes(make_grid(torch.from_numpy(images), nrow)))
    elif suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, images.astype(np.float32))
        atomic_write_bytes(out, buf.getvalue())
    else:
        raise GenerateError(f"{out}: the output must end in .png (a picture grid) or .npy (a float32 array)")
    return out


# ---------------------------------------------------------------------------------------------
# CLI


def add_generate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the GAN or VAE project file (FILE.json)")
    p.add_argument("--checkpoint", "-c", required=True, help="checkpoint (.pt) saved by training")
    p.add_argument("-n", "--num", type=_count, default=64, help=f"how many images (1 to {MAX_IMAGES:,}; default 64)")
    p.add_argument("--label", type=_small_int, help="class to generate (conditional GANs only; default: cycle 0, 1, 2, ...)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (0 to 2**63-1; default 0)")
    p.add_argument("-o", "--output", required=True, help="OUT.png (an image grid) or OUT.npy (float32 (N,C,H,W) in [0,1])")
    p.add_argument("--nrow", type=_small_int, help="images per row in a PNG grid (default: near-square)")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps (default cpu)")
    p.add_argument("--no-ema", action="store_true", help="GAN: use the raw generator, not its weight average")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None


def _count(text: str) -> int:
    v = _int(text)
    if not 1 <= v <= MAX_IMAGES:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_IMAGES:,} images per call, got {text[:40]}")
    return v


def _small_int(text: str) -> int:
    v = _int(text)
    if abs(v) > 1_000_000:
        raise argparse.ArgumentTypeError(f"{text[:40]} is out of range")
    return v


def _seed(text: str) -> int:
    from .project import MAX_SEED

    v = _int(text)
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_SEED} (2**63-1), got {text[:40]}")
    return v


def run_generate_cli(args: argparse.Namespace) -> int:
    """Exit 0 ok, 2 bad input (message, no traceback), 1 failure while generating or writing."""
    from .project import ProjectError, load_project

    def err(msg: str) -> None:
        print(f"error: {msg}", file=sys.stderr)

    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".npy"):
        err(f"{out}: the output must end in .png (a picture grid) or .npy (a float32 array)")
        return EXIT_BAD_INPUT
    if args.num < 1:
        err(f"-n must be >= 1 (got {args.num})")
        return EXIT_BAD_INPUT
    if args.nrow is not None and args.nrow < 1:
        err(f"--nrow must be >= 1 (got {args.nrow})")
        return EXIT_BAD_INPUT
    from .fsutil import output_file_problem, same_file

    problem = output_file_problem(out)
    if problem:
        err(f"-o: {problem}")
        return EXIT_BAD_INPUT
    for flag, inp in (("the project file", args.file), ("the checkpoint", args.checkpoint)):
        if same_file(out, inp):
            err(f"-o: {out} is {flag}; writing the images there would overwrite it")
            return EXIT_BAD_INPUT
    try:
        project = load_project(args.file)
    except ProjectError as exc:
        err(str(exc))
        return EXIT_BAD_INPUT
    try:
        from .graph import CompileError
        from .train.device import DeviceError, resolve_device

        device = resolve_device(args.device)
        state = load_checkpoint(args.checkpoint)
        images = generate(
            project, state, args.num, label=args.label, seed=args.seed, device=str(device), use_ema=not args.no_ema
        )
    except (GenerateError, ProjectError, CompileError, DeviceError) as exc:
        err(str(exc))
        return EXIT_BAD_INPUT
    except NonFiniteOutput as exc:
        err(f"{args.checkpoint}: {exc}")
        return EXIT_FAIL
    except Exception as exc:  # a failure while running the network
        err(f"generation failed: {type(exc).__name__}: {exc}")
        return EXIT_FAIL
    try:
        write_images(images, out, args.nrow)
    except OSError as exc:
        err(f"{out}: cannot write ({exc.strerror or exc})")
        return EXIT_FAIL
    print(f"wrote {len(images)} images to {out}")
    return EXIT_OK
