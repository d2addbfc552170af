"""``layerlab``: the headless twin of the studio. Thin argument parsing over engine functions.

Exit codes: 0 ok, 2 bad input or usage (clear message, no traceback), 1 failure during work.
Every verb that produces results takes ``--report FILE`` and writes a JSON report there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
MAX_PRINTED = 50  # problems printed by `check`; the rest are summarised ("… and 4,990 more")
MAX_REPORTED = 1000  # problems listed in a --report file (their counts are always exact)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors -> exit 2 with one line (no usage dump)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


class OutputError(Exception):
    """An output path (``--report``, ``-o``) that cannot be written: bad input, exit 2."""


def check_output_file(path: str | None, flag: str) -> None:
    """Fail fast (before any work) on an output file path that cannot be written."""
    from .fsutil import output_file_problem

    problem = output_file_problem(path) if path else None
    if problem:
        raise OutputError(f"{flag}: {problem}")


def write_report(path: str | None, report: dict[str, Any], compact: bool = False) -> None:
    """``compact``: no indentation, so json's C encoder writes big reports (10,000 nodes) in a blink."""
    if not path:
        return
    from .fsutil import atomic_write_text

    check_output_file(path, "--report")
    try:
        atomic_write_text(path, json.dumps(report, indent=None if compact else 2, default=_json_default) + "\n")
    except OSError as exc:
        raise OutputError(f"--report: cannot write {path}: {exc.strerror or exc}") from None


def _json_default(o: Any):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _print_problems(exc) -> None:
    src = f"{exc.source}: " if getattr(exc, "source", None) else ""
    problems = getattr(exc, "problems", None)
    if problems and len(problems) > 1:
        _err(f"{src}{len(problems)} problems")
        for p in problems:
            print(f"  {p}", file=sys.stderr)
    else:
        _err(str(exc))


# ---------------------------------------------------------------------------------------------
# verbs


def cmd_layers(args) -> int:
    from .layers import all_layers

    specs = all_layers()
    if args.category:
        known = sorted({s.category for s in specs})
        if args.category not in known:
            _err(f"unknown category {args.category!r} (known: {', '.join(known)})")
            return EXIT_BAD_INPUT
        specs = [s for s in specs if s.category == args.category]
    if args.json:
        print(json.dumps([s.to_json() for s in specs], indent=2))
        return EXIT_OK
    cat = None
    for s in specs:
        if s.category != cat:
            cat = s.category
            print(f"\n[{cat}]")
        params = ", ".join(f"{p.name}={json.dumps(p.default)}" for p in s.params)
        print(f"  {s.type:<26} {params}")
        if args.verbose:
            print(f"      {s.doc}")
            for p in s.params:
                print(f"      - {p.name} ({p.kind}): {p.doc}")
    return EXIT_OK


def cmd_templates(args) -> int:
    from .templates import list_templates

    ts = list_templates()
    if args.json:
        print(json.dumps([{"name": t.name, "title": t.title, "task": t.task, "description": t.description} for t in ts], indent=2))
        return EXIT_OK
    for t in ts:
        print(f"  {t.name:<12} {t.task:<15} {t.description}")
    return EXIT_OK


def cmd_new(args) -> int:
    from .project import save_project
    from .templates import load_template

    out = Path(args.output)
    if out.is_dir():
        _err(f"-o: {out} is a folder; give a file name such as {out / 'project.json'}")
        return EXIT_BAD_INPUT
    if out.exists() and not args.force:
        _err(f"{out} exists (use --force to overwrite)")
        return EXIT_BAD_INPUT
    check_output_file(str(out), "-o")
    project = load_template(args.template)
    if args.name:
        project.name = args.name
    try:
        save_project(project, out)
    except OSError as exc:
        raise OutputError(f"-o: cannot write {out}: {exc.strerror or exc}") from None
    print(f"created {out} from template {args.template!r}")
    return EXIT_OK


def cmd_check(args) -> int:
    from .graph import analyze_project
    from .project import load_project

    project = load_project(args.file)
    check_output_file(args.report, "--report")
    from .fsutil import same_file

    if args.report and same_file(args.report, args.file):
        raise OutputError(f"--report: {args.report} is the project file; writing the report there would overwrite it")
    results = analyze_project(project)
    graphs = {k: r for k, r in results.items() if not k.startswith("blocks.")}
    ok = all(r.ok for r in graphs.values())
    errors: list[dict[str, Any]] = []
    for gpath, res in graphs.items():
        errors += [e.to_json() for e in res.errors]
        _print_table(gpath, res, multi=len(graphs) > 1)
    total_params = sum(r.total_params for r in graphs.values())
    total_macs = sum(r.total_macs for r in graphs.values())
    print(f"\ntotal: {total_params:,} parameters, {total_macs:,} MACs per sample")
    for e in errors[:MAX_PRINTED]:
        fix = f" (fix: {e['fixes'][0]})" if e.get("fixes") else ""
        print(f"{e['level']}: {args.file}: {e['path']}: {e['message']}{fix}", file=sys.stderr)
    if len(errors) > MAX_PRINTED:
        rest = f" (the first {MAX_REPORTED:,} are in the --report file)" if args.report else " (--report FILE lists more)"
        print(f"… and {len(errors) - MAX_PRINTED:,} more{rest}", file=sys.stderr)
    errs = [e for e in errors if e["level"] == "error"]
    warns = [e for e in errors if e["level"] != "error"]
    gjson = {k: r.to_json() for k, r in graphs.items()}
    for g in gjson.values():  # the same problems are listed once, at the top (bounded)
        g["error_count"] = len(g.pop("errors"))
    report: dict[str, Any] = {
        "ok": ok,
        "file": str(args.file),
        "errors": errs[:MAX_REPORTED],
        "warnings": warns[:MAX_REPORTED],
        "error_count": len(errs),
        "warning_count": len(warns),
        "nodes": [n for g in gjson.values() for n in g["nodes"]],
        "graphs": gjson,
        "total_params": total_params,
        "total_macs": total_macs,
    }
    write_report(args.report, report, compact=len(report["nodes"]) > 1000)
    if ok:
        print("ok: the model compiles")
    return EXIT_OK if ok else EXIT_BAD_INPUT


