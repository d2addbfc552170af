"""Pruning a trained run: unstructured (per layer or global L1) and structured (channels really removed).

- ``l1`` / ``global``: ``torch.nn.utils.prune`` (``l1_unstructured`` per weight, or
  ``global_unstructured`` over all of them), made permanent (``prune.remove``) before anything is
  saved. Zeros change neither the file size nor the speed of dense kernels; the comparison shows
  the non-zero count.
- ``structured``: the ``torch-pruning`` library's dependency graph removes whole output channels /
  neurons by L2 magnitude, so Conv -> BatchNorm -> Linear chains stay consistent. The result is a
  NEW project document with the smaller widths plus its weights (a normal run folder): it opens in
  the designer, trains and exports like any model. Nothing pickled.

Fine-tuning (``--finetune-epochs``) runs the engine's training loop on the pruned model; with
unstructured pruning a trainer that re-applies the masks after each step keeps the zeros at zero.
``--rounds R`` alternates pruning and fine-tuning R times up to the target amount. Layers that
cannot be pruned (recurrent and attention layers for structured pruning, the classifier's output)
are reported per layer, not a failure.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CompressError
from .names import PRUNE_METHODS as METHODS

STRUCTURED = {"Conv2d": "out_channels", "Conv1d": "out_channels", "ConvTranspose2d": "out_channels",
              "Linear": "out_features"}
# widths fixed by a neighbour: the next node's shape parameters name them explicitly
FIXED_SHAPE_SUCCESSORS = ("Reshape", "Unflatten")
UNPRUNABLE_STRUCTURED = {
    "LSTM": "recurrent layers are not pruned structurally (their gates share one weight matrix)",
    "GRU": "recurrent layers are not pruned structurally (their gates share one weight matrix)",
    "RNN": "recurrent layers are not pruned structurally",
    "MultiheadAttention": "attention heads are not pruned structurally",
    "TransformerEncoderLayer": "attention heads are not pruned structurally",
    "Embedding": "an embedding table's width is kept",
    "LearnedPositionalEmbedding": "a positional table's width is kept",
}


def _prunable_weights(module: nn.Module, nodes: dict[str, str]) -> list[tuple[str, nn.Module, str]]:
    """(node id, module, parameter name) for every weight matrix / kernel (ndim > 1)."""
    out = []
    for nid in nodes:
        m = getattr(module, nid, None)
        if m is None:
            continue
        for pname, p in m.named_parameters(recurse=False):
            if pname.startswith("weight") and p.ndim > 1:
                out.append((nid, m, pname))
    return out


def sparsity_table(module: nn.Module, nodes: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for nid, m, pname in _prunable_weights(module, nodes):
        p = getattr(m, pname)
        nz = int(torch.count_nonzero(p))
        rows.append({"node": nid, "type": nodes[nid], "param": pname, "size": p.numel(), "nonzero": nz,
                     "sparsity": 1 - nz / max(1, p.numel()), "status": "pruned"})
    return rows


def unstructured(module: nn.Module, nodes: dict[str, str], method: str, amount: float) -> dict[str, torch.Tensor]:
    """Prune in place and make it permanent; returns ``{param path: mask}`` (for masked fine-tuning)."""
    import torch.nn.utils.prune as prune

    targets = _prunable_weights(module, nodes)
    if not targets:
        raise CompressError("this model has no weight matrices or kernels to prune")
    if method == "global":
        prune.global_unstructured([(m, p) for _, m, p in targets], pruning_method=prune.L1Unstructured,
                                  amount=amount)
    else:
        for _, m, p in targets:
            prune.l1_unstructured(m, p, amount=amount)
    masks = {}
    for nid, m, p in targets:
        masks[f"{nid}.{p}"] = getattr(m, f"{p}_mask").detach().clone()
        prune.remove(m, p)
    return masks


def _successors(graph: Any, nid: str) -> list[str]:
    fn = getattr(graph, "successors_of", None)
    if fn is not None:
        return list(fn(nid))
    return [b for a, b, *_ in (tuple(e) if not hasattr(e, "dst") else (e.src, e.dst) for e in graph.edges) if a == nid]


def structured_plan(module: nn.Module, graph: Any, output_id: str) -> tuple[list[nn.Module], list[dict[str, Any]]]:
    """(modules torch-pruning must leave alone, the per-layer report of what is kept and why)."""
    types = {n.id: n.type for n in graph.nodes}
    ignored: list[nn.Module] = []
    report: list[dict[str, Any]] = []
    feeds_output = {a for a in types if output_id in _successors(graph, a)}

    def last_layers(nid: str, seen: set[str]) -> set[str]:
        # the layer(s) whose width is the model's output: walk back through width-preserving nodes
        if nid in seen:
            return set()
        seen.add(nid)
        if types.get(nid) in STRUCTURED or types.get(nid) in UNPRUNABLE_STRUCTURED:
            return {nid}
        srcs = graph.inputs_of(nid)
        return set().union(*(last_layers(s, seen) for s in srcs)) if srcs else set()

    heads = set().union(*(last_layers(s, set()) for s in feeds_output)) if feeds_output else set()
    for nid, typ in types.items():
        m = getattr(module, nid, None)
        if m is None:
            continue
        reason = None
        if nid in heads:
            reason = "the model's output layer (its width is the number of outputs)"
        elif typ in UNPRUNABLE_STRUCTURED:
            reason = UNPRUNABLE_STRUCTURED[typ]
        elif typ in STRUCTURED and any(types.get(s) in FIXED_SHAPE_SUCCESSORS for s in _successors(graph, nid)):
            reason = "feeds a Reshape/Unflatten whose shape names this width"
        elif typ in STRUCTURED and getattr(m, "groups", 1) != 1:
            reason = "grouped convolution"
        if reason is not None:
            ignored.append(m)
            report.append({"node": nid, "type": typ, "status": "kept", "reason": reason})
    return ignored, report


def widths_of(module: nn.Module, graph: Any) -> dict[str, int]:
    out = {}
    for n in graph.nodes:
        attr = STRUCTURED.get(n.type)
        m = getattr(module, n.id, None)
        if attr and m is not None:
            out[n.id] = int(getattr(m, attr))
    return out


def project_with_widths(project: Any, widths: dict[str, int], name_suffix: str = " (pruned)") -> Any:
    """A new project document: the same graph with each pruned layer's width set to what is left."""
    p = project.copy_deep()
    g = p.model
    for n in g.nodes:
        if n.id in widths:
            attr = STRUCTURED[n.type]
            params = dict(n.params)
            params[attr] = widths[n.id]
            n.params = params
    if not p.name.endswith(name_suffix):
        p.name = p.name + name_suffix
    return p


