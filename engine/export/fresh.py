"""The fresh-process half of export verification: ``python -m engine.export.fresh KIND FILE IN.npz OUT.npy``.

Loads an exported ``.pt2`` (``torch.export.load``) or a generated Python file (imported from its path,
weights read with ``weights_only=True``) in a process that shares nothing with the exporter, runs it
on the inputs and saves the output. Exit 0 when it ran; any failure prints one line and exits 1.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import torch


def _load_python(path: str, extra: dict) -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location("layerlab_exported_model", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load(extra["weights"])


def main(argv: list[str]) -> int:
    kind, path, inp, outp = argv[:4]
    extra = json.loads(argv[4]) if len(argv) > 4 else {}
    torch.set_num_threads(1)
    with np.load(inp) as z:
        args = tuple(torch.from_numpy(z[k]) for k in sorted(z.files, key=lambda s: int(s.split("_")[1])))
    if kind == "pt2":
        model = torch.export.load(path).module()
    elif kind == "python":
        model = _load_python(path, extra)
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    outs = []
    with torch.no_grad():
        for i in range(0, len(args[0]), 256):
            outs.append(model(*[a[i:i + 256] for a in args]).float().numpy())
    np.save(outp, np.concatenate(outs))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception as exc:  # one line for the parent's error message
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
