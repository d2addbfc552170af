"""The ``layerlab`` verbs prune / quantize / distill / export / compare (registered by ``engine.cli``).

Each verb builds the same job the studio runs (``engine.compress.jobs``), runs it inline with
progress on stderr, prints what it wrote, the verification and the comparison, and writes
``--report`` with ``variants`` (one row per model compared, the original first). Exit codes: 0 ok,
2 bad input (names the file or flag), 1 failure during work (a failed verification included),
130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

EPILOG = ("Progress goes to stderr; what was written, the verification and the comparison table to stdout. "
          "Exit codes: 0 done (a step that changed nothing says so in a note and still exits 0), 2 bad input "
          "(project, checkpoint, option, output path: the message names it), 1 failure during the work "
          "(a failed verification included; its file is removed), 130 stopped with Ctrl+C.")


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that ends each option with its default, where there is one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def _verb(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", epilog=EPILOG,
                          formatter_class=_DefaultsFormatter)


def _common(p: argparse.ArgumentParser, out_help: str | None, force: bool = False, compare: bool = True) -> None:
    p.add_argument("project", metavar="FILE.json",
                   help="the project as trained (the run folder's project.json; another file is refused if it differs)")
    p.add_argument("--checkpoint", required=True, metavar="CKPT",
                   help="the trained weights: a run folder's model.pt, checkpoints/best.pt or last.pt")
    if out_help:
        p.add_argument("-o", "--output", required=True, metavar="OUT", help=out_help)
    if force:
        p.add_argument("--force", action="store_true",
                       help="replace an existing output file (never the checkpoint or the run's own files)")
    p.add_argument("--report", metavar="R.json", help="write a JSON report (with `variants`) here")
    if compare:
        p.add_argument("--no-compare", action="store_true", help="skip the comparison (latency, accuracy)")
    p.add_argument("--quiet", action="store_true", help="print only errors and the result")


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1 (e.g. 0.5), got {text}")
    return v


def _count(text: str, lo: int = 0) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < lo:
        raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
    return v


def add_compress_verbs(sub: Any) -> None:
    # the choices come from a torch-free module: building the parser (`layerlab --help`, `check`) imports no torch
    from .names import DISTILL_AUGMENTS
    from .names import EXPORT_FORMATS as FORMATS
    from .names import PRUNE_METHODS as PRUNE
    from .names import QUANT_METHODS as QUANT

    s = _verb(sub, "prune", "prune a trained model (unstructured L1, global, or structured channels)")
    _common(s, "output run folder (project.json + model.pt; structured: the smaller project)")
    s.add_argument("--method", choices=PRUNE, default="global",
                   help="l1: per layer; global: one L1 threshold over all layers; structured: remove channels")
    s.add_argument("--amount", type=_fraction, default=0.5, help="fraction of weights / channels to remove")
    s.add_argument("--rounds", type=lambda t: _count(t, 1), default=1, help="prune -> fine-tune rounds")
    s.add_argument("--finetune-epochs", type=_count, default=0, help="fine-tuning epochs per round")
    s.set_defaults(func=cmd_prune)

    s = _verb(sub, "quantize", "quantize a trained model (int8 ONNX, fp16/bf16 weights)")
    _common(s, "output file (.onnx for int8, .pt for fp16/bf16)", force=True)
    s.add_argument("--method", choices=QUANT, default="static-int8",
                   help="int8 flows write an ONNX file (ONNX Runtime); fp16 / bf16 a state dict of cast weights")
    s.set_defaults(func=cmd_quantize)

    s = _verb(sub, "distill", "train a smaller student on a trained teacher's soft targets")
    _common(s, "the student's run folder")
    s.add_argument("--student", required=True, metavar="STUDENT.json", help="the student project")
    s.add_argument("--epochs", type=lambda t: _count(t, 1), help="student epochs (default: the student project's train.epochs)")
    s.add_argument("--temperature", type=float, default=4.0, help="softening temperature T of both models' outputs")
    s.add_argument("--alpha", type=float, default=0.7, help="weight of the soft-target term (0..1)")
    s.add_argument("--baseline", action="store_true", help="also train the same student from scratch and compare")
    s.add_argument("--augment", choices=DISTILL_AUGMENTS, default="teacher",
                   help="the student's training images: the teacher's data settings, or also randomly "
                        "shifted, scaled and rotated (the teacher labels each shifted image; --baseline gets the same)")
    s.set_defaults(func=cmd_distill)

    s = _verb(sub, "export", "export a trained model (each format verified; a model card beside it)")
    _common(s, "output file (the suffix follows the format)", force=True)
    s.add_argument("--format", choices=FORMATS, default="onnx",
                   help="onnx .onnx, safetensors .safetensors, state-dict .pt, pt2 .pt2, python .py")
    s.set_defaults(func=cmd_export)

    s = _verb(sub, "compare", "compare a trained model with its variants (size, latency, accuracy)")
    s.__class__ = _intermixed(type(s))  # `compare FILE.json --checkpoint CKPT V1 V2`: variants after the flag
    _common(s, None, compare=False)
    s.add_argument("variants", nargs="*", metavar="VARIANT",
                   help="run folders (prune/distill), .onnx files (quantize/export) or fp16/bf16 .pt weights")
    s.set_defaults(func=cmd_compare)


def _intermixed(cls: type) -> type:
    """A parser class whose positionals may come after its options (argparse splits them otherwise)."""

    class Intermixed(cls):  # type: ignore[misc, valid-type]
        _inside = False

        def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
            if self._inside:  # parse_known_intermixed_args calls back into parse_known_args
                return super().parse_known_args(args, namespace)
            self._inside = True
            try:
                return self.parse_known_intermixed_args(args, namespace)
            finally:
                self._inside = False

    return Intermixed


class _Printer:
    def __init__(self, quiet: bool):
        from ..train.api import CliProgress

        self.quiet = quiet
        self.train = CliProgress(quiet=quiet)
        self.result: dict[str, Any] | None = None
        self.errors: list[Any] = []
        self.last_stage = ""

    def __call__(self, ev: Any) -> None:
        from ..train.events import Error, Finished, JobProgress, JobResult

        if isinstance(ev, JobResult):
            self.result = ev.result
        elif isinstance(ev, JobProgress):
            if not self.quiet and ev.stage != self.last_stage:
                print(f"[{ev.fraction:4.0%}] {ev.stage}", file=sys.stderr, flush=True)
                self.last_stage = ev.stage
        elif isinstance(ev, Error):
            self.errors.append(ev)
        elif not isinstance(ev, Finished):
            self.train(ev)


def _run(job: Any, args: argparse.Namespace) -> int:
    from ..cli import check_output_file, write_report
    from ..train.jobs import run_job
    from ..train.loop import Control

    check_output_file(args.report, "--report")
    printer = _Printer(args.quiet)
    control = Control()
    prev = None
    try:
        prev = signal.signal(signal.SIGINT, lambda *_: control.put_from_signal("stop"))
    except ValueError:  # not in the main thread
        pass
    try:
        fin = run_job(job, printer, control)
    finally:
        if prev is not None:
            signal.signal(signal.SIGINT, prev)
    if fin.status == "stopped":
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if fin.status == "failed":
        err = printer.errors[-1] if printer.errors else None
        msg = err.message if err else "failed"
        for line in msg.splitlines():
            print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT if err is not None and err.kind == "bad_project" else EXIT_FAIL
    result = printer.result or {}
    _print_result(job.kind, result)
    report = {"verb": job.kind, "status": fin.status, **result, "variants": result.get("variants", [])}
    write_report(args.report, report)
    return EXIT_OK


def _print_result(kind: str, result: dict[str, Any]) -> None:
    from .compare import Row, format_table
    from .prune import describe_layers

    for e in result.get("exports", []):
        v = e["verification"]
        agree = f", agreement {v['agreement']:.1%}" if "agreement" in v else ""
        acc = f", accuracy {v['accuracy']:.2%}" if "accuracy" in v else ""
        print(f"wrote {e['path']} ({e['role']}; card {e['card']})")
        print(f"  verified on {v.get('n')} inputs ({v.get('runtime', 'torch')}): max abs diff "
              f"{v.get('max_abs_diff', float('nan')):.2e}{agree}{acc}; input: {v.get('inputs')}")
    if "quantized" in result:
        q = result["quantized"]
        print(f"wrote {q['path']} ({q['method']}, runs in {q['runtime']}"
              + (f", computed in {q['compute']}" if q.get("compute") else "") + (f"; card {q['card']}" if q.get("card") else "")
              + ")")
        if q.get("note"):
            print(f"  note: {q['note']}")
        head = q.get("float_head") or []
        if head:
            layers = sorted({h["layer"] or h["name"] for h in head if h["op"] == "Conv"})
            print(f"  kept in float: {', '.join(layers)} (reads the image's few channels: int8 gains nothing on "
                  f"dot products that short) with the ReLU / max-pool after it ({len(head)} ONNX nodes)")
    if "pruned" in result:
        r = result["pruned"]
        extra = f", sparsity {r['sparsity']:.1%}" if "sparsity" in r else ""
        print(f"wrote {r['out']} (project.json + model.pt): {r['params_before']:,} -> {r['params_after']:,} "
              f"parameters, {r['nonzero_after']:,} non-zero{extra}")
        for line in describe_layers(r):
            print(line)
        if r.get("note"):
            print(f"  note: {r['note']}")
    if "distilled" in result:
        d = result["distilled"]
        print(f"wrote {d['out']} (student: {d['student_params']:,} parameters; teacher {d['teacher_params']:,})")
        acc = d["distilled"].get("val_accuracy")
        if acc is not None:
            print(f"  distilled student: val accuracy {acc:.2%}")
        if d.get("scratch"):
            print(f"  same student from scratch: val accuracy {d['scratch'].get('val_accuracy', float('nan')):.2%}")
    rows = result.get("variants") or []
    if rows:
        fields = set(Row.__dataclass_fields__)
        print()
        print(format_table([Row(**{k: v for k, v in r.items() if k in fields}) for r in rows]))


def _paths(args: argparse.Namespace) -> tuple[str, str]:
    return str(args.checkpoint), str(args.project)


def cmd_prune(args: argparse.Namespace) -> int:
    from .jobs import PruneJob

    ck, proj = _paths(args)
    return _run(PruneJob(ck, proj, compare=not args.no_compare, method=args.method, amount=args.amount,
                         rounds=args.rounds, finetune_epochs=args.finetune_epochs, out=args.output), args)


def cmd_quantize(args: argparse.Namespace) -> int:
    from .jobs import QuantizeJob

    ck, proj = _paths(args)
    return _run(QuantizeJob(ck, proj, compare=not args.no_compare, method=args.method, out=args.output,
                             force=args.force), args)


def cmd_distill(args: argparse.Namespace) -> int:
    from .jobs import DistillJob

    if not Path(args.student).is_file():
        print(f"error: --student: {args.student}: file not found", file=sys.stderr)
        return EXIT_BAD_INPUT
    ck, proj = _paths(args)
    return _run(DistillJob(ck, proj, compare=not args.no_compare, student=args.student, out=args.output,
                           epochs=args.epochs, temperature=args.temperature, alpha=args.alpha,
                           baseline=args.baseline, augment=args.augment), args)


def cmd_export(args: argparse.Namespace) -> int:
    from .jobs import ExportJob

    ck, proj = _paths(args)
    return _run(ExportJob(ck, proj, compare=not args.no_compare, format=args.format, out=args.output,
                           force=args.force), args)


def cmd_compare(args: argparse.Namespace) -> int:
    from .jobs import CompareJob

    ck, proj = _paths(args)
    return _run(CompareJob(ck, proj, variants=list(args.variants)), args)
