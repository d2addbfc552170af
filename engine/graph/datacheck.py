"""The model against its data: the Input against the dataset's sample shape, the output against the
task (classes, a regression target, a GAN's or VAE's roles). Pure Python, like ``analyze``: it reads
the analysed shapes and a few cheap facts about the dataset (:class:`DataFacts`), never a tensor.

``analyze_project`` adds these problems (so ``layerlab check``, the studio's badges and the project
panel show them); ``TrainLoop`` runs the same rules with the facts of the data it has just loaded, so
``train`` refuses with the very same message before a trainer guesses at a runtime error.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .analyze import CompileResult, NodeError


@dataclass(frozen=True)
class DataFacts:
    """What a dataset gives the model, per sample: its shape (C, H, W or F) and its classes."""

    sample_shape: tuple[int, ...]
    num_classes: int
    name: str = "the data"


# the built-in sources whose shape is known without opening anything
KNOWN = {
    "digits": DataFacts((1, 28, 28), 10, "digits"),
    "torchvision:MNIST": DataFacts((1, 28, 28), 10, "MNIST"),
    "torchvision:FashionMNIST": DataFacts((1, 28, 28), 10, "Fashion-MNIST"),
    "torchvision:KMNIST": DataFacts((1, 28, 28), 10, "KMNIST"),
    "torchvision:CIFAR10": DataFacts((3, 32, 32), 10, "CIFAR-10"),
    "torchvision:CIFAR100": DataFacts((3, 32, 32), 100, "CIFAR-100"),
}
_cache: dict[str, DataFacts | None] = {}


def data_facts(data_spec: Any, task: str | None = None) -> DataFacts | None:
    """Cheap facts about ``data_spec``'s dataset, or None when they cannot be had cheaply (then the
    data rules are skipped: a missing folder is the data view's problem, not the model's).

    Uses ``engine.data.open_source`` (lazy: headers and labels, no pixels) when this LayerLab has it;
    cached per spec and the path's modification time, so the designer can call it on every edit."""
    spec_json = _spec_key(data_spec)
    path = getattr(data_spec, "path", None)
    try:
        stamp = os.stat(path).st_mtime_ns if path else 0
    except OSError:
        stamp = -1
    key = f"{spec_json}|{task}|{stamp}"
    if key in _cache:
        return _cache[key]
    facts = _open_facts(data_spec, task)
    if facts is None:
        facts = _known_facts(data_spec)
    if len(_cache) > 64:
        _cache.clear()
    _cache[key] = facts
    return facts


def _spec_key(data_spec: Any) -> str:
    try:
        d = data_spec.model_dump(mode="json")
    except AttributeError:
        d = dict(data_spec) if isinstance(data_spec, dict) else {"dataset": str(data_spec)}
    for k in ("batch_size", "seed", "num_workers", "limit", "val_fraction", "augment"):
        d.pop(k, None)  # do not change what a sample looks like
    return json.dumps(d, sort_keys=True, default=str)


def _open_facts(data_spec: Any, task: str | None) -> DataFacts | None:
    try:
        from ..data import open_source  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        src = open_source(data_spec, task=task)
        shape = tuple(int(v) for v in src.input_shape)
        classes = len(src.classes)
    except Exception:  # noqa: BLE001 - unreadable data: the data view reports it; skip the model rules
        return None
    if not shape:
        return None
    return DataFacts(shape, classes, str(getattr(data_spec, "dataset", "the data")))


def _known_facts(data_spec: Any) -> DataFacts | None:
    facts = KNOWN.get(str(getattr(data_spec, "dataset", "")))
    if facts is None:
        return None
    # the data engineer's conversion fields, when the document has them (channels, image size)
    ch = getattr(data_spec, "channels", None)
    size = getattr(data_spec, "image_size", None)
    c, h, w = facts.sample_shape
    if isinstance(ch, int) and ch > 0:
        c = ch
    elif ch in ("grey", "rgb"):
        c = 1 if ch == "grey" else 3
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        h, w = size
    return DataFacts((c, h, w), facts.num_classes, facts.name)


