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


def load_template(name: str) -> Project:
    """A fresh project from template ``name``; ``ProjectError`` naming the known templates otherwise."""
    path = templates_dir() / f"{name}.json"
    if "/" in name or "\\" in name or not path.is_file():
        known = ", ".join(t.name for t in list_templates())
        raise ProjectError(f"unknown template {name!r} (known: {known})")
    return loads_project(path.read_text(encoding="utf-8"), f"template {name}")