def _print_table(gpath: str, res, multi: bool) -> None:
    if multi:
        print(f"\n{gpath}")
    print(f"{'node':<16} {'type':<24} {'output shape':<18} {'params':>12} {'MACs':>14}")
    print("-" * 88)
    for n in res.nodes:
        shape = "?" if n.output_shape is None else "[" + ", ".join(map(str, n.output_shape)) + "]"
        print(f"{n.id:<16} {n.type:<24} {shape:<18} {n.params:>12,} {n.macs:>14,}")
    print("-" * 88)
    print(f"{'':<16} {'':<24} {'':<18} {res.total_params:>12,} {res.total_macs:>14,}")


def cmd_train(args) -> int:
    from .train.api import run_train_cli

    return run_train_cli(args)


def cmd_generate(args) -> int:
    from .generate import run_generate_cli

    return run_generate_cli(args)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="layerlab",
        description="LayerLab: design, train, compress and export PyTorch models (headless twin of the studio).",
    )
    p.add_argument("--version", action="version", version=f"layerlab {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)

    s = sub.add_parser("layers", help="list the layer registry (types, params, docs)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--category", help="only this category (io, core, conv, recurrent, attention, merge)")
    s.add_argument("-v", "--verbose", action="store_true", help="print each layer's explanation and params")
    s.set_defaults(func=cmd_layers)

    s = sub.add_parser("templates", help="list the starter project templates")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_templates)

    s = sub.add_parser("new", help="create a project file from a template")
    s.add_argument("--template", "-t", default="cnn", help="template name (see `layerlab templates`; default cnn)")
    s.add_argument("-o", "--output", required=True, help="project file to write (FILE.json)")
    s.add_argument("--name", help="project name (default: the template's)")
    s.add_argument("--force", action="store_true", help="overwrite an existing file")
    s.set_defaults(func=cmd_new)

    s = sub.add_parser("check", help="validate a project: shapes, parameter counts, MACs, errors per node")
    s.add_argument("file", help="project file (FILE.json)")
    s.add_argument("--report", help="write a JSON report here")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("train", help="train a project (supervised, GAN or VAE) with progress and checkpoints")
    _add_train_arguments(s)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("generate", help="generate images from a trained GAN generator or VAE decoder")
    _add_generate_arguments(s)
    s.set_defaults(func=cmd_generate)

    from .data.cli import add_data_parser

    add_data_parser(sub)

    from .glossary import add_glossary_arguments, cmd_glossary

    s = sub.add_parser("glossary", help="explain a metric or term the studio shows (val_f1, d_gz, fd_pca, MACs, ...)")
    add_glossary_arguments(s)
    s.set_defaults(func=cmd_glossary)

    from .compress.cli import add_compress_verbs  # prune, quantize, distill, export, compare
    from .graph.import_cli import add_import_verb

    add_compress_verbs(sub)
    add_import_verb(sub)
    return p


def _add_train_arguments(s: argparse.ArgumentParser) -> None:
    from .train.api import add_train_arguments

    add_train_arguments(s)


def _add_generate_arguments(s: argparse.ArgumentParser) -> None:
    from .generate import add_generate_arguments

    add_generate_arguments(s)


def _ignore_sigint() -> None:
    import signal

    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass


def main(argv: list[str] | None = None) -> int:
    """The exit-code contract: 0 ok, 2 bad input, 1 failure during work, 130 interrupted; never a traceback
    (unless LAYERLAB_DEBUG is set)."""
    from .threads import apply_thread_env

    apply_thread_env()  # before any verb imports torch: OpenMP threads wait passively (engine/threads.py)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        _ignore_sigint()
        _err("interrupted")
        return 130


def _main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    from .data.datasets import DatasetError
    from .project import ProjectError

    try:
        return int(args.func(args) or 0)
    except ProjectError as exc:
        _print_problems(exc)
        return EXIT_BAD_INPUT
    except (DatasetError, OutputError) as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _ignore_sigint()  # a further Ctrl+C while we report this one must not turn 130 into a traceback
        _err("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `layerlab layers | head`
        return EXIT_OK
    except Exception as exc:  # a failure during work: one plain line; the traceback only on request
        if os.environ.get("LAYERLAB_DEBUG"):
            raise
        _err(f"{type(exc).__name__}: {exc} (set LAYERLAB_DEBUG=1 for the traceback)")
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
