"""The custom ``nn.Module`` classes behind registry entries that torch.nn lacks, and ``GraphModule``.

Only this module of the registry imports torch; it is imported when a model is built. Every forward
is free of data-dependent Python control flow, so ``torch.export`` and ONNX export can trace it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from engine.graph import CompileResult
    from engine.project import GraphSpec


class Reshape(nn.Module):
    """Reshape every sample to ``shape`` (batch dim kept; ``shape`` fully resolved, no -1)."""

    def __init__(self, shape: list[int] | tuple[int, ...]):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={list(self.shape)}"


def _last_step(out: torch.Tensor, hidden: int, bidirectional: bool) -> torch.Tensor:
    if not bidirectional:
        return out[:, -1]
    # forward direction ends at the last step, the backward one at the first
    return torch.cat([out[:, -1, :hidden], out[:, 0, hidden:]], dim=-1)


class _SequenceMixin:
    hidden_size: int
    bidirectional: bool
    return_sequence: bool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The torch layer's output sequence (its hidden state dropped), or its last step."""
        out, _ = super().forward(x)  # nn.RNN / nn.LSTM / nn.GRU, next in the MRO
        return out if self.return_sequence else _last_step(out, self.hidden_size, self.bidirectional)


class RNN(_SequenceMixin, nn.RNN):
    """``nn.RNN`` (batch_first) returning the sequence or the last step, without the hidden state."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, dropout: float = 0.0, bidirectional: bool = False, return_sequence: bool = False):
        super().__init__(input_size, hidden_size, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias,
                         batch_first=True, dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        self.return_sequence = return_sequence


class LSTM(_SequenceMixin, nn.LSTM):
    """``nn.LSTM`` (batch_first) returning the sequence or the last step, without (h, c)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 dropout: float = 0.0, bidirectional: bool = False, return_sequence: bool = False):
        super().__init__(input_size, hidden_size, num_layers=num_layers, bias=bias, batch_first=True,
                         dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        self.return_sequence = return_sequence


class GRU(_SequenceMixin, nn.GRU):
    """``nn.GRU`` (batch_first) returning the sequence or the last step, without the hidden state."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 dropout: float = 0.0, bidirectional: bool = False, return_sequence: bool = False):
        super().__init__(input_size, hidden_size, num_layers=num_layers, bias=bias, batch_first=True,
                         dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        self.return_sequence = return_sequence


class MultiheadAttention(nn.MultiheadAttention):
    """Self-attention: query = key = value = the input [batch, L, E]; returns only the attended values."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out, _ = super().forward(x, x, x, need_weights=False)
        return out


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    """The [length, dim] sinusoidal position table of "Attention Is All You Need"."""
    pos = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: dim // 2])
    return pe


class PositionalEncoding(nn.Module):
    """Adds fixed sine/cosine position signals to a [L, D] sequence (nothing to learn)."""

    def __init__(self, seq_len: int, d_model: int):
        super().__init__()
        self.seq_len, self.d_model = seq_len, d_model
        self.register_buffer("pe", sinusoidal_table(seq_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe.to(x.dtype)

    def extra_repr(self) -> str:
        return f"seq_len={self.seq_len}, d_model={self.d_model}"


class LearnedPositionalEmbedding(nn.Module):
    """Adds a learned [L, D] table (one vector per position) to the sequence; parameter ``weight``."""

    def __init__(self, seq_len: int, d_model: int, init_std: float = 0.02):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(seq_len, d_model) * init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


class SequencePool(nn.Module):
    """Pools a sequence [batch, L, ...] over L: mean, max, last or first step."""

    def __init__(self, mode: str = "mean"):
        super().__init__()
        if mode not in ("mean", "max", "last", "first"):
            raise ValueError(f"SequencePool mode must be mean, max, last or first, got {mode!r}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "mean":
            return x.mean(dim=1)
        if self.mode == "max":
            return x.amax(dim=1)
        if self.mode == "last":
            return x[:, -1]
        return x[:, 0]

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class Add(nn.Module):
    """Elementwise sum of its inputs (identical shapes)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Multiply(nn.Module):
    """Elementwise product of its inputs (identical shapes)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    """Joins its inputs along ``dim`` (counted without the batch dim; negative counts from the end)."""

    def __init__(self, dim: int = 0):
        super().__init__()
        self.dim = dim
        self._tdim = dim + 1 if dim >= 0 else dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self._tdim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# ---------------------------------------------------------------------------------------------


class GraphModule(nn.Module):
    """A compiled graph: an ordinary ``nn.Module`` with one submodule per node, named by node id.

    ``forward(*inputs)`` takes one tensor per Input node (``input_ids`` order: the Input nodes'
    document order) and returns the Output node's tensor. Build it with ``engine.graph.compile_graph``.
    """

    def __init__(self, spec_graph: GraphSpec, result: CompileResult):
        from engine.graph import CompileError, NodeError, _index_bound

        from . import get_layer

        super().__init__()
        self.input_ids: list[str] = list(result.input_ids)
        self.output_id: str = result.output_id or ""
        info = {i.id: i for i in result.nodes}
        self.input_shapes: list[tuple[int, ...]] = [tuple(info[i].output_shape or ()) for i in self.input_ids]
        self.input_dtypes: list[str] = [info[i].dtype or "float" for i in self.input_ids]
        self.output_shape: tuple[int, ...] = tuple(info[self.output_id].output_shape or ())
        nodes = {n.id: n for n in spec_graph.nodes}
        steps: list[tuple[str, tuple[str, ...], bool]] = []
        for i in result.nodes:
            if not i.connected or i.type == "Input":
                continue
            spec = get_layer(i.type)
            assert spec is not None
            module = spec.build(list(i.in_shapes), spec.resolve(nodes[i.id].params))
            if module is not None:
                if hasattr(self, i.id):
                    raise CompileError(
                        [NodeError(i.id, f"node id {i.id!r} clashes with a module attribute; rename it", result.graph)],
                        result.graph,
                    )
                self.add_module(i.id, module)
            steps.append((i.id, tuple(i.inputs), module is not None))
        self.steps = steps
        self.node_ids: list[str] = [i.id for i in result.nodes if i.connected]
        # long (index) inputs: the smallest num_embeddings they reach bounds valid example indices
        self.input_high: list[int] = [_index_bound(i, spec_graph) for i in self.input_ids]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != len(self.input_ids):
            raise TypeError(
                f"this model takes {len(self.input_ids)} input(s) ({', '.join(self.input_ids)}), got {len(inputs)}"
            )
        values: dict[str, torch.Tensor] = dict(zip(self.input_ids, inputs))
        for nid, srcs, has_module in self.steps:
            if has_module:
                values[nid] = self._modules[nid](*[values[s] for s in srcs])
            else:
                values[nid] = values[srcs[0]]
        return values[self.output_id]

    def example_inputs(self, batch: int = 2, device: Any = None) -> tuple[torch.Tensor, ...]:
        """Random inputs that fit: standard-normal floats, valid indices for long inputs."""
        out = []
        for shape, dtype, high in zip(self.input_shapes, self.input_dtypes, self.input_high):
            if dtype == "long":
                out.append(torch.randint(0, high, (batch, *shape), device=device))
            else:
                out.append(torch.randn(batch, *shape, device=device))
        return tuple(out)

    def extra_repr(self) -> str:
        return f"inputs={self.input_ids}, output={self.output_id!r}"
