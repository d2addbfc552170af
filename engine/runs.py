"""A trained run as an object: the project as trained, its weights, history and checkpoints.

A run folder (what ``layerlab train`` writes) holds ``project.json`` (the document as trained),
``model.pt`` (the final state dict; ``{role: state_dict}`` for GAN/VAE), ``checkpoints/best.pt`` and
``last.pt`` (full training state) and ``history.csv``. ``Run`` opens one and hands out ready,
eval-mode modules, so the compress/export verbs and the studio's views never guess checkpoint keys.

``open_run(checkpoint, project=None)`` is what the CLI verbs use: ``--checkpoint`` names a
``model.pt``, ``best.pt`` or ``last.pt`` (or the folder); the project is the given one, else the
run's ``project.json``, else the copy a checkpoint carries. A given project must be the project as
trained where the run folder holds its own ``project.json``: one that differs in what the model
sees or is (a graph, the task, the data's input settings, the preprocessing and augmentation) is
refused naming the first differences (``project_differences``), so an export never applies the
wrong normalisation and still calls itself verified. Names, descriptions, canvas positions and
training length may differ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .project import Project, ProjectError, load_project, loads_project

WEIGHTS = ("final", "best", "last")


class RunError(ValueError):
    """A run folder or weights file that cannot be used (bad input: names the file and says why)."""


@dataclass(frozen=True)
class Preprocessing:
    """What turns a user's raw pixels into what the model was trained on.

    Training sees ``pixels / scale`` (the datasets give 0..1 floats from 0..255 bytes) and then each
    ``(mean, std)`` pair of the project's ``normalize`` augment entries, in order.
    """

    scale: float = 255.0
    normalize: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = ()
    image: bool = True

    def describe(self) -> str:
        steps = [f"divide by {self.scale:g}"]
        for mean, std in self.normalize:
            steps.append(f"subtract mean {list(mean)}, divide by std {list(std)}")
        return "; then ".join(steps)

    def to_json(self) -> dict[str, Any]:
        return {"input_range": f"0-{self.scale:g}", "scale": self.scale,
                "normalize": [{"mean": list(m), "std": list(s)} for m, s in self.normalize]}


def preprocessing_of(project: Project, channels: int) -> Preprocessing:
    pairs = []
    for a in project.data.augment:
        if a.type != "normalize":
            continue
        mean = list(a.params.get("mean", [0.5]))
        std = list(a.params.get("std", [0.5]))
        mean = mean * channels if len(mean) == 1 else mean
        std = std * channels if len(std) == 1 else std
        pairs.append((tuple(float(v) for v in mean), tuple(float(v) for v in std)))
    return Preprocessing(normalize=tuple(pairs))


class Run:
    """One trained run. Build with ``Run.open(folder)`` or ``open_run(checkpoint, project)``."""

    def __init__(self, directory: str | os.PathLike, project: Project, weights: str | os.PathLike | None = None):
        self.dir = Path(directory)
        self.project = project
        self._weights = Path(weights) if weights is not None else None
        self._states: dict[str, dict[str, dict[str, Any]]] = {}

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | os.PathLike, project: Project | None = None) -> Run:
        d = Path(directory)
        if not d.is_dir():
            raise RunError(f"{d}: run folder not found")
        if project is None:
            project = _project_of_folder(d)
        return cls(d, project)

    # -- files --------------------------------------------------------------------------------
    def weights_path(self, which: str = "final") -> Path:
        """``final`` (model.pt), ``best`` or ``last`` (checkpoints); the file given to ``open_run`` wins."""
        if which not in WEIGHTS:
            raise ValueError(f"which must be one of {', '.join(WEIGHTS)}, not {which!r}")
        if self._weights is not None and which == "final":
            return self._weights
        p = self.dir / "model.pt" if which == "final" else self.dir / "checkpoints" / f"{which}.pt"
        if not p.is_file():
            raise RunError(f"{p}: not found (this run has {', '.join(self.available()) or 'no weights'})")
        return p

    def available(self) -> list[str]:
        out = []
        if (self.dir / "model.pt").is_file() or self._weights is not None:
            out.append("final")
        out += [w for w in ("best", "last") if (self.dir / "checkpoints" / f"{w}.pt").is_file()]
        return out

    def checkpoints(self) -> dict[str, str]:
        return {w: str(self.dir / "checkpoints" / f"{w}.pt") for w in ("best", "last")
                if (self.dir / "checkpoints" / f"{w}.pt").is_file()}

    def history(self) -> list[dict[str, float]]:
        p = self.dir / "history.csv"
        if not p.is_file():
            return []
        from .train.history import read_history_csv

        return read_history_csv(p)

    @property
    def roles(self) -> list[str]:
        if self.project.model is not None:
            return ["model"]
        return list(self.project.models or {})

    @property
    def task(self) -> str:
        return self.project.train.task

    # -- weights and modules ------------------------------------------------------------------
    def state_dict(self, role: str = "model", which: str = "final") -> dict[str, Any]:
        if which not in self._states:
            self._states[which] = self._read_states(self.weights_path(which))
        states = self._states[which]
        if role == "generator" and "generator_ema" in states:  # what the run draws its samples with
            return states["generator_ema"]
        if role not in states:
            raise RunError(f"{self.weights_path(which)}: holds no weights for {role!r} "
                           f"(it has {', '.join(states) or 'none'})")
        return states[role]

    def _read_states(self, path: Path) -> dict[str, dict[str, Any]]:
        from .train.checkpoint import FORMAT, CheckpointError, read_torch_file

        try:
            data = read_torch_file(path)
        except CheckpointError as exc:
            raise RunError(str(exc)) from None
        if isinstance(data, dict) and data.get("format") == FORMAT:
            models = (data.get("trainer") or {}).get("models") or {}
            return {k: v for k, v in models.items() if isinstance(v, dict)}
        if not isinstance(data, dict):
            raise RunError(f"{path}: not a state dict or LayerLab checkpoint")
        roles = self.roles
        if roles != ["model"] and all(isinstance(data.get(r), dict) for r in roles):
            return {k: v for k, v in data.items() if isinstance(v, dict)}
        if isinstance(data.get("model"), dict):
            return {"model": data["model"]}
        return {roles[0]: data}

    def graph_path(self, role: str) -> str:
        return "model" if role == "model" else f"models.{role}"

    def module(self, role: str = "model", which: str = "final") -> Any:
        """A freshly compiled module for ``role`` with the run's weights, in eval mode, on the CPU."""
        from .graph import compile_graph
        from .train.checkpoint import state_mismatch

        graph = self.project.graph(role)
        module, _ = compile_graph(graph, graph_path=self.graph_path(role))
        state = self.state_dict(role, which)
        bad = state_mismatch({role: state}, {role: module})
        if bad:
            raise RunError(f"{self.weights_path(which)}: does not fit the project's {role} graph: {bad}")
        module.load_state_dict(state)
        return module.eval()

    def modules(self, which: str = "final") -> dict[str, Any]:
        return {r: self.module(r, which) for r in self.roles}

    # -- data ---------------------------------------------------------------------------------
    def bundle(self) -> Any:
        """The run's dataset, split as in training (float 0..1 tensors, not yet normalised)."""
        from .data import load_bundle

        return load_bundle(self.project.data)

    def preprocessing(self) -> Preprocessing:
        shape = self.input_shape()
        channels = shape[0] if len(shape) == 3 else 1
        pre = preprocessing_of(self.project, channels)
        return pre if len(shape) == 3 else Preprocessing(normalize=(), image=False)

    def input_shape(self) -> tuple[int, ...]:
        from .graph import analyze

        role = "model" if self.project.model is not None else self.roles[0]
        res = analyze(self.project.graph(role), self.graph_path(role))
        if not res.input_ids:
            return ()
        info = res.node(res.input_ids[0])
        return tuple(info.output_shape or ()) if info else ()

    def normalize_fn(self) -> Any:
        """``x (0..1) -> model input`` as in training (identity when the project has no normalize)."""
        shape = self.input_shape()
        if len(shape) != 3 or not any(a.type == "normalize" for a in self.project.data.augment):
            return lambda x: x
        from .data.augment import build_normalize

        norm = build_normalize(self.project.data.augment, shape[0])
        return norm[0] if norm else (lambda x: x)

    def describe(self) -> str:
        return f"{self.project.name} ({self.dir})"


