"""The project document: one versioned JSON file (format ``layerlab-project``).

Load -> validate (every problem, each with its path) -> typed objects; save atomically and
byte-stably. Node ``params`` are stored as the user wrote them (defaults are filled in by the
compiler from the layer registry), so a changed default never rewrites old files.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from .fsutil import atomic_write_text

FORMAT = "layerlab-project"
VERSION = 2  # the newest version this LayerLab reads and writes (2: edges name their input port; blocks)

NODE_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

GRAPH_ROLES = {"gan": ("generator", "discriminator"), "vae": ("encoder", "decoder")}


# ---------------------------------------------------------------------------------------------
# errors


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. "model.nodes[c1].params.kernel_size"
    message: str
    node: str | None = None  # node id when the problem belongs to a node
    graph: str | None = None  # "model" or "models.generator", ...

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ProjectError(Exception):
    """A project file that cannot be used. ``problems`` lists every reason, each with its path."""

    def __init__(self, problems: list[Problem] | str, source: str | None = None):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        if len(problems) == 1:
            super().__init__(head + str(problems[0]))
        else:
            body = "\n".join(f"  - {p}" for p in problems)
            super().__init__(f"{head}{len(problems)} problems:\n{body}")


# ---------------------------------------------------------------------------------------------
# the typed document


MAX_PROJECT_BYTES = 64 * 1024 * 1024  # a 100,000-node graph is ~20 MB; beyond this it is not a project
MAX_DEPTH = 64  # nesting of JSON objects/lists; a real document is < 10 deep
MAX_INT_DIGITS = 30  # ints beyond ~1e30 are typos or attacks, never sizes or seeds
MAX_NAME = 200  # project name, node labels
MAX_DESCRIPTION = 20_000
MAX_SEED = 2**63 - 1  # torch.manual_seed takes 64 bits; the document keeps to the signed range
MIN_LIMIT = 10  # data.limit: a split needs samples for both training and validation


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        """pydantic's lax mode reads ``true`` as 1; in a project file that is a typo, not a number."""
        if isinstance(v, bool) and info.field_name is not None:
            ann = cls.model_fields[info.field_name].annotation
            if ann is not bool and bool not in typing.get_args(ann) and ann is not Any:
                raise ValueError("must be a number, not true/false")
        return v


class NodeSpec(_Model):
    id: str
    type: str
    params: dict[str, Any] = Field(default_factory=dict)
    pos: tuple[float, float] | None = None  # designer canvas position
    label: str | None = Field(None, max_length=MAX_NAME)  # optional display name

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not NODE_ID_RE.match(v):
            raise ValueError("node id must start with a letter or _ and use only letters, digits and _ (max 64)")
        return v


class EdgeSpec(_Model):
    """A connection: ``src``'s output feeds input ``port`` of ``dst`` (Add/Concat take their inputs in
    port order; single-input layers have port 0)."""

    src: str
    dst: str
    port: int = Field(0, ge=0, le=4096)

    def pair(self) -> tuple[str, str]:
        return (self.src, self.dst)


def _normalize_edges(v: Any) -> Any:
    """Accept ``[src, dst]`` / ``[src, dst, port]`` shorthand (version-1 files, hand-written JSON) and
    objects without a port: a missing port takes the smallest port of its ``dst`` that no explicit
    edge names, in list order, so version-1 edge order becomes the port order."""
    if not isinstance(v, list):
        return v
    items: list[Any] = []
    for e in v:
        if isinstance(e, (list, tuple)) and len(e) in (2, 3):
            d: dict[str, Any] = {"src": e[0], "dst": e[1]}
            if len(e) == 3:
                d["port"] = e[2]
            items.append(d)
        else:
            items.append(e)
    taken: dict[Any, set[Any]] = {}
    for e in items:
        if isinstance(e, dict) and "port" in e:
            try:
                taken.setdefault(e.get("dst"), set()).add(e["port"])
            except TypeError:  # an unhashable dst/port: the type checks report it
                pass
    out = []
    for e in items:
        if isinstance(e, dict) and "port" not in e:
            try:
                used = taken.setdefault(e.get("dst"), set())
            except TypeError:
                out.append(e)
                continue
            port = 0
            while port in used:
                port += 1
            used.add(port)
            e = {**e, "port": port}
        out.append(e)
    return out