class StructuredPruner:
    """torch-pruning's MetaPruner over a compiled graph, ``rounds`` steps up to ``amount``."""

    def __init__(self, module: nn.Module, graph: Any, example: torch.Tensor, amount: float, rounds: int = 1):
        import torch_pruning as tp

        self.module = module
        ignored, self.kept = structured_plan(module, graph, module.output_id)
        self.pruner = tp.pruner.MetaPruner(
            module, example, importance=tp.importance.MagnitudeImportance(p=2), pruning_ratio=amount,
            iterative_steps=rounds, ignored_layers=ignored)

    def step(self) -> None:
        self.pruner.step()


def rebuild(project: Any, module: nn.Module) -> tuple[Any, nn.Module]:
    """(new project with the pruned widths, its compiled module holding the pruned weights)."""
    from ..graph import compile_graph
    from ..train.checkpoint import state_mismatch

    newp = project_with_widths(project, widths_of(module, project.model))
    fresh, _ = compile_graph(newp.model, graph_path="model")
    state = module.state_dict()
    bad = state_mismatch({"model": state}, {"model": fresh})
    if bad:
        raise CompressError(f"the pruned weights do not fit the rebuilt graph: {bad}")
    fresh.load_state_dict(state)
    return newp, fresh.eval()


class MaskedTrainer:
    """Makes a supervised trainer keep pruned weights at zero while fine-tuning (masks after each step)."""

    @staticmethod
    def make(project: Any, model: nn.Module, masks: dict[str, torch.Tensor]) -> Any:
        from ..train.supervised import SupervisedTrainer

        class _Masked(SupervisedTrainer):
            def setup(self, ctx: Any) -> None:
                super().setup(ctx)
                params = dict(self.model.named_parameters())
                self._masked = [(params[k], m.to(params[k].device)) for k, m in masks.items() if k in params]

            def train_step(self, batch: Any, sc: Any) -> dict[str, Any]:
                logs = super().train_step(batch, sc)
                with torch.no_grad():
                    for p, m in self._masked:
                        p.mul_(m)
                return logs

        return _Masked(project, model)