def _project_of_folder(d: Path) -> Project:
    p = d / "project.json"
    if p.is_file():
        try:
            return load_project(p)
        except ProjectError as exc:
            raise RunError(str(exc)) from None
    raise RunError(f"{d}: no project.json (not a LayerLab run folder)")


def run_folder_of(weights: Path) -> Path:
    """``DIR/model.pt`` -> DIR; ``DIR/checkpoints/best.pt`` -> DIR."""
    parent = weights.parent
    return parent.parent if parent.name == "checkpoints" else parent


def open_run(checkpoint: str | os.PathLike, project: Project | str | os.PathLike | None = None) -> Run:
    """The run a ``--checkpoint`` belongs to (a folder, model.pt, best.pt or last.pt).

    A ``project`` given beside a run folder that has its own ``project.json`` must agree with it on
    what the model sees and is (``check_as_trained``), else ``RunError`` naming the differences."""
    ck = Path(checkpoint)
    source = None
    if isinstance(project, (str, os.PathLike)):
        source = project
        try:
            project = load_project(project)
        except ProjectError as exc:
            raise RunError(str(exc)) from None
    if ck.is_dir():
        if project is not None:
            check_as_trained(project, ck, source)
        return Run.open(ck, project)
    if not ck.is_file():
        raise RunError(f"{ck}: checkpoint file not found")
    folder = run_folder_of(ck)
    if project is None:
        if (folder / "project.json").is_file():
            project = _project_of_folder(folder)
        else:
            project = _project_in_checkpoint(ck)
    else:
        check_as_trained(project, folder, source)
    return Run(folder, project, weights=ck)