# ---------------------------------------------------------------------------------------------
# the rules


def _shape(s: Sequence[int] | None) -> str:
    return "?" if s is None else "[" + ", ".join(str(v) for v in s) + "]"


def _float_inputs(g: Any, res: CompileResult) -> list[Any]:
    """The graph's Input nodes that carry data (not class-label inputs, which are "long")."""
    out = []
    for nid in res.input_ids:
        n = g.node(nid)
        info = res.node(nid)
        if n is None or n.type != "Input":
            continue
        if info is not None and info.dtype == "long":
            continue
        if str(n.params.get("dtype", "float")) in ("long", "int", "int64"):
            continue
        out.append(n)
    return out


def _declared(n: Any) -> tuple[int, ...] | None:
    s = n.params.get("shape")
    if isinstance(s, (list, tuple)) and all(isinstance(v, int) for v in s):
        return tuple(s)
    return None


def _producer(g: Any, res: CompileResult) -> tuple[str | None, tuple[int, ...] | None]:
    """(node feeding the Output, its per-sample output shape)."""
    if res.output_id is None:
        return None, None
    srcs = g.inputs_of(res.output_id)
    if not srcs:
        return None, None
    info = res.node(srcs[0])
    return srcs[0], (None if info is None or info.output_shape is None else tuple(info.output_shape))


def _sizing_layer(g: Any, res: CompileResult, node_id: str) -> tuple[str, str] | None:
    """The layer (and its param) that decides the output width (shared with the merge fixes)."""
    from .fixes import width_source

    return width_source(g, node_id)


def _first_multi_dim_linear(g: Any, res: CompileResult) -> str | None:
    """The first Linear (in order) that is fed more than one dimension: where a Flatten is missing."""
    for info in res.nodes:
        if info.type == "Linear" and info.in_shapes and len(info.in_shapes[0]) > 1:
            return info.id
    return None


