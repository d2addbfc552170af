"""The compiler: ``analyze`` (pure Python: order, shapes, counts, every problem per node), ``build``
(an ``nn.Module`` with readable names), ``codegen`` (plain PyTorch source), ``fixes`` (one-click
repairs). ``import engine.graph`` never imports torch; ``compile_graph``/``GraphModule`` do, on use.
"""

from __future__ import annotations

from typing import Any

from .analyze import (
    CompileError,
    CompileResult,
    NodeError,
    NodeInfo,
    analyze,
    analyze_project,
    problems_of,
    reserved_id_problem,
)


def compile_graph(*args: Any, **kwargs: Any):
    from .build import compile_graph as _compile

    return _compile(*args, **kwargs)


def compile_project_graph(*args: Any, **kwargs: Any):
    from .build import compile_project_graph as _compile

    return _compile(*args, **kwargs)


def __getattr__(name: str) -> Any:  # ``from engine.graph import GraphModule`` imports torch only then
    if name == "GraphModule":
        from .build import GraphModule

        return GraphModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NodeError",
    "NodeInfo",
    "CompileResult",
    "CompileError",
    "GraphModule",
    "analyze",
    "analyze_project",
    "problems_of",
    "compile_graph",
    "compile_project_graph",
    "reserved_id_problem",
]