# the data settings that decide what the model is fed (and so what an export must apply inside)
DATA_INPUT_FIELDS = ("dataset", "image_size", "resize", "channels", "csv_target", "csv_header", "csv_layout")


def _graph_key(graph: Any) -> dict[str, Any]:
    from .layers import get_layer

    nodes = {}
    for n in graph.nodes:
        spec = get_layer(n.type)
        nodes[n.id] = (n.type, spec.resolve(n.params) if spec is not None else dict(n.params))
    return {"nodes": nodes, "edges": sorted((e.src, e.dst, e.port) for e in graph.edges)}


def _graph_differences(path: str, a: Any, b: Any) -> list[str]:
    ka, kb = _graph_key(a), _graph_key(b)
    out = []
    for nid in sorted(set(ka["nodes"]) | set(kb["nodes"])):
        if nid not in kb["nodes"]:
            out.append(f"{path}: node {nid!r} is not in the run's graph")
        elif nid not in ka["nodes"]:
            out.append(f"{path}: the run's node {nid!r} is missing")
        elif ka["nodes"][nid][0] != kb["nodes"][nid][0]:
            out.append(f"{path}: node {nid!r} is a {ka['nodes'][nid][0]}, trained as a {kb['nodes'][nid][0]}")
        else:
            pa, pb = ka["nodes"][nid][1], kb["nodes"][nid][1]
            for k in sorted(set(pa) | set(pb)):
                if pa.get(k) != pb.get(k):
                    out.append(f"{path}: node {nid!r} {k} = {pa.get(k)!r}, trained with {pb.get(k)!r}")
    if ka["edges"] != kb["edges"]:
        ea, eb = set(ka["edges"]), set(kb["edges"])
        extra = ", ".join(f"{s}->{d}" for s, d, _ in sorted(ea - eb)) or "none"
        missing = ", ".join(f"{s}->{d}" for s, d, _ in sorted(eb - ea)) or "none"
        out.append(f"{path}: the edges differ (not in the run: {extra}; missing: {missing})")
    return out


