"""Convolution, pooling, upsampling and image-shaped normalization/dropout. Pure Python."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import (
    LayerSpec,
    Param,
    Shape,
    ShapeError,
    conv_out,
    need_rank,
    numel,
    one,
    pair,
    register,
    shape_str,
)

IMG = "[channels, height, width]"
SEQ = "[channels, length]"


def _p(name: str, kind: str, default: Any, doc: str, lo: int = 0, hi: int = 1024) -> Param:
    return Param(name, kind, default, doc, min=lo, max=hi)


def _groups_check(t: str, cin: int, cout: int, groups: int) -> None:
    if cin % groups or cout % groups:
        raise ShapeError(f"{t} groups={groups} must divide both the input channels ({cin}) and out_channels ({cout})")


def _spatial(t: str, sizes: Sequence[int], k: Sequence[int], s: Sequence[int], pd: Sequence[int],
             d: Sequence[int], x: Shape) -> tuple[int, ...]:
    out = []
    for size, kk, ss, pp, dd in zip(sizes, k, s, pd, d):
        span = dd * (kk - 1) + 1
        o = conv_out(size, kk, ss, pp, dd)
        if o < 1:
            raise ShapeError(
                f"{t} kernel (size {kk}" + (f", dilation {dd}" if dd > 1 else "") + f", covering {span}) is bigger "
                f"than the input {shape_str(x)} plus padding {pp}; use a smaller kernel or more padding"
            )
        out.append(o)
    return tuple(out)


_CONV_DOC_TAIL = (
    "`kernel_size` is the window size, `stride` the step between windows (2 halves the size), `padding` adds "
    "a border of zeros (kernel_size//2 keeps the size)."
)


def _conv_params(kind: str) -> tuple[Param, ...]:
    return (
        _p("out_channels", "int", 16, "how many filters (output channels) to learn", 1, 65536),
        _p("kernel_size", kind, 3, "size of the sliding window", 1, 1024),
        _p("stride", kind, 1, "step between windows", 1, 1024),
        _p("padding", kind, 0, "zeros added on each side", 0, 1024),
        _p("dilation", kind, 1, "spacing between kernel elements (>1 widens the view)", 1, 1024),
        _p("groups", "int", 1, "split channels into independent groups (= channels: depthwise)", 1, 65536),
        Param("bias", "bool", True, "add a learned offset per output channel"),
    )


def _conv_kw(cin: int, p: dict[str, Any], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    kw = {"in_channels": cin}
    for k in ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias", *extra):
        v = p[k]
        kw[k] = list(v) if isinstance(v, (list, tuple)) else v
    return kw


# ------------------------------------------------------------------------------------------- Conv


def _conv1d_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x = one(s)
    need_rank("Conv1d", x, (2,), SEQ)
    _groups_check("Conv1d", x[0], p["out_channels"], p["groups"])
    (length,) = _spatial("Conv1d", x[1:], [p["kernel_size"]], [p["stride"]], [p["padding"]], [p["dilation"]], x)
    return (p["out_channels"], length)


def _conv1d_count(s: Sequence[Shape], o: Shape, p: dict[str, Any]) -> tuple[int, int]:
    cin, cout, k, g = one(s)[0], p["out_channels"], p["kernel_size"], p["groups"]
    per_out = cin // g * k
    return cout * per_out + (cout if p["bias"] else 0), numel(o) * per_out


register(LayerSpec(
    type="Conv1d",
    category="conv",
    doc="A 1-D convolution: slides learned filters along a sequence or signal [channels, length], finding "
        "local patterns wherever they occur. " + _CONV_DOC_TAIL,
    params=_conv_params("int"),
    infer=_conv1d_infer,
    construct=lambda s, p: ("torch.nn.Conv1d", _conv_kw(one(s)[0], p)),
    count=_conv1d_count,
    example_in=((3, 20), (1, 8)),
))


def _conv2d_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x = one(s)
    need_rank("Conv2d", x, (3,), IMG)
    _groups_check("Conv2d", x[0], p["out_channels"], p["groups"])
    h, w = _spatial("Conv2d", x[1:], pair(p["kernel_size"]), pair(p["stride"]), pair(p["padding"]),
                    pair(p["dilation"]), x)
    return (p["out_channels"], h, w)


def _conv2d_count(s: Sequence[Shape], o: Shape, p: dict[str, Any]) -> tuple[int, int]:
    cin, cout, g = one(s)[0], p["out_channels"], p["groups"]
    kh, kw = pair(p["kernel_size"])
    per_out = cin // g * kh * kw
    return cout * per_out + (cout if p["bias"] else 0), numel(o) * per_out


register(LayerSpec(
    type="Conv2d",
    category="conv",
    doc="A 2-D convolution, the workhorse of image models: slides learned filters over an image "
        "[channels, height, width], each producing one feature map (edges, textures, parts). " + _CONV_DOC_TAIL,
    params=_conv_params("int_or_pair"),
    infer=_conv2d_infer,
    construct=lambda s, p: ("torch.nn.Conv2d", _conv_kw(one(s)[0], p)),
    count=_conv2d_count,
    example_in=((1, 28, 28), (3, 9, 7)),
))


def _convt_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x = one(s)
    need_rank("ConvTranspose2d", x, (3,), IMG)
    _groups_check("ConvTranspose2d", x[0], p["out_channels"], p["groups"])
    out = []
    for size, k, st, pd, op, d in zip(x[1:], pair(p["kernel_size"]), pair(p["stride"]), pair(p["padding"]),
                                      pair(p["output_padding"]), pair(p["dilation"])):
        if op >= st and op >= d:
            raise ShapeError(f"ConvTranspose2d output_padding ({op}) must be smaller than stride ({st}) or dilation ({d})")
        o = (size - 1) * st - 2 * pd + d * (k - 1) + op + 1
        if o < 1:
            raise ShapeError(f"ConvTranspose2d padding {pd} is too large for input {shape_str(x)}: the output would be empty")
        out.append(o)
    return (p["out_channels"], *out)


def _convt_count(s: Sequence[Shape], o: Shape, p: dict[str, Any]) -> tuple[int, int]:
    x = one(s)
    cin, cout, g = x[0], p["out_channels"], p["groups"]
    kh, kw = pair(p["kernel_size"])
    per_in = cout // g * kh * kw
    return cin * per_in + (cout if p["bias"] else 0), numel(x) * per_in


_convt_params = list(_conv_params("int_or_pair"))
_convt_params[1] = _p("kernel_size", "int_or_pair", 4, "size of the sliding window", 1, 1024)
_convt_params[2] = _p("stride", "int_or_pair", 2, "upsampling factor (2 doubles height and width)", 1, 1024)
_convt_params[3] = _p("padding", "int_or_pair", 1, "trims this many pixels from each side of the output", 0, 1024)
_convt_params.insert(4, _p("output_padding", "int_or_pair", 0, "extra rows/cols added on one side of the output "
                           "(must be < stride)", 0, 1024))

register(LayerSpec(
    type="ConvTranspose2d",
    category="conv",
    doc="A transposed ('up') convolution: grows an image, e.g. [64, 7, 7] -> [32, 14, 14] with the defaults "
        "(kernel 4, stride 2, padding 1). Used in GAN generators, VAE decoders and segmentation nets. "
        "Output size = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1.",
    params=tuple(_convt_params),
    infer=_convt_infer,
    construct=lambda s, p: ("torch.nn.ConvTranspose2d", _conv_kw(one(s)[0], p, ("output_padding",))),
    count=_convt_count,
    example_in=((8, 7, 7), (3, 5, 6)),
))

# ---------------------------------------------------------------------------------------- pooling


def _pool_params(kind: str) -> tuple[Param, ...]:
    return (
        _p("kernel_size", kind, 2, "size of the pooling window", 1, 1024),
        _p("stride", kind, 2, "step between windows (usually = kernel_size)", 1, 1024),
        _p("padding", kind, 0, "zeros (or -inf) added on each side; at most half the kernel", 0, 512),
    )


def _pool_infer(t: str, rank: int):
    def infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
        x = one(s)
        need_rank(t, x, (rank,), IMG if rank == 3 else SEQ)
        ks = pair(p["kernel_size"]) if rank == 3 else (p["kernel_size"],)
        st = pair(p["stride"]) if rank == 3 else (p["stride"],)
        pd = pair(p["padding"]) if rank == 3 else (p["padding"],)
        for k, q in zip(ks, pd):
            if q > k // 2:
                raise ShapeError(f"{t} padding ({q}) must be at most half the kernel size ({k})")
        return (x[0], *_spatial(t, x[1:], ks, st, pd, [1] * len(ks), x))

    return infer


def _pool_kw(p: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in p.items()}


for _t, _rank, _doc in (
    ("MaxPool2d", 3, "Shrinks an image by keeping the largest value in each window (2x2 by default, halving "
                     "height and width). Keeps the strongest responses and makes the model tolerant to small shifts."),
    ("AvgPool2d", 3, "Shrinks an image by averaging each window (2x2 by default, halving height and width). A "
                     "smoother alternative to MaxPool2d."),
    ("MaxPool1d", 2, "Shrinks a sequence [channels, length] by keeping the largest value in each window."),
    ("AvgPool1d", 2, "Shrinks a sequence [channels, length] by averaging each window."),
):
    register(LayerSpec(
        type=_t,
        category="conv",
        doc=_doc,
        params=_pool_params("int_or_pair" if _rank == 3 else "int"),
        infer=_pool_infer(_t, _rank),
        construct=lambda s, p, _t=_t: (f"torch.nn.{_t}", _pool_kw(p)),
        example_in=((2, 8, 8), (3, 7, 5)) if _rank == 3 else ((2, 8),),
    ))


def _adaptive_infer(t: str, rank: int):
    def infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
        x = one(s)
        need_rank(t, x, (rank,), IMG if rank == 3 else SEQ)
        return (x[0], *(pair(p["output_size"]) if rank == 3 else (p["output_size"],)))

    return infer


register(LayerSpec(
    type="AdaptiveAvgPool2d",
    category="conv",
    doc="Averages each channel down to a fixed `output_size` whatever the input size. With output_size 1 it "
        "is 'global average pooling': [C, H, W] -> [C, 1, 1], a common last step before the classifier.",
    params=(_p("output_size", "int_or_pair", 1, "height and width of the result", 1, 4096),),
    infer=_adaptive_infer("AdaptiveAvgPool2d", 3),
    construct=lambda s, p: ("torch.nn.AdaptiveAvgPool2d", _pool_kw(p)),
    example_in=((4, 7, 7),),
))

register(LayerSpec(
    type="AdaptiveAvgPool1d",
    category="conv",
    doc="Averages a sequence [channels, length] down to a fixed `output_size` length, whatever the input length.",
    params=(_p("output_size", "int", 1, "length of the result", 1, 65536),),
    infer=_adaptive_infer("AdaptiveAvgPool1d", 2),
    construct=lambda s, p: ("torch.nn.AdaptiveAvgPool1d", _pool_kw(p)),
    example_in=((4, 9),),
))


def _upsample_infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
    x = one(s)
    need_rank("Upsample", x, (3,), IMG)
    f = p["scale_factor"]
    return (x[0], x[1] * f, x[2] * f)


register(LayerSpec(
    type="Upsample",
    category="conv",
    doc="Enlarges an image by a whole `scale_factor` (2 doubles height and width) without learning anything: "
        "'nearest' repeats pixels, 'bilinear' blends them. Followed by a Conv2d it is a smooth alternative "
        "to ConvTranspose2d in generators and decoders.",
    params=(
        _p("scale_factor", "int", 2, "how many times larger", 1, 64),
        Param("mode", "choice", "nearest", "how new pixels are filled in", choices=("nearest", "bilinear")),
    ),
    infer=_upsample_infer,
    construct=lambda s, p: ("torch.nn.Upsample", {"scale_factor": float(p["scale_factor"]), "mode": p["mode"]}),
    example_in=((2, 5, 6),),
))

# ------------------------------------------------------------------------- image-shaped helpers


def _img_infer(t: str):
    def infer(s: Sequence[Shape], p: dict[str, Any]) -> Shape:
        x = one(s)
        need_rank(t, x, (3,), IMG)
        return x

    return infer


register(LayerSpec(
    type="BatchNorm2d",
    category="conv",
    doc="Batch normalization for images: rescales each channel to zero mean and unit variance over the batch "
        "and all pixels, then applies a learned scale and shift. Put it between a Conv2d and its activation; "
        "deep CNNs and GANs train much faster with it.",
    params=(
        Param("eps", "float", 1e-5, "small number added to the variance to avoid dividing by zero", min=1e-12, max=1),
        Param("momentum", "float", 0.1, "how fast the running statistics follow the batches", min=0, max=1),
        Param("affine", "bool", True, "learn a scale and shift per channel"),
    ),
    infer=_img_infer("BatchNorm2d"),
    construct=lambda s, p: ("torch.nn.BatchNorm2d", {"num_features": one(s)[0], "eps": p["eps"],
                                                     "momentum": p["momentum"], "affine": p["affine"]}),
    count=lambda s, o, p: (2 * one(s)[0] if p["affine"] else 0, 0),
    example_in=((4, 5, 5),),
))

register(LayerSpec(
    type="Dropout2d",
    category="conv",
    doc="Dropout for images: while training, zeroes whole channels (feature maps) at random with probability "
        "`p`, which suits convolutional features better than dropping single pixels.",
    params=(Param("p", "float", 0.5, "fraction of channels dropped while training", min=0, max=1),),
    infer=_img_infer("Dropout2d"),
    construct=lambda s, p: ("torch.nn.Dropout2d", {"p": float(p["p"])}),
    example_in=((4, 5, 5),),
))
