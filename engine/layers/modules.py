"""The custom ``nn.Module`` classes behind registry entries that torch.nn lacks.

Only this module of the registry imports torch; it is imported when a model is built. Every forward
is free of data-dependent Python control flow, so ``torch.export`` and ONNX export can trace it.
"""

from __future__ import annotations

import math

import torch
from torch import nn


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
