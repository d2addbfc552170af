"""Attention and sequence layers: self-attention, Transformer encoder, positions, pooling. Pure Python."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import LayerSpec, Param, Shape, ShapeError, need_rank, one, register, shape_str

MOD = "engine.layers.modules"
SEQ = "[length, features] sequence"


def _heads_check(t: str, x: Shape, heads: int, pname: str) -> None:
    if x[1] % heads:
        raise ShapeError(
            f"{t} splits the {x[1]} features of {shape_str(x)} across {pname}={heads} heads, which needs "
            f"{x[1]} to be divisible by {heads}"
        )


def _mha_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x = one(s)
    need_rank("MultiheadAttention", x, (2,), SEQ)
    _heads_check("MultiheadAttention", x, p["num_heads"], "num_heads")
    return x


def _mha_params(e: int, bias: bool) -> int:
    return 4 * e * e + (4 * e if bias else 0)


def _attn_macs(length: int, e: int) -> int:
    # q, k, v and output projections + scores (Q K^T) + weighted sum of values
    return 4 * length * e * e + 2 * length * length * e


register(LayerSpec(
    type="MultiheadAttention",
    category="attention",
    doc="Self-attention: every position of a sequence [length, features] looks at every other position and "
        "mixes in what is relevant, in `num_heads` parallel ways. The core of Transformers; the number of "
        "features must be divisible by num_heads. Output has the same shape as the input.",
    params=(
        Param("num_heads", "int", 2, "parallel attention heads (must divide the feature size)", min=1, max=1024),
        Param("dropout", "float", 0.0, "dropout on the attention weights while training", min=0, max=1),
        Param("bias", "bool", True, "learn offsets in the projections"),
    ),
    infer=_mha_infer,
    construct=lambda s, p: (f"{MOD}.MultiheadAttention", {"embed_dim": one(s)[1], "num_heads": p["num_heads"],
                                                          "dropout": float(p["dropout"]), "bias": p["bias"]}),
    count=lambda s, o, p: (_mha_params(one(s)[1], p["bias"]), _attn_macs(*one(s))),
    example_in=((5, 8), (3, 4)),
))


def _tel_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x = one(s)
    need_rank("TransformerEncoderLayer", x, (2,), SEQ)
    _heads_check("TransformerEncoderLayer", x, p["nhead"], "nhead")
    return x


def _tel_count(s: Sequence[Shape], o: Shape, p: dict[str, Any]) -> tuple[int, int]:
    length, e = one(s)
    ff = p["dim_feedforward"]
    params = _mha_params(e, True) + (e * ff + ff) + (ff * e + e) + 4 * e
    return params, _attn_macs(length, e) + 2 * length * e * ff


register(LayerSpec(
    type="TransformerEncoderLayer",
    category="attention",
    doc="One Transformer encoder block: self-attention followed by a small two-layer network, each with a "
        "residual connection and LayerNorm. Works on a sequence [length, d_model] (d_model = the input's "
        "feature size, divisible by nhead). Add positions first (PositionalEncoding) since attention ignores order.",
    params=(
        Param("nhead", "int", 2, "attention heads (must divide the feature size)", min=1, max=1024),
        Param("dim_feedforward", "int", 128, "width of the feed-forward network inside the block", min=1,
              max=1_000_000),
        Param("dropout", "float", 0.1, "dropout inside the block while training", min=0, max=1),
        Param("activation", "choice", "relu", "activation of the feed-forward network", choices=("relu", "gelu")),
        Param("norm_first", "bool", False, "normalize before (true, 'pre-LN', trains more stably) or after each part"),
    ),
    infer=_tel_infer,
    construct=lambda s, p: ("torch.nn.TransformerEncoderLayer", {
        "d_model": one(s)[1], "nhead": p["nhead"], "dim_feedforward": p["dim_feedforward"],
        "dropout": float(p["dropout"]), "activation": p["activation"], "norm_first": p["norm_first"],
        "batch_first": True}),
    count=_tel_count,
    example_in=((5, 8), (3, 6)),
))


def _seq_infer(t: str):
    def infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
        x = one(s)
        need_rank(t, x, (2,), SEQ)
        return x

    return infer


register(LayerSpec(
    type="PositionalEncoding",
    category="attention",
    doc="Adds fixed sine and cosine waves of different speeds to a sequence [length, d_model], so that "
        "attention layers can tell positions apart. Nothing to learn; put it right before the first "
        "TransformerEncoderLayer.",
    params=(),
    infer=_seq_infer("PositionalEncoding"),
    construct=lambda s, p: (f"{MOD}.PositionalEncoding", {"seq_len": one(s)[0], "d_model": one(s)[1]}),
    example_in=((5, 8), (4, 3)),
))

register(LayerSpec(
    type="LearnedPositionalEmbedding",
    category="attention",
    doc="Adds a learned vector for each position to a sequence [length, d_model] (as in BERT and ViT). More "
        "flexible than PositionalEncoding, but it only knows the sequence length it was built for.",
    params=(Param("init_std", "float", 0.02, "spread of the random starting values", min=0, max=10),),
    infer=_seq_infer("LearnedPositionalEmbedding"),
    construct=lambda s, p: (f"{MOD}.LearnedPositionalEmbedding", {"seq_len": one(s)[0], "d_model": one(s)[1],
                                                                  "init_std": float(p["init_std"])}),
    count=lambda s, o, p: (one(s)[0] * one(s)[1], 0),
    example_in=((5, 8),),
))


def _pool_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x = one(s)
    if len(x) < 2:
        raise ShapeError(f"SequencePool needs a {SEQ} input, got {shape_str(x)}")
    return x[1:]


register(LayerSpec(
    type="SequencePool",
    category="attention",
    doc="Summarizes a sequence [length, features] into one vector [features]: the mean or max over all "
        "steps, or just the first or last step. Use it after a Transformer or a recurrent layer with "
        "return_sequence, before the classifier.",
    params=(Param("mode", "choice", "mean", "how the steps are combined", choices=("mean", "max", "last", "first")),),
    infer=_pool_infer,
    construct=lambda s, p: (f"{MOD}.SequencePool", {"mode": p["mode"]}),
    example_in=((5, 8), (3, 2, 4)),
))
