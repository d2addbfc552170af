"""The ``layerlab import`` verb (registered by ``engine.cli``): a model file into a project for the designer.

``layerlab import MODEL.py:ClassName | torchvision:NAME | MODEL.onnx -o P.json`` writes ``P.json`` and
its weights ``P.pt``, prints the check against the source (the module, or onnxruntime for ONNX) and
writes ``--report``. Exit codes: 0 ok; 2 bad input (the file, a flag, or nodes with no LayerLab
layer, one line per node); 1 the imported graph does not give the source's outputs. Building the
parser imports nothing heavy; torch and onnx load when the verb runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2


def add_import_verb(sub: Any) -> None:
    from .importing import SOURCES

    s = sub.add_parser("import", help="turn a PyTorch model (torch.fx) or an ONNX graph into a LayerLab project "
                       "to open in the designer")
    s.add_argument("source", metavar=SOURCES)
    s.add_argument("-o", "--output", required=True, metavar="PROJECT.json", help="the project to write (its "
                   "weights go beside it as PROJECT.pt)")
    s.add_argument("--input-shape", metavar="C,H,W", help="one sample's shape; for several inputs one "
                   "shape each, ';' between them, empty for a class label (64;) (default: the ONNX model's inputs; the "
                   "shapes LayerLab's generated class names; 3,224,224 for torchvision; else 1,28,28)")
    s.add_argument("--weights", metavar="W.pt", help="a state dict to load into the PyTorch model first "
                   "(weights_only)")
    s.add_argument("--force", action="store_true", help="overwrite an existing project file")
    s.add_argument("--report", metavar="R.json", help="write a JSON report here")
    s.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from ..cli import check_output_file, write_report
    from .importing import ImportError_, import_source, parse_input_shape, write_import

    out = Path(args.output)
    if out.exists() and not args.force:
        print(f"error: {out} exists (use --force to overwrite)", file=sys.stderr)
        return EXIT_BAD_INPUT
    check_output_file(str(out), "-o")
    if args.report:
        check_output_file(args.report, "--report")
    report: dict[str, Any] = {"source": args.source, "project": str(out)}
    try:
        res = import_source(args.source, parse_input_shape(args.input_shape), args.weights)
    except ImportError_ as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        write_report(args.report, {**report, "ok": False,
                                   "problems": [{"node": p.node, "message": p.message} for p in exc.problems]})
        return EXIT_BAD_INPUT
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        write_report(args.report, {**report, "ok": False, "error": str(exc)})
        return EXIT_BAD_INPUT
    except RuntimeError as exc:  # the check: the imported graph answers differently
        print(f"error: {exc}", file=sys.stderr)
        write_report(args.report, {**report, "ok": False, "error": str(exc)})
        return EXIT_FAIL
    weights = write_import(res, out)
    n = len(res.project.model.nodes)
    print(f"wrote {out} ({n} nodes from {res.source_nodes} source operations, {res.params:,} parameters) and its "
          f"weights {weights}")
    for note in res.notes:
        print(f"note: {note}")
    print(f"verified: the compiled project gives {res.reference}'s outputs (max abs diff {res.max_abs_diff:.2e})")
    write_report(args.report, {**report, "ok": True, "weights": str(weights), "nodes": n,
                               "source_nodes": res.source_nodes, "params": res.params,
                               "max_abs_diff": res.max_abs_diff, "verified_against": res.reference,
                               "preprocessing": res.preprocessing, "notes": res.notes})
    return EXIT_OK