def finetune(project: Any, module: nn.Module, out_dir: Path, epochs: int, ctx: Any,
             masks: dict[str, torch.Tensor] | None = None, lr_scale: float = 0.5) -> dict[str, Any]:
    """Train ``module`` in place for ``epochs`` through the engine's loop into ``out_dir``."""
    from ..train.loop import TrainLoop
    from ..train.supervised import SupervisedTrainer

    p = project.copy_deep()
    p.train.epochs = epochs
    p.train.max_steps = None
    p.train.early_stopping.enabled = False
    p.train.optimizer.lr = p.train.optimizer.lr * lr_scale
    trainer = MaskedTrainer.make(p, module, masks) if masks else SupervisedTrainer(p, module)
    fin = TrainLoop(p, out_dir, emit=ctx.training_emit(), control=ctx.control, trainer=trainer).run()
    if fin.status == "failed":
        raise RuntimeError("fine-tuning failed (see the log)")
    return {"status": fin.status, **{k: v for k, v in fin.final.items() if k.startswith("val_")}}


def refuse_existing_run(out: Path) -> None:
    """A variant never overwrites a run folder that is already there (its checkpoints, its weights)."""
    if (out / "checkpoints").is_dir() or (out / "model.pt").is_file():
        raise CompressError(f"-o: {out} already holds a run; choose a new output folder")
    if out.exists() and not out.is_dir():
        raise CompressError(f"-o: {out} exists and is not a folder")


def write_run(out_dir: Path, project: Any, module: nn.Module) -> None:
    """A run folder for a variant: ``project.json`` + ``model.pt`` (what ``open_run`` reads)."""
    from ..fsutil import atomic_write_with
    from ..project import save_project

    out_dir.mkdir(parents=True, exist_ok=True)
    save_project(project, out_dir / "project.json")
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    atomic_write_with(out_dir / "model.pt", lambda fh: torch.save(state, fh))


