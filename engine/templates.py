"""Starter projects (resources/templates/*.json): each is a complete project document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .project import Project, ProjectError, loads_project

ORDER = ("mlp", "cnn", "lstm", "transformer", "dcgan", "cgan", "vae")


@dataclass(frozen=True)
class TemplateInfo:
    name: str  # file stem, what `layerlab new --template NAME` takes
    title: str  # the project's "name"
    description: str  # one line
    task: str
    path: Path


def templates_dir() -> Path:
    return Path(str(resources.files("resources").joinpath("templates")))


def list_templates() -> list[TemplateInfo]:
    out = []
    for p in templates_dir().glob("*.json"):
        raw = json.loads(p.read_text(encoding="utf-8"))
        out.append(
            TemplateInfo(p.stem, raw.get("name", p.stem), raw.get("description", ""), raw.get("train", {}).get("task", "classification"), p)
        )
    rank = {n: i for i, n in enumerate(ORDER)}
    return sorted(out, key=lambda t: (rank.get(t.name, len(ORDER)), t.name))


EMPTY = "empty"  # not a file: an Input and an Output on digits, for building a network from scratch


def empty_project(name: str = "untitled") -> Project:
    """A classifier on the bundled digits whose model is only its Input and Output, not yet connected."""
    return Project.model_validate({
        "name": name,
        "description": "An empty network: add layers between the Input and the Output.",
        "data": {"dataset": "digits"},
        "model": {"nodes": [
            {"id": "input", "type": "Input", "params": {"shape": [1, 28, 28]}, "pos": [0.0, 0.0]},
            {"id": "output", "type": "Output", "params": {}, "pos": [0.0, 400.0]},
        ], "edges": []},
    })


def load_template(name: str) -> Project:
    """A fresh project from template ``name`` (or ``"empty"``); ``ProjectError`` naming the known
    templates otherwise."""
    if name == EMPTY:
        return empty_project()
    path = templates_dir() / f"{name}.json"
    if "/" in name or "\\" in name or not path.is_file():
        known = ", ".join([*(t.name for t in list_templates()), EMPTY])
        raise ProjectError(f"unknown template {name!r} (known: {known})")
    return loads_project(path.read_text(encoding="utf-8"), f"template {name}")