def model_data_problems(project: Any, results: dict[str, CompileResult], facts: DataFacts) -> dict[str, list[NodeError]]:
    """Every mismatch between the project's graphs and its data, by graph path; each names the node,
    what it produces, what the data needs, and the fix."""
    task = project.train.task
    out: dict[str, list[NodeError]] = {}

    def err(gpath: str, node: str | None, msg: str, kind: str, param: str | None = None) -> None:
        out.setdefault(gpath, []).append(NodeError(node, msg, gpath, "error", param=param, kind=kind))

    data = facts.sample_shape
    name = facts.name

    def check_input(gpath: str, what: str) -> None:
        g, res = project.graph_at(gpath), results.get(gpath)
        if res is None:
            return
        ins = _float_inputs(g, res)
        if len(ins) != 1:
            return  # analyze reports missing Inputs; several image Inputs are a trainer's rule
        n = ins[0]
        declared = _declared(n)
        if declared is not None and declared != data:
            err(gpath, n.id, f"{what} takes samples shaped {_shape(declared)}, but {name} gives {_shape(data)} per "
                f"sample: set {n.id}'s shape to {_shape(data)}", "input_vs_data", "shape")

    def output_of(gpath: str) -> tuple[Any, CompileResult | None, str | None, tuple[int, ...] | None]:
        g, res = project.graph_at(gpath), results.get(gpath)
        if res is None:
            return g, None, None, None
        src, shape = _producer(g, res)
        return g, res, src, shape

    if task in ("classification", "binary", "regression"):
        if project.model is None:
            return out
        check_input("model", "the model")
        g, res, src, shape = output_of("model")
        if src is None or shape is None:
            return out
        want = facts.num_classes if task == "classification" else 1
        need = (f"{want} scores per sample (one per class of {name})" if task == "classification"
                else "1 value per sample" + (" (the regression target)" if task == "regression"
                                             else " (the logit of the positive class)"))
        if len(shape) > 1 and math.prod(shape) != want:
            lin = _first_multi_dim_linear(g, res)
            fix = (f"insert a Flatten before {lin}" if lin is not None
                   else f"insert a Flatten and a Linear with {want} outputs before {res.output_id}")
            err("model", src, f"{src} produces {_shape(shape)} per sample, but {task} needs {need}: {fix}",
                "output_vs_task")
        elif len(shape) > 1:  # e.g. [1, 1] for a regression: harmless, the trainer reshapes
            pass
        elif (shape[0] if shape else 1) != want:
            size = _sizing_layer(g, res, src)
            got = shape[0] if shape else 1
            fix = (f"set {size[0]}'s {size[1]} to {want}" if size is not None
                   else f"add a Linear with {want} outputs before {res.output_id}")
            err("model", size[0] if size is not None else src,
                f"{src} produces {got} value{'s' if got != 1 else ''} per sample, but {task} needs {need}: {fix}",
                "output_vs_task", size[1] if size is not None else None)
        return out

    if task == "gan" and project.models is not None:
        if "generator" in project.models:
            g, res, src, shape = output_of("models.generator")
            if src is not None and shape is not None and shape != data:
                size = _sizing_layer(g, res, src)
                hint = (f"set {size[0]}'s {size[1]} to {data[0]}" if size is not None and len(shape) == len(data)
                        and shape[1:] == data[1:] else f"make its last layer produce {_shape(data)}")
                err("models.generator", src, f"the generator makes images shaped {_shape(shape)} (from {src}), but "
                    f"{name}'s images are {_shape(data)}: {hint}", "generator_vs_data")
        if "discriminator" in project.models:
            check_input("models.discriminator", "the discriminator")
            g, res, src, shape = output_of("models.discriminator")
            if src is not None and shape is not None and math.prod(shape) != 1:
                lin = _first_multi_dim_linear(g, res) if len(shape) > 1 else None
                fix = f"insert a Flatten before {lin}" if lin else "end it in a Linear with 1 output"
                err("models.discriminator", src, f"{src} produces {_shape(shape)} per image, but the discriminator "
                    f"must give one real/fake score (1 value): {fix}", "discriminator_output")
        return out

    if task == "vae" and project.models is not None:
        if "encoder" in project.models:
            check_input("models.encoder", "the encoder")
        if "decoder" in project.models:
            g, res, src, shape = output_of("models.decoder")
            if src is not None and shape is not None and shape != data and math.prod(shape) != math.prod(data):
                err("models.decoder", src, f"the decoder makes {_shape(shape)} per sample (from {src}), but it must "
                    f"rebuild {name}'s images, {_shape(data)}: make its last layer produce {_shape(data)}",
                    "decoder_vs_data")
    return out


def add_data_problems(project: Any, results: dict[str, CompileResult], facts: DataFacts | None) -> dict[str, CompileResult]:
    """``results`` with the model-vs-data problems added to their graphs (``ok`` false where one is)."""
    import dataclasses

    if facts is None:
        return results
    try:
        found = model_data_problems(project, results, facts)
    except Exception:  # noqa: BLE001 - analysis never raises; a rule that cannot run reports nothing
        return results
    out = dict(results)
    for gpath, errs in found.items():
        res = out.get(gpath)
        if res is None:
            continue
        known = {(e.node, e.message) for e in res.errors}
        new = [e for e in errs if (e.node, e.message) not in known]
        if new:
            out[gpath] = dataclasses.replace(res, errors=[*res.errors, *new], ok=False)
    return out


def check_model_against_data(project: Any, facts: DataFacts) -> None:
    """Raise ``CompileError`` listing the model-vs-data problems (what ``train`` does once its data is
    loaded: the same rules and words as ``layerlab check``)."""
    from .analyze import CompileError, analyze_project

    results = analyze_project(project, data=facts)
    errs = [e for k, r in results.items() if not k.startswith("blocks.") for e in r.errors
            if e.level == "error" and e.kind in DATA_KINDS]
    if errs:
        raise CompileError(errs, errs[0].graph)


DATA_KINDS = ("input_vs_data", "output_vs_task", "generator_vs_data", "discriminator_output", "decoder_vs_data")