def project_differences(given: Project, trained: Project) -> list[str]:
    """What in ``given`` changes the model's inputs or outputs against the project as ``trained``
    (empty when they agree on every graph, the task, the data's input settings and the preprocessing)."""
    out = []
    ga, gb = given.all_graphs(), trained.all_graphs()
    for path in sorted(set(ga) | set(gb)):
        if path not in gb:
            out.append(f"{path}: not in the project as trained")
        elif path not in ga:
            out.append(f"{path}: the run has this graph, the file does not")
        else:
            out += _graph_differences(path, ga[path], gb[path])
    if given.train.task != trained.train.task:
        out.append(f"train.task: {given.train.task!r}, trained as {trained.train.task!r}")
    for f in DATA_INPUT_FIELDS:
        a, b = getattr(given.data, f), getattr(trained.data, f)
        if a != b:
            out.append(f"data.{f}: {a!r}, trained with {b!r}")
    aug_a = [a.model_dump(mode="json") for a in given.data.augment]
    aug_b = [a.model_dump(mode="json") for a in trained.data.augment]
    if aug_a != aug_b:
        def show(augs: list[dict[str, Any]]) -> str:
            return ", ".join(f"{a['type']}{a.get('params') or ''}" for a in augs) or "none"

        out.append(f"data.augment (preprocessing): {show(aug_a)}; trained with {show(aug_b)}")
    return out


# what a file LayerLab writes from a run records about where it comes from (ONNX metadata_props,
# safetensors metadata, a variant run folder's ``lineage.json``)
DIGEST_KEY, ORIGINAL_KEY, SOURCE_KEY, NAME_KEY = ("layerlab.project_digest", "layerlab.original_digest",
                                                  "layerlab.source_run", "layerlab.project_name")
LINEAGE_FILE = "lineage.json"


def project_digest(project: Project) -> str:
    """A stable hash of what ``project_differences`` compares (every graph, the task, the data's input
    settings, the preprocessing): two projects have the same digest exactly when it finds no difference."""
    import hashlib
    import json

    key = {
        "graphs": {path: _graph_key(g) for path, g in sorted(project.all_graphs().items())},
        "task": project.train.task,
        "data": {f: getattr(project.data, f) for f in DATA_INPUT_FIELDS},
        "augment": [a.model_dump(mode="json") for a in project.data.augment],
    }
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def read_lineage(folder: Path) -> dict[str, str]:
    """A variant run folder's recorded origin (``{}`` when it has none or it does not read)."""
    import json

    try:
        data = json.loads((Path(folder) / LINEAGE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(data, dict) else {}


def lineage_of(run: Run) -> dict[str, str]:
    """What a file written from ``run`` records: its project's digest, the original's digest (the run's own
    unless it is itself a variant of another), the run folder's name and the project's name."""
    digest = project_digest(run.project)
    return {DIGEST_KEY: digest, ORIGINAL_KEY: read_lineage(run.dir).get(ORIGINAL_KEY, digest),
            SOURCE_KEY: run.dir.name, NAME_KEY: run.project.name}


def write_lineage(folder: Path, original: Run) -> None:
    """Record in a variant run folder (prune, distill) that it was made from ``original``."""
    import json

    from .fsutil import atomic_write_text

    meta = lineage_of(original)
    meta.pop(DIGEST_KEY)  # the folder's own project.json says that
    atomic_write_text(Path(folder) / LINEAGE_FILE, json.dumps(meta, indent=2) + "\n")


def check_as_trained(project: Project, folder: Path, source: str | os.PathLike | None = None) -> None:
    """``RunError`` naming the differences when ``project`` is not the run folder's own project as trained."""
    own = folder / "project.json"
    if not own.is_file():
        return
    try:
        trained = load_project(own)
    except ProjectError:
        return  # the given project is all there is to go by
    diffs = project_differences(project, trained)
    if not diffs:
        return
    name = f"{source}" if source is not None else "the project given"
    shown = diffs[:5] + ([f"... and {len(diffs) - 5} more"] if len(diffs) > 5 else [])
    raise RunError(f"{name} is not the project this run was trained with ({own}):\n  "
                   + "\n  ".join(shown) + f"\npass the run's own project: {own}")


def _project_in_checkpoint(ck: Path) -> Project:
    from .train.checkpoint import FORMAT, CheckpointError, read_torch_file

    try:
        data = read_torch_file(ck)
    except CheckpointError as exc:
        raise RunError(str(exc)) from None
    text = data.get("project") if isinstance(data, dict) and data.get("format") == FORMAT else None
    if not isinstance(text, str):
        raise RunError(f"{ck}: a plain weights file with no project.json beside it; give the project file too")
    try:
        return loads_project(text, f"{ck} (embedded project)")
    except ProjectError as exc:
        raise RunError(str(exc)) from None