class GraphSpec(_Model):
    nodes: list[NodeSpec] = Field(default_factory=list)
    edges: list[EdgeSpec] = Field(default_factory=list)

    @field_validator("edges", mode="before")
    @classmethod
    def _edges_shorthand(cls, v: Any) -> Any:
        return _normalize_edges(v)

    def node(self, node_id: str) -> NodeSpec | None:
        for n in self.nodes:
            if n.id == node_id:
                return n
        return None

    def node_index(self, node_id: str) -> int:
        for i, n in enumerate(self.nodes):
            if n.id == node_id:
                return i
        return -1

    def edges_into(self, node_id: str) -> list[EdgeSpec]:
        """Edges feeding ``node_id``, in port order (ties: list order)."""
        return sorted((e for e in self.edges if e.dst == node_id), key=lambda e: e.port)

    def edges_from(self, node_id: str) -> list[EdgeSpec]:
        return [e for e in self.edges if e.src == node_id]

    def inputs_of(self, node_id: str) -> list[str]:
        """Incoming edges' sources, in port order (the input order for Add/Concat)."""
        return [e.src for e in self.edges_into(node_id)]

    def successors_of(self, node_id: str) -> list[str]:
        return [e.dst for e in self.edges if e.src == node_id]

    def edge_pairs(self) -> list[tuple[str, str]]:
        return [(e.src, e.dst) for e in self.edges]


class AugmentSpec(_Model):
    type: Literal[
        "random_rotation", "horizontal_flip", "vertical_flip", "random_resized_crop", "affine",
        "color_jitter", "random_erasing", "normalize",
    ]
    params: dict[str, Any] = Field(default_factory=dict)


