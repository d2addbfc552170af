"""``layerlab data inspect|audit|download``: the Data view's headless twin.

Exit codes: 0 ok (also when some files were skipped: they are listed), 2 when nothing usable was found
or the input is wrong (the message names the file or field), 1 for a failure during work, 130 on Ctrl+C.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

SHOW_SKIPPED = 20
NEAR_MIN = 0.5  # --near below this would call unrelated images copies

# DataSpec fields an option sets -> (the option, its rule as one line)
_OPTION_RULES = {
    "image_size": ("--image-size", "each side must be 1..4096"),
    "val_fraction": ("--val-fraction", "must be between 0 and 1 (both excluded), e.g. 0.1"),
    "seed": ("--seed", "must be 0 or more (at most 2**63 - 1)"),
    "resize": ("--resize", "must be resize, center_crop or pad"),
    "channels": ("--channels", "must be auto, grey or rgb"),
    "csv_target": ("--target", "must be a column name or a 0-based index"),
}


def add_data_parser(sub: Any) -> None:
    d = sub.add_parser("data", help="inspect, audit or download a dataset (digits, torchvision, folder, CSV)")
    verbs = d.add_subparsers(dest="data_verb", metavar="ACTION")

    def source_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("source", help="digits, a torchvision name (MNIST, FashionMNIST, KMNIST, CIFAR10, SVHN), "
                                      "an image folder, a CSV file, or a project file (its data section)")
        s.add_argument("--root", help="the folder holding a torchvision dataset's files")
        s.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="convert images to H x W")
        s.add_argument("--resize", choices=["resize", "center_crop", "pad"], help="how images reach that size")
        s.add_argument("--channels", choices=["auto", "grey", "rgb"], help="channel rule (default auto)")
        s.add_argument("--target", help="CSV: the target column (name or 0-based index; default the last)")
        s.add_argument("--header", dest="header", action="store_true", default=None, help="CSV: first row is a header")
        s.add_argument("--no-header", dest="header", action="store_false", help="CSV: no header row")
        s.add_argument("--task", choices=["classification", "regression"], default="classification",
                       help="CSV: a class per target value, or a real-valued target")
        s.add_argument("--report", help="write a JSON report here")

    s = verbs.add_parser("inspect", help="counts per class, sizes and modes, skipped files with reasons")
    source_args(s)
    s.set_defaults(func=cmd_inspect)

    s = verbs.add_parser("audit", help="find unreadable files, duplicates, leaks across the split, imbalance, "
                                       "odd and blank images")
    source_args(s)
    s.add_argument("--val-fraction", type=float, help="the validation fraction to check for leaks (default 0.1)")
    s.add_argument("--seed", type=int, help="the split seed (default 0)")
    s.add_argument("--near", type=float, default=None,
                   help=f"near-copy threshold: thumbnail correlation above this, {NEAR_MIN:g}..1 "
                        "(default 0.985; 1 = exact copies only)")
    s.set_defaults(func=cmd_audit)

    s = verbs.add_parser("download", help="download a torchvision dataset's files (progress, resume, checksums)")
    s.add_argument("name", help="MNIST, FashionMNIST, KMNIST, CIFAR10, CIFAR100 or SVHN")
    s.add_argument("--root", required=True, help="the folder to put the files in")
    s.add_argument("--mirror", help="a base URL to fetch the files from instead of the official ones")
    s.add_argument("--clean", action="store_true", help="delete partial files of an interrupted download first")
    s.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the server (default 15)")
    s.set_defaults(func=cmd_download)
    d.set_defaults(func=_need_action)


def _need_action(args) -> int:
    print("error: layerlab data needs an action: inspect, audit or download (see `layerlab data --help`)",
          file=sys.stderr)
    return 2


def spec_from_args(args) -> tuple[Any, str | None]:
    """(DataSpec, task) for a SOURCE argument and its options."""
    from ..project import DataSpec, ProjectError, load_project
    from .sources import IMAGE_EXTENSIONS, TORCHVISION_DATASETS, DatasetError, not_a_dataset_image

    src = args.source
    task = None
    p = Path(src).expanduser()
    over: dict[str, Any] = {}
    if args.image_size:
        over["image_size"] = tuple(args.image_size)
    for k in ("resize", "channels"):
        if getattr(args, k, None):
            over[k] = getattr(args, k)
    for k in ("val_fraction", "seed"):
        if getattr(args, k, None) is not None:
            over[k] = getattr(args, k)
    near = getattr(args, "near", None)
    if near is not None and not NEAR_MIN <= near <= 1:
        raise DatasetError(f"--near: must be between {NEAR_MIN:g} and 1 (a thumbnail correlation; "
                           f"1 = exact copies only), not {near:g}")
    _option_values(DataSpec, over)  # a bad value is named by its option here, before any file is read
    name = src.removeprefix("torchvision:")
    if src == "digits":
        spec = DataSpec(dataset="digits", **over)
    elif name in TORCHVISION_DATASETS:
        if not args.root:
            raise DatasetError(f"{src}: give the folder with its files: --root DIR "
                               f"(`layerlab data download {name} --root DIR` fetches them)")
        spec = DataSpec(dataset=f"torchvision:{name}", path=args.root, **over)
    elif p.suffix == ".json" and p.is_file():
        try:
            project = load_project(p)
        except ProjectError:
            raise
        spec = project.data.model_copy(update=over)
        task = project.train.task
    elif p.is_dir():
        spec = DataSpec(dataset="folder", path=str(p), **over)
    elif p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
        raise DatasetError(not_a_dataset_image(p))
    elif p.name.endswith((".csv", ".csv.gz", ".tsv", ".txt")) or p.is_file():
        target: Any = args.target
        if target is not None and target.lstrip("-").isdigit():
            target = int(target)
        spec = DataSpec(dataset="csv", path=str(p), csv_target=target, csv_header=args.header, **over)
        task = args.task
    elif not p.exists():
        raise DatasetError(f"{src}: no such file or folder, and not a dataset name (digits, "
                           f"{', '.join(TORCHVISION_DATASETS)})")
    else:
        raise DatasetError(f"{src}: not an image folder, a CSV file or a project file")
    return spec, task


def _option_values(data_spec_cls: Any, over: dict[str, Any]) -> None:
    """Raise a one-line DatasetError naming the option (not the DataSpec field) whose value breaks a rule."""
    from pydantic import ValidationError

    from .sources import DatasetError

    try:
        data_spec_cls(**over)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err.get("loc") else ""
        opt, rule = _OPTION_RULES.get(field, (f"--{field.replace('_', '-')}", err.get("msg", "invalid value")))
        raise DatasetError(f"{opt}: {rule} (got {_shown(over.get(field))})") from None


def _shown(v: Any) -> str:
    return " ".join(str(x) for x in v) if isinstance(v, (tuple, list)) else str(v)


class _ScanProgress:
    """A one-line progress for people on a terminal; silent when stderr is not one."""

    def __init__(self, what: str):
        self.what = what
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.tty and (now - self.last > 0.2 or done == total):
            self.last = now
            print(f"\r{self.what}: {done:,}/{total:,}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def _check_report(args) -> None:
    from ..cli import OutputError, check_output_file
    from ..fsutil import same_file

    check_output_file(args.report, "--report")
    src = getattr(args, "source", None)
    if args.report and src and Path(src).exists() and same_file(args.report, src):
        raise OutputError(f"--report: {args.report} is the input; writing the report there would overwrite it")


def cmd_inspect(args) -> int:
    from ..cli import write_report
    from .sources import open_source

    _check_report(args)
    spec, task = spec_from_args(args)
    src = open_source(spec, task=task, progress=_ScanProgress("scanning"))
    d = src.describe()
    print(f"{d['source']}: {d['num_samples']:,} samples, input shape {list(src.input_shape)}")
    if d["classes"]:
        width = max(len(c) for c in d["classes"])
        for c, n in d["classes"].items():
            print(f"  {c:<{width}}  {n:>8,}")
    if "modes" in d:
        print("modes: " + ", ".join(f"{m} {n:,}" for m, n in d["modes"].items()))
        print(f"sizes (H×W): {d['distinct_sizes']} distinct; most common " +
              ", ".join(f"{s.replace('x', '×')} ({n:,})" for s, n in list(d["sizes"].items())[:4]))
        cv = d["conversion"]
        print(f"conversion: {cv['resize']} to {cv['image_size'][0]}×{cv['image_size'][1]} (H×W), {cv['channels']}")
        print("headers only: inspect reads each image's header (size, mode), not its pixels, so a truncated or "
              "corrupt image can count here; `layerlab data audit` decodes every file")
    if "target_column" in d:
        print(f"target: column {d['target_column']!r} ({d['task']}), {d['features']} features, layout {d['layout']}")
    _print_skipped(src.skipped)
    write_report(args.report, d)
    return 0


def _print_skipped(skipped: list[tuple[str, str]]) -> None:
    if not skipped:
        return
    print(f"skipped {len(skipped):,}:")
    for path, why in skipped[:SHOW_SKIPPED]:
        print(f"  {path}: {why}")
    if len(skipped) > SHOW_SKIPPED:
        print(f"  … and {len(skipped) - SHOW_SKIPPED:,} more (see --report)")


def cmd_audit(args) -> int:
    from ..cli import write_report
    from .audit import audit_source
    from .sources import open_source

    _check_report(args)
    spec, task = spec_from_args(args)
    src = open_source(spec, task=task, progress=_ScanProgress("scanning"))
    report = audit_source(src, spec, progress=_ScanProgress("auditing"),
                          **({"near_corr": args.near} if args.near is not None else {}))
    print(f"{src.name}: {len(src):,} samples audited in {report.seconds:.1f} s, {len(report.findings)} finding(s)")
    for f in report.findings:
        files = ", ".join(f.files[:4]) + (f" … (+{len(f.files) - 4})" if len(f.files) > 4 else "")
        print(f"  [{f.kind}] {f.message}" + (f"\n      {files}" if files else ""))
    write_report(args.report, report.to_json())
    return 0


def cmd_download(args) -> int:
    from .download import DownloadError, download, partial_files
    from .sources import Cancelled

    if args.clean:
        for p in partial_files(args.name, args.root):
            p.unlink(missing_ok=True)
            print(f"removed partial file {p}")
    tty = sys.stderr.isatty()
    state = {"last": 0.0}

    def progress(p) -> None:
        now = time.monotonic()
        if now - state["last"] < 0.25 and not (p.total and p.done >= p.total):
            return
        state["last"] = now
        total = f"/{p.total / 2**20:.1f} MiB" if p.total else " MiB"
        eta = f", {p.eta:.0f} s left" if p.eta is not None else ""
        line = f"{p.filename}: {p.done / 2**20:.1f}{total} at {p.rate / 2**20:.2f} MiB/s{eta}"
        print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    try:
        written = download(args.name, args.root, mirror=args.mirror, progress=progress, timeout=args.timeout,
                           log=lambda m: print(("\n" if tty else "") + m, file=sys.stderr))
    except (Cancelled, KeyboardInterrupt):
        print(f"\ninterrupted: partial files are kept in {args.root}; run the same command to resume",
              file=sys.stderr)
        return 130
    except DownloadError as exc:
        print(("\n" if tty else "") + f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name}: {len(written)} file(s) ready under {args.root}")
    if args.name == "SVHN":
        from .sources import svhn_needs

        why = svhn_needs()
        if why:
            print(f"note: {why}", file=sys.stderr)
    return 0
