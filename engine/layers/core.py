"""Core layers: Input/Output, Linear, normalization, dropout, reshaping, activations, Embedding.

Pure Python: ``infer`` computes shapes, ``construct`` names the torch class and its kwargs.
Shapes exclude the batch dim.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import (
    LayerSpec,
    Param,
    Shape,
    ShapeError,
    batched_dim,
    need_rank,
    numel,
    one,
    register,
    shape_str,
)

MOD = "engine.layers.modules"

# --------------------------------------------------------------------------------------------- io

register(LayerSpec(
    type="Input",
    category="io",
    doc=(
        "Where data enters the model. Set `shape` to the size of ONE sample without the batch, e.g. "
        "[1, 28, 28] for a grey 28x28 image, [64] for a noise vector, or [] for one class label. "
        "Use dtype long for whole-number inputs such as labels or tokens (they feed an Embedding)."
    ),
    params=(
        Param("shape", "shape", [1, 28, 28], "size of one sample, without the batch dim", required=True,
              allow_empty=True),
        Param("dtype", "choice", "float", "float for measurements and pixels, long for labels/tokens",
              choices=("float", "long")),
    ),
    infer=lambda s, p: tuple(p["shape"]),
    construct=None,
    min_inputs=0,
    max_inputs=0,
    in_dtype="any",
    example_in=(),
))

register(LayerSpec(
    type="Output",
    category="io",
    doc=(
        "Marks the model's result: whatever arrives here is what the model returns (for a classifier, "
        "one score per class). Every model has exactly one Output with exactly one input."
    ),
    params=(),
    infer=lambda s, p: one(s),
    construct=None,
    min_inputs=1,
    max_inputs=1,
    in_dtype="any",
))

# ------------------------------------------------------------------------------------------ dense


def _linear_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x = one(s)
    if not x:
        raise ShapeError("Linear needs at least one feature dimension, got a scalar []; use a larger Input shape")
    return (*x[:-1], p["out_features"])


def _linear_count(s: Sequence[Shape], out: Shape, p: dict[str, Any]) -> tuple[int, int]:
    x = one(s)
    fin, fout = x[-1], p["out_features"]
    return fin * fout + (fout if p["bias"] else 0), numel(x[:-1]) * fin * fout


register(LayerSpec(
    type="Linear",
    category="core",
    doc=(
        "A fully connected layer: every output is a weighted sum of all inputs plus a bias. It works on "
        "the last dimension, so flatten images first. `out_features` sets how many numbers come out; "
        "the last Linear of a classifier has one output per class."
    ),
    params=(
        Param("out_features", "int", 128, "how many numbers come out per sample", min=1, max=1_000_000),
        Param("bias", "bool", True, "add a learned offset to each output"),
    ),
    infer=_linear_infer,
    construct=lambda s, p: ("torch.nn.Linear", {"in_features": one(s)[-1], "out_features": p["out_features"],
                                                "bias": p["bias"]}),
    count=_linear_count,
    example_in=((20,), (3, 7)),
))

# ---------------------------------------------------------------------------------- normalization


def _bn1d_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x = one(s)
    need_rank("BatchNorm1d", x, (1, 2), "[features] or [channels, length]")
    return x


register(LayerSpec(
    type="BatchNorm1d",
    category="core",
    doc=(
        "Batch normalization for feature vectors [features] or sequences/signals [channels, length]: "
        "rescales each feature to zero mean and unit variance over the batch, then applies a learned "
        "scale and shift. Speeds up and stabilizes training; put it after a Linear or Conv1d."
    ),
    params=(
        Param("eps", "float", 1e-5, "small number added to the variance to avoid dividing by zero", min=1e-12, max=1),
        Param("momentum", "float", 0.1, "how fast the running statistics follow the batches", min=0, max=1),
        Param("affine", "bool", True, "learn a scale and shift per feature"),
    ),
    infer=_bn1d_infer,
    construct=lambda s, p: ("torch.nn.BatchNorm1d", {"num_features": one(s)[0], "eps": p["eps"],
                                                     "momentum": p["momentum"], "affine": p["affine"]}),
    count=lambda s, o, p: (2 * one(s)[0] if p["affine"] else 0, 0),
    example_in=((12,), (4, 9)),
))


def _ln_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x = one(s)
    if not x:
        raise ShapeError("LayerNorm needs at least one feature dimension, got a scalar []")
    return x


register(LayerSpec(
    type="LayerNorm",
    category="core",
    doc=(
        "Layer normalization: rescales each sample's last dimension to zero mean and unit variance, then "
        "applies a learned scale and shift. Unlike BatchNorm it does not depend on the batch, which makes "
        "it the usual choice in Transformers and recurrent models."
    ),
    params=(
        Param("eps", "float", 1e-5, "small number added to the variance to avoid dividing by zero", min=1e-12, max=1),
        Param("elementwise_affine", "bool", True, "learn a scale (and shift) per feature"),
        Param("bias", "bool", True, "learn the shift too (only with elementwise_affine)"),
    ),
    infer=_ln_infer,
    construct=lambda s, p: ("torch.nn.LayerNorm", {"normalized_shape": one(s)[-1], "eps": p["eps"],
                                                   "elementwise_affine": p["elementwise_affine"],
                                                   "bias": p["bias"]}),
    count=lambda s, o, p: ((one(s)[-1] * (1 + int(p["bias"]))) if p["elementwise_affine"] else 0, 0),
    example_in=((10,), (5, 8)),
))

register(LayerSpec(
    type="Dropout",
    category="core",
    doc=(
        "During training, sets a random fraction `p` of the values to zero (and scales the rest up), so "
        "the network cannot rely on any single feature. Fights overfitting; does nothing at evaluation."
    ),
    params=(Param("p", "float", 0.5, "fraction of values dropped while training", min=0, max=1),),
    infer=lambda s, p: one(s),
    construct=lambda s, p: ("torch.nn.Dropout", {"p": float(p["p"])}),
    example_in=((10,), (2, 5, 5)),
))

# -------------------------------------------------------------------------------------- reshaping


def _flatten_dims(s: Sequence[Shape], p: dict[str, Any]) -> tuple[Shape, int, int]:
    x = one(s)
    if not x:
        raise ShapeError("Flatten needs an input with at least one dimension, got a scalar []")
    a = batched_dim("Flatten", p["start_dim"], len(x), "start_dim")
    b = batched_dim("Flatten", p["end_dim"], len(x), "end_dim")
    if a > b:
        raise ShapeError(f"Flatten start_dim={p['start_dim']} comes after end_dim={p['end_dim']} for input "
                         f"{shape_str(x)}")
    return x, a, b


def _flatten_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x, a, b = _flatten_dims(s, p)
    return (*x[:a], numel(x[a:b + 1]), *x[b + 1:])


register(LayerSpec(
    type="Flatten",
    category="core",
    doc=(
        "Turns each sample into one long vector, e.g. [16, 7, 7] -> [784], so a Linear layer can use it. "
        "Dims follow PyTorch (dim 0 is the batch): the default start_dim=1, end_dim=-1 flattens "
        "everything except the batch."
    ),
    params=(
        Param("start_dim", "int", 1, "first dim to flatten (1 = first dim after the batch)"),
        Param("end_dim", "int", -1, "last dim to flatten (-1 = the last one)"),
    ),
    infer=_flatten_infer,
    construct=lambda s, p: ("torch.nn.Flatten", {"start_dim": p["start_dim"], "end_dim": p["end_dim"]}),
    in_dtype="any",
    example_in=((2, 3, 4), (6,)),
))


def _resolve_sizes(type_name: str, total: int, sizes: Sequence[int], what: str) -> tuple[int, ...]:
    sizes = list(sizes)
    known = numel([v for v in sizes if v != -1])
    if -1 in sizes:
        if known == 0 or total % known:
            raise ShapeError(f"{type_name} cannot fit {total} values into {shape_str(sizes)} ({what})")
        sizes[sizes.index(-1)] = total // known
    elif known != total:
        raise ShapeError(f"{type_name} to {shape_str(sizes)} needs {known} values, but the input has {total} ({what})")
    return tuple(sizes)


def _unflatten_resolved(s: Sequence[Shape], p: dict[str, Any]) -> tuple[Shape, int, tuple[int, ...]]:
    x = one(s)
    if not x:
        raise ShapeError("Unflatten needs an input with at least one dimension, got a scalar []")
    d = batched_dim("Unflatten", p["dim"], len(x))
    if not p["unflattened_size"]:
        raise ShapeError("Unflatten needs at least one size in unflattened_size, e.g. [1, 28, 28]")
    sizes = _resolve_sizes("Unflatten", x[d], p["unflattened_size"], f"dim {p['dim']} of {shape_str(x)}")
    return x, d, sizes


def _unflatten_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x, d, sizes = _unflatten_resolved(s, p)
    return (*x[:d], *sizes, *x[d + 1:])


register(LayerSpec(
    type="Unflatten",
    category="core",
    doc=(
        "The opposite of Flatten: splits one dimension into several, e.g. [784] -> [1, 28, 28] so a "
        "vector can be treated as an image again (as in a decoder or GAN generator). Dims follow PyTorch "
        "(dim 1 = first dim after the batch); one size may be -1 to be worked out."
    ),
    params=(
        Param("dim", "int", 1, "which dim to split (1 = first dim after the batch)"),
        Param("unflattened_size", "shape", [1, 28, 28], "the sizes it splits into (one may be -1)",
              allow_infer=True),
    ),
    infer=_unflatten_infer,
    construct=lambda s, p: ("torch.nn.Unflatten", {"dim": p["dim"],
                                                   "unflattened_size": list(_unflatten_resolved(s, p)[2])}),
    in_dtype="any",
    example_in=((784,), (784, 3)),
))


def _reshape_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x = one(s)
    return _resolve_sizes("Reshape", numel(x), p["shape"], f"input {shape_str(x)}")


register(LayerSpec(
    type="Reshape",
    category="core",
    doc=(
        "Rearranges each sample's values into a new shape with the same number of values, e.g. "
        "[1, 28, 28] -> [28, 28] to read an image row by row with an LSTM. One size may be -1 to be "
        "worked out from the others; the batch dim is kept."
    ),
    params=(Param("shape", "shape", [-1], "new shape of one sample, without the batch (one size may be -1)",
                  allow_infer=True),),
    infer=_reshape_infer,
    construct=lambda s, p: (f"{MOD}.Reshape", {"shape": list(_reshape_infer(s, p))}),
    in_dtype="any",
    example_in=((1, 4, 6),),
))

register(LayerSpec(
    type="Identity",
    category="core",
    doc="Passes its input through unchanged. Handy as a placeholder or a junction point in a graph.",
    params=(),
    infer=lambda s, p: one(s),
    construct=lambda s, p: ("torch.nn.Identity", {}),
    in_dtype="any",
    example_in=((3, 5),),
))

# ------------------------------------------------------------------------------------ activations


def _softmax_infer(type_name: str):
    def infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
        x = one(s)
        if not x:
            raise ShapeError(f"{type_name} needs at least one dimension to normalize, got a scalar []")
        batched_dim(type_name, p["dim"], len(x))
        return x

    return infer


def _activation(type_name: str, doc: str, params: tuple[Param, ...] = (), kw: tuple[str, ...] = (),
                infer: Any = None) -> None:
    register(LayerSpec(
        type=type_name,
        category="core",
        doc=doc,
        params=params,
        infer=infer or (lambda s, p: one(s)),
        construct=lambda s, p: (f"torch.nn.{type_name}", {k: p[k] for k in kw}),
        example_in=((10,), (2, 4, 4)),
    ))


_activation("ReLU", "Rectified linear unit: keeps positive values and sets negatives to 0. The default "
            "non-linearity between layers: simple, fast and works well almost everywhere.")
_activation("LeakyReLU", "Like ReLU, but negative values are multiplied by a small `negative_slope` instead of "
            "zeroed, so units never go completely silent. Popular in GAN discriminators.",
            (Param("negative_slope", "float", 0.01, "slope for negative inputs (e.g. 0.2 in GANs)", min=0, max=1),),
            ("negative_slope",))
_activation("GELU", "Gaussian error linear unit: a smooth version of ReLU used in Transformers such as BERT and GPT.",
            (Param("approximate", "choice", "none", "'tanh' uses a slightly faster approximation",
                   choices=("none", "tanh")),), ("approximate",))
_activation("ELU", "Exponential linear unit: like ReLU for positives, smoothly saturating at -alpha for "
            "negatives, which keeps mean activations near zero.",
            (Param("alpha", "float", 1.0, "value negative inputs saturate towards (as -alpha)", min=0, max=100),),
            ("alpha",))
_activation("SiLU", "Sigmoid linear unit (swish): x * sigmoid(x). A smooth ReLU alternative used in modern "
            "convolutional networks and diffusion models.")
_activation("Sigmoid", "Squashes every value into (0, 1). Use it at the end for yes/no probabilities or "
            "for pixel outputs in [0, 1] (e.g. a VAE decoder); as a hidden activation it trains slowly.")
_activation("Tanh", "Squashes every value into (-1, 1). Common as the last layer of a GAN generator whose "
            "images are scaled to [-1, 1], and inside recurrent networks.")
_activation("Softmax", "Turns a vector of scores into probabilities that sum to 1 along `dim`. Do not put it "
            "before a cross-entropy loss (the loss already applies it); use it to read probabilities.",
            (Param("dim", "int", -1, "the dim that sums to 1 (-1 = last; dim 0 is the batch)"),), ("dim",),
            _softmax_infer("Softmax"))
_activation("LogSoftmax", "The logarithm of Softmax, computed stably. Pair it with a negative log-likelihood "
            "loss; with cross-entropy you do not need it.",
            (Param("dim", "int", -1, "the dim that is normalized (-1 = last; dim 0 is the batch)"),), ("dim",),
            _softmax_infer("LogSoftmax"))


# -------------------------------------------------------------------------------------- embedding


register(LayerSpec(
    type="Embedding",
    category="core",
    doc=(
        "A lookup table that turns whole-number ids (class labels, word or token ids) into learned "
        "vectors of size `embedding_dim`. Its input comes from an Input with dtype long: one id [] gives "
        "[embedding_dim], a sequence [L] gives [L, embedding_dim]. Ids must be below `num_embeddings`."
    ),
    params=(
        Param("num_embeddings", "int", 10, "how many different ids there are (e.g. 10 classes)", min=1,
              max=10_000_000),
        Param("embedding_dim", "int", 16, "length of the vector learned for each id", min=1, max=100_000),
    ),
    infer=lambda s, p: (*one(s), p["embedding_dim"]),
    construct=lambda s, p: ("torch.nn.Embedding", {"num_embeddings": p["num_embeddings"],
                                                   "embedding_dim": p["embedding_dim"]}),
    count=lambda s, o, p: (p["num_embeddings"] * p["embedding_dim"], 0),
    in_dtype="long",
    example_in=((), (7,)),
))