def prune_run(run: Any, method: str, amount: float, out_dir: str | os.PathLike, *, rounds: int = 1,
              finetune_epochs: int = 0, which: str = "final", ctx: Any = None) -> dict[str, Any]:
    """Prune ``run``'s model into the run folder ``out_dir``; returns the report (layers, sparsity, files)."""
    if method not in METHODS:
        raise CompressError(f"--method: unknown method {method!r} (choose {', '.join(METHODS)})")
    if not 0.0 < amount < 1.0:
        raise CompressError(f"--amount: must be between 0 and 1 (a fraction), got {amount}")
    if rounds < 1:
        raise CompressError("--rounds: must be >= 1")
    if run.project.model is None or run.task in ("gan", "vae"):
        raise CompressError(f"prune works on single-model projects (this one is a {run.task.upper()})")
    if ctx is None:
        from ..train.jobs import JobContext

        ctx = JobContext("prune", lambda ev: None, None)
    out = Path(out_dir)
    refuse_existing_run(out)
    project = run.project
    module = copy.deepcopy(run.module("model", which))
    graph = project.model
    nodes = {n.id: n.type for n in graph.nodes}
    params_before = sum(p.numel() for p in module.parameters())
    report: dict[str, Any] = {"method": method, "amount": amount, "rounds": rounds, "out": str(out),
                              "params_before": params_before}
    masks: dict[str, torch.Tensor] | None = None
    pruner = None
    widths_before = widths_of(module, graph)
    if method == "structured":
        b = run.bundle()
        example = run.normalize_fn()(b.val_x[:2])
        pruner = StructuredPruner(module, graph, example, amount, rounds)
        kept = pruner.kept
    else:
        kept = []
    finetuned: list[dict[str, Any]] = []
    for r in range(rounds):
        ctx.progress(f"round {r + 1}/{rounds}: pruning", r / rounds)
        if method == "structured":
            pruner.step()  # the same module object shrinks round by round (iterative_steps = rounds)
            project_r, _ = rebuild(project, module)
        else:
            target = amount if rounds == 1 else 1 - (1 - amount) ** ((r + 1) / rounds)
            # zeros already there are the smallest: pruning to the cumulative target keeps them
            masks = unstructured(module, nodes, method, target)
            project_r = project
        if finetune_epochs:
            ctx.progress(f"round {r + 1}/{rounds}: fine-tuning {finetune_epochs} epoch(s)", (r + 0.5) / rounds)
            # one run folder per round (a run folder holds one run); the last round's is OUT itself
            where = out if r == rounds - 1 else out / "rounds" / str(r + 1)
            finetuned.append(finetune(project_r, module, where, finetune_epochs, ctx, masks))
            if ctx.stopped:
                break
    final_project, final_module = (rebuild(project, module) if method == "structured" else (project, module))
    write_run(out, final_project, final_module)
    from ..runs import write_lineage

    write_lineage(out, run)  # the pruned graph differs: compare knows it by its original's digest
    report["finetune"] = finetuned
    report["params_after"] = sum(p.numel() for p in final_module.parameters())
    report["nonzero_after"] = sum(int(torch.count_nonzero(p)) for p in final_module.parameters())
    if method == "structured":
        after = widths_of(final_module, final_project.model)
        layers = [{"node": k, "type": nodes[k], "before": v, "after": after.get(k, v),
                   "status": "pruned" if after.get(k, v) < v else "kept"} for k, v in widths_before.items()]
        reasons = {row["node"]: row for row in kept}
        for row in layers:
            if row["node"] in reasons:
                row["status"], row["reason"] = "kept", reasons[row["node"]]["reason"]
        layers += [row for row in kept if row["node"] not in widths_before]
        report["layers"] = layers
        if report["params_after"] == params_before:
            report["note"] = ("nothing was pruned: every layer was kept (see the reasons above); "
                              "the output is the original model")
    else:
        report["layers"] = sparsity_table(final_module, nodes)
        total = sum(row["size"] for row in report["layers"])
        report["sparsity"] = 1 - sum(row["nonzero"] for row in report["layers"]) / max(1, total)
        if report["nonzero_after"] == sum(int(torch.count_nonzero(p)) for p in run.module("model", which).parameters()):
            report["note"] = "nothing was pruned: no weight became zero"
    report["project"] = str(out / "project.json")
    report["model"] = str(out / "model.pt")
    ctx.progress("pruned", 1.0)
    return report


def describe_layers(report: dict[str, Any]) -> list[str]:
    lines = []
    for row in report.get("layers", []):
        if "sparsity" in row:
            lines.append(f"  {row['node']:<14} {row['type']:<12} {row['param']:<12} sparsity {row['sparsity']:6.1%}")
        elif row.get("status") == "kept" and "reason" in row:
            lines.append(f"  {row['node']:<14} {row['type']:<12} kept: {row['reason']}")
        else:
            lines.append(f"  {row['node']:<14} {row['type']:<12} {row.get('before', '?')} -> {row.get('after', '?')}")
    return lines