class DataSpec(_Model):
    dataset: str = "digits"  # "digits", "torchvision:MNIST", "folder", "csv"
    path: str | None = None  # for image folders / csv / torchvision root
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    batch_size: int = Field(64, ge=1, le=65536)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    augment: list[AugmentSpec] = Field(default_factory=list)
    num_workers: int = Field(0, ge=0, le=64)
    # auto: decode the dataset into memory when it fits, else decode per batch while training; always: per batch
    # (in num_workers processes); never: decode up front, refuse what does not fit
    stream: Literal["auto", "always", "never"] = "auto"
    limit: int | None = Field(None, ge=MIN_LIMIT)  # use only the first N samples (after shuffling)
    # the split: stratified by label; k folds (>= 2) validate on fold ``fold`` instead of val_fraction
    stratified: bool = True
    folds: int = Field(0, ge=0, le=50)
    fold: int = Field(0, ge=0)
    # images -> the model's input: size (H, W; default: the most common or median size, at most 64 px), how to get
    # there, and the channel rule (auto: grey when every image is grey, else RGB)
    image_size: tuple[int, int] | None = None
    resize: Literal["resize", "center_crop", "pad"] = "resize"
    channels: Literal["auto", "grey", "rgb"] = "auto"
    exclude: list[str] = Field(default_factory=list)  # folder paths (relative to data.path) left out
    # CSV tables: the target column (name or 0-based index; default the last), header (None: detect),
    # layout (auto: a headerless square of 0..255 integers is an image, anything else a feature table)
    csv_target: str | int | None = None
    csv_header: bool | None = None
    csv_layout: Literal["auto", "image", "table"] = "auto"

    @field_validator("image_size")
    @classmethod
    def _image_size(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not all(1 <= s <= 4096 for s in v):
            raise ValueError("each side must be between 1 and 4096 pixels")
        return v

    @field_validator("fold")
    @classmethod
    def _fold(cls, v: int, info: ValidationInfo) -> int:
        k = info.data.get("folds", 0)
        if k and k >= 2 and v >= k:
            raise ValueError(f"must be below data.folds ({k})")
        return v

    @field_validator("folds")
    @classmethod
    def _folds(cls, v: int) -> int:
        if v == 1:
            raise ValueError("must be 0 (one split by val_fraction) or at least 2")
        return v

    @field_validator("exclude")
    @classmethod
    def _exclude(cls, v: list[str]) -> list[str]:
        for e in v:
            if not e or os.path.isabs(e) or ".." in Path(e).parts:
                raise ValueError(f"{e!r}: give paths relative to data.path, inside it")
        return v


class OptimizerSpec(_Model):
    name: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    lr: float = Field(1e-3, gt=0.0, le=10.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    alpha: float = Field(0.99, gt=0.0, lt=1.0)  # RMSprop smoothing

    @field_validator("betas")
    @classmethod
    def _betas(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError("each beta must be in [0, 1)")
        return v


class ScheduleSpec(_Model):
    name: Literal["constant", "step", "cosine", "onecycle", "plateau"] = "constant"
    warmup_epochs: float = Field(0.0, ge=0.0)
    step_size: int = Field(10, ge=1)  # epochs, for "step"
    gamma: float = Field(0.1, gt=0.0, le=1.0)  # for "step"
    min_lr: float = Field(0.0, ge=0.0)  # for "cosine"
    max_lr: float | None = Field(None, gt=0.0)  # for "onecycle" (default: optimizer lr)
    factor: float = Field(0.1, gt=0.0, lt=1.0)  # for "plateau"
    patience: int = Field(2, ge=0)  # for "plateau"


class EarlyStoppingSpec(_Model):
    enabled: bool = False
    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    patience: int = Field(3, ge=0)
    min_delta: float = Field(0.0, ge=0.0)
    restore_best: bool = True


class GanSpec(_Model):
    loss: Literal["bce", "nonsaturating", "hinge"] = "nonsaturating"
    n_critic: int = Field(1, ge=1, le=20)
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5)  # one-sided: real target = 1 - s
    latent_dim: int = Field(64, ge=1, le=4096)
    conditional: bool = False
    num_classes: int = Field(10, ge=2)
    init_std: float = Field(0.02, gt=0.0)
    g_optimizer: OptimizerSpec = Field(default_factory=lambda: OptimizerSpec(lr=2e-4, betas=(0.5, 0.999)))
    d_optimizer: OptimizerSpec = Field(default_factory=lambda: OptimizerSpec(lr=2e-4, betas=(0.5, 0.999)))
    grid: int = Field(8, ge=1, le=16)  # grid x grid samples from fixed noise
    samples_per_epoch: int = Field(4, ge=0, le=100)
    timeline_max: int = Field(200, ge=2, le=10000)  # cap on stored sample frames
    ema: float = Field(0.0, ge=0.0, lt=1.0)  # generator weight EMA decay for samples/generation (0 = off)


class VaeSpec(_Model):
    latent_dim: int = Field(16, ge=1, le=4096)
    beta: float = Field(1.0, ge=0.0)
    kl_warmup_epochs: float = Field(0.0, ge=0.0)
    recon_loss: Literal["bce", "mse"] = "bce"
    grid: int = Field(8, ge=1, le=16)
    samples_per_epoch: int = Field(2, ge=0, le=100)
    timeline_max: int = Field(200, ge=2, le=10000)


class TrainSpec(_Model):
    task: Literal["classification", "regression", "binary", "gan", "vae"] = "classification"
    loss: Literal["cross_entropy", "mse", "l1", "huber", "bce_with_logits"] = "cross_entropy"
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    huber_delta: float = Field(1.0, gt=0.0)
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    l1: float = Field(0.0, ge=0.0)  # L1 penalty on weights, added to the loss
    grad_clip: float | None = Field(None, gt=0.0)  # max grad norm
    epochs: int = Field(5, ge=1, le=100000)
    max_steps: int | None = Field(None, ge=1)  # stop after this many optimizer steps
    seed: int = Field(0, ge=0, le=MAX_SEED)
    device: str = "auto"
    amp: bool = False
    amp_dtype: Literal["auto", "bf16", "fp16"] = "auto"
    compile: bool = False
    early_stopping: EarlyStoppingSpec = Field(default_factory=EarlyStoppingSpec)
    checkpoint_every: int = Field(1, ge=1)  # epochs between periodic checkpoints
    threads: int | None = Field(None, ge=1, le=256)  # torch CPU threads (None: runner default)
    gan: GanSpec | None = None
    vae: VaeSpec | None = None

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not DEVICE_RE.match(v):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return v


class Project(_Model):
    format: Literal["layerlab-project"] = FORMAT
    version: int = VERSION
    name: str = Field("untitled", min_length=1, max_length=MAX_NAME)
    description: str = Field("", max_length=MAX_DESCRIPTION)
    data: DataSpec = Field(default_factory=DataSpec)
    model: GraphSpec | None = None
    models: dict[str, GraphSpec] | None = None
    train: TrainSpec = Field(default_factory=TrainSpec)
    blocks: dict[str, GraphSpec] | None = None  # reusable sub-graphs, used by nodes of type "Block"

    @field_validator("blocks")
    @classmethod
    def _block_names(cls, v: dict[str, GraphSpec] | None) -> dict[str, GraphSpec] | None:
        for name in v or {}:
            if not NODE_ID_RE.match(name):
                raise ValueError(f"block name {name!r} must start with a letter or _ and use only letters, digits "
                                 "and _ (max 64)")
        return v

    # -- convenience -----------------------------------------------------------------------
    def graph_at(self, path: str) -> GraphSpec:
        """A graph by its document path: ``model``, ``models.generator``, ``blocks.resblock``."""
        if path == "model" and self.model is not None:
            return self.model
        head, _, name = path.partition(".")
        table = self.models if head == "models" else self.blocks if head == "blocks" else None
        if table is None or name not in table:
            raise KeyError(f"this project has no graph {path!r}")
        return table[name]

    def all_graphs(self) -> dict[str, GraphSpec]:
        """The model graphs and the block definitions, by document path."""
        out = dict(self.graphs())
        out.update({f"blocks.{k}": v for k, v in (self.blocks or {}).items()})
        return out

    def graphs(self) -> dict[str, GraphSpec]:
        """Every graph by its document path: ``{"model": g}`` or ``{"models.generator": g, ...}``."""
        if self.model is not None:
            return {"model": self.model}
        return {f"models.{k}": v for k, v in (self.models or {}).items()}

    def graph(self, role: str = "model") -> GraphSpec:
        if role == "model":
            if self.model is None:
                raise KeyError("this project has no single 'model' graph")
            return self.model
        assert self.models is not None and role in self.models, role
        return self.models[role]

    def to_dict(self) -> dict[str, Any]:
        return project_to_dict(self)

    def copy_deep(self) -> Project:
        return Project.model_validate(copy.deepcopy(self.to_dict()))


# ---------------------------------------------------------------------------------------------
# load / validate / save


def _loc_to_path(loc: tuple[Any, ...], raw: Any) -> tuple[str, str | None, str | None]:
    """pydantic loc -> ``model.nodes[c1].params.kernel_size`` (node index -> node id)."""
    parts: list[str] = []
    node: str | None = None
    graph: str | None = None
    cur = raw
    for i, key in enumerate(loc):
        if isinstance(key, int):
            label = str(key)
            if isinstance(cur, list) and 0 <= key < len(cur):
                item = cur[key]
                if i > 0 and loc[i - 1] == "nodes" and isinstance(item, dict) and isinstance(item.get("id"), str):
                    label = item["id"]
                    node = item["id"]
                    graph = ".".join(str(p) for p in parts[:-1]) or None
                cur = item
            else:
                cur = None
            if parts:
                parts[-1] += f"[{label}]"
            else:
                parts.append(f"[{label}]")
        else:
            parts.append(str(key))
            cur = cur.get(key) if isinstance(cur, dict) else None
    return ".".join(parts), node, graph


def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 1 edges are ``[src, dst]`` pairs whose order among a node's inputs is the input order;
    version 2 edges are ``{"src", "dst", "port"}`` objects (the same order, made explicit)."""
    for g in [raw.get("model"), *((raw.get("models") or {}).values() if isinstance(raw.get("models"), dict) else [])]:
        if isinstance(g, dict) and "edges" in g:
            g["edges"] = _normalize_edges(g["edges"])
    raw["version"] = 2
    return raw


def _migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring an older document up to ``VERSION``, one version at a time."""
    migrations: dict[int, Any] = {1: _v1_to_v2}  # {from_version: fn(dict) -> dict}
    v = raw.get("version")
    while isinstance(v, int) and v < VERSION:
        raw = migrations[v](raw)
        v = raw["version"]
    return raw


def parse_project(raw: Any, source: str | None = None) -> Project:
    """Validate a decoded JSON value into a ``Project``, or raise ``ProjectError`` listing every problem."""
    if not isinstance(raw, dict):
        raise ProjectError("not a LayerLab project: the file must hold a JSON object", source)
    deep = _too_deep(raw)
    if deep is not None:
        shown = deep if len(deep) < 80 else deep[:60] + "…"
        raise ProjectError(f"{shown}: nested more than {MAX_DEPTH} levels deep; a project document is never "
                           "this deep", source)
    fmt = raw.get("format")
    if fmt != FORMAT:
        raise ProjectError(f"not a LayerLab project (format is {fmt!r}, expected {FORMAT!r})", source)
    ver = raw.get("version")
    if isinstance(ver, bool) or not isinstance(ver, int) or ver < 1:
        raise ProjectError(f"version: must be a whole number >= 1 (got {ver!r})", source)
    if ver > VERSION:
        raise ProjectError(
            f"this project was saved by a newer LayerLab (file version {ver}; this LayerLab reads up to "
            f"version {VERSION}). Update LayerLab to open it.",
            source,
        )
    raw = _migrate(copy.deepcopy(raw))
    try:
        project = Project.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            path, node, graph = _loc_to_path(tuple(e["loc"]), raw)
            msg = e["msg"].removeprefix("Value error, ")
            problems.append(Problem(path, msg, node, graph))
        problems += _graph_problems_of_raw(raw, {p.path for p in problems})
        raise ProjectError(problems, source) from None
    problems = semantic_problems(project)
    if problems:
        raise ProjectError(problems, source)
    return project


def semantic_problems(project: Project) -> list[Problem]:
    """Checks beyond types: the graphs the task needs are present.

    Everything inside a graph (layer types, params, connections, shapes) is ``engine.graph.analyze``'s:
    a project whose graph has errors still loads (the designer shows its badges); ``check`` and
    ``train`` report the errors against their nodes.
    """

    problems: list[Problem] = []
    task = project.train.task
    if project.model is not None and project.models is not None:
        problems.append(Problem("models", "give either 'model' (one graph) or 'models' (GAN/VAE), not both"))
    if task in GRAPH_ROLES:
        roles = GRAPH_ROLES[task]
        if project.models is None:
            problems.append(Problem("models", f"a {task.upper()} project needs 'models' with {' and '.join(roles)}"))
        else:
            for r in roles:
                if r not in project.models:
                    problems.append(Problem(f"models.{r}", f"missing: a {task.upper()} project needs this graph"))
            for r in project.models:
                if r not in roles:
                    problems.append(Problem(f"models.{r}", f"unknown graph role for a {task} project (expected {', '.join(roles)})"))
    elif project.model is None:
        problems.append(Problem("model", f"a {task} project needs a 'model' graph"))
    return problems


def _graph_problems_of_raw(raw: dict[str, Any], known: set[str]) -> list[Problem]:
    """When the document fails type checks elsewhere, still report the problems inside its graphs
    (e.g. an unknown layer type), so one pass shows everything; graphs that are themselves
    malformed were already reported by the type checks."""
    graphs: dict[str, Any] = {}
    if isinstance(raw.get("model"), dict):
        graphs["model"] = raw["model"]
    if isinstance(raw.get("models"), dict):
        graphs.update({f"models.{k}": v for k, v in raw["models"].items() if isinstance(v, dict)})
    from .graph import analyze

    out: list[Problem] = []
    for gpath, g in graphs.items():
        try:
            spec = GraphSpec.model_validate(g)
        except ValidationError:
            continue
        for e in analyze(spec, gpath).errors:
            if e.level == "error":
                p = Problem(e.path, e.message, e.node, gpath)
                if p.path not in known:
                    out.append(p)
    return out


def project_to_dict(project: Project) -> dict[str, Any]:
    d = project.model_dump(mode="json", exclude_none=True)
    d["version"] = VERSION  # an older file opened here is saved in today's form (edges with ports)
    return d


def dumps_project(project: Project) -> str:
    return json.dumps(project_to_dict(project), indent=2, ensure_ascii=False) + "\n"


class _BadLiteral(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _BadLiteral(f"{name} is not a number JSON allows; write a finite number (e.g. 0.001)")


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _BadLiteral(f"a {digits:,}-digit whole number is far beyond any sensible value (at most "
                          f"{MAX_INT_DIGITS} digits)")
    return int(text)


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise _BadLiteral(f"{text} is too large for a number (it would be infinite)")
    return v


class _Marked:
    pass


def _bad_literal_path(text: str) -> str | None:
    """The document path of the first NaN/Infinity/oversized number (parsed again with markers)."""
    def mark_int(t: str) -> Any:
        return _Marked() if len(t.lstrip("-")) > MAX_INT_DIGITS else 0

    def mark_float(t: str) -> Any:
        return 0.0 if math.isfinite(float(t)) else _Marked()

    try:
        raw = json.loads(text, parse_constant=lambda _n: _Marked(), parse_int=mark_int, parse_float=mark_float)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[Any, str]] = [(raw, "")]
    while stack:
        v, path = stack.pop()
        if isinstance(v, _Marked):
            return path
        if isinstance(v, dict):
            stack += [(item, f"{path}.{k}".lstrip(".")) for k, item in reversed(list(v.items()))]
        elif isinstance(v, list):
            stack += [(item, f"{path}[{i}]") for i, item in reversed(list(enumerate(v)))]
    return None


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """The path of the first value nested deeper than ``limit`` (iterative: deep input cannot overflow).
    Each container keeps a link to its parent entry; the path text is built only when one is too deep."""
    stack: list[tuple[Any, int, Any, Any]] = [(value, 0, None, None)]
    while stack:
        entry = stack.pop()
        v, depth = entry[0], entry[1]
        if depth >= limit:
            keys = []
            while entry is not None and entry[3] is not None:
                keys.append(entry[2])
                entry = entry[3]
            path = ""
            for k in reversed(keys):
                path = f"{path}.{k}".lstrip(".") if isinstance(k, str) else f"{path}[{k}]"
            return path or "(top level)"
        items = v.items() if isinstance(v, dict) else enumerate(v)
        stack.extend((c, depth + 1, k, entry) for k, c in items if isinstance(c, (dict, list)))
    return None


def loads_project(text: str, source: str | None = None) -> Project:
    try:
        raw = json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ProjectError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", source) from None
    except RecursionError:
        raise ProjectError("not a LayerLab project: the JSON is nested too deeply", source) from None
    except _BadLiteral as exc:
        where = _bad_literal_path(text)
        raise ProjectError([Problem(where or "", str(exc))], source) from None
    except ValueError as exc:  # e.g. Python's int-digit limit
        raise ProjectError(f"not valid JSON: {exc}", source) from None
    return parse_project(raw, source)


def load_project(path: str | os.PathLike) -> Project:
    from .fsutil import FileReadError, read_regular_file

    path = Path(path)
    try:
        data = read_regular_file(path, MAX_PROJECT_BYTES, "project file")
        text = data.decode("utf-8-sig")  # a BOM (some Windows editors add one) is fine
    except FileNotFoundError:
        raise ProjectError("file not found", str(path)) from None
    except IsADirectoryError:
        raise ProjectError("is a folder, not a project file", str(path)) from None
    except UnicodeDecodeError:
        raise ProjectError("not a text file (expected JSON)", str(path)) from None
    except FileReadError as exc:
        raise ProjectError(f"{exc.strerror}", str(path)) from None
    except OSError as exc:
        raise ProjectError(f"cannot read: {exc.strerror or exc}", str(path)) from None
    return loads_project(text, str(path))


def save_project(project: Project, path: str | os.PathLike) -> None:
    """Write atomically (temp file + ``os.replace``): a failed write leaves the old file intact."""
    atomic_write_text(path, dumps_project(project))
