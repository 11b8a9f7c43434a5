"""Thin command-line router over the Python API. Every subcommand calls one API function.

Expected failures (AipolicyError) print one line to stderr and exit 2; no traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .errors import AipolicyError

EPILOG = "Run 'aipolicy COMMAND --help' for the options of one command."


def _progress(args) -> bool:
    return not getattr(args, "quiet", False)


def _exclude(args):
    from .ingest import DEFAULT_EXCLUDE

    return tuple(args.exclude) if args.exclude else DEFAULT_EXCLUDE


def _add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="training/config.yaml",
                   help="training configuration (corpus folders, labels, categories); default: %(default)s")
    p.add_argument("--corpus", action="append", metavar="NAME=PATH",
                   help="override or add a corpus folder of the configuration (repeatable)")
    p.add_argument("--categories", help="categories file (default: from the configuration)")


def _add_common_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="files or folders (searched recursively): .txt/.md in any Chinese encoding, "
                        ".docx, .pdf (text layer), .html/.htm, or tables of paragraphs .csv/.jsonl/.xlsx "
                        "with a 'text' column and optional 'id', 'city', 'doc_id' columns")
    p.add_argument("--max-mb", type=float, default=50.0,
                   help="skip input files larger than this many megabytes (default: 50)")
    p.add_argument("--exclude", action="append", metavar="GLOB", default=None,
                   help="skip files whose name matches GLOB (repeatable; listed in the manifest). "
                        "Default: README*, SOURCE*, LICENSE*, CHANGELOG*, *.manifest.csv")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


# --------------------------------------------------------------------------- ingest

def cmd_ingest(args) -> int:
    from .ingest import ingest_files
    from .tables import check_output_path, manifest_path, write_table

    out = check_output_path(args.output, (".csv", ".jsonl", ".parquet"))
    res = ingest_files(args.paths, max_bytes=int(args.max_mb * 1e6), exclude=_exclude(args),
                       progress=_progress(args))
    write_table(res.manifest, manifest_path(out))
    if res.n_read == 0:
        raise AipolicyError(f"no input file could be read ({res.n_skipped} skipped; "
                            f"see {manifest_path(out)})")
    write_table(res.units, out)
    print(f"{res.summary()} -> {out} (manifest: {manifest_path(out)})")
    return 0


# --------------------------------------------------------------------------- labels

def _training_config(args):
    from .config import load_training_config

    cfg = load_training_config(args.config)
    for item in getattr(args, "corpus", None) or []:
        name, sep, path = item.partition("=")
        if not sep:
            raise AipolicyError(f"--corpus takes NAME=PATH, got {item!r}")
        cfg.corpora[name] = Path(path)
    if getattr(args, "categories", None):
        cfg.categories = Path(args.categories)
    return cfg


def cmd_labels_check(args) -> int:
    from .config import load_categories
    from .labels import check_labels, corpus_units

    cfg = _training_config(args)
    path = Path(args.file or cfg.labels)
    cats = load_categories(cfg.categories)
    units = None
    if not args.no_units:
        units = corpus_units(cfg.corpora, progress=_progress(args))
    problems = check_labels(path, cats, units)
    for p in problems:
        print(f"{path}:{p}")
    if problems:
        print(f"{len(problems)} problem(s) in {path}", file=sys.stderr)
        return 1
    n = sum(1 for _ in path.open(encoding="utf-8-sig")) - 1
    print(f"{path}: OK ({n} labelled units, categories: {', '.join(c.name for c in cats)}"
          f"{'' if units is not None else '; unit ids not checked'})")
    return 0


def cmd_labels_stats(args) -> int:
    from .config import load_categories
    from .labels import corpus_units, join_labels, label_stats, read_labels

    cfg = _training_config(args)
    path = Path(args.file or cfg.labels)
    cats = load_categories(cfg.categories)
    labels = read_labels(path, cats)
    joined, missing = join_labels(labels, corpus_units(cfg.corpora, progress=_progress(args)))
    st = label_stats(joined, cats)
    import pandas as pd

    with pd.option_context("display.max_rows", 500, "display.width", 160):
        print(f"{path}: {len(joined)} labelled units joined to text"
              f" ({len(missing)} labels match no unit)\n")
        print("per category\n" + st["categories"].to_string(index=False) + "\n")
        print("per corpus\n" + st["corpus"].to_string(index=False) + "\n")
        print(f"per city ({len(st['city'])} places)\n" + st["city"].to_string(index=False) + "\n")
        if args.sources:
            print("per source\n" + st["source"].to_string(index=False))
        else:
            print(f"{len(st['source'])} sources (--sources lists them)")
    return 0


# --------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aipolicy",
        description="Turn Chinese regional AI policy texts into structured evidence: units, cities, "
                    "category probabilities (compute, data, algorithm, scenario, talent, governance), "
                    "topics and per-city reports.",
        epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"aipolicy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ingest", help="read documents into a table of units with their city",
                       description="Read files and folders into one row per unit (paragraph or run of "
                                   "sentences): unit_id, doc_id, source, position, city, city_evidence, "
                                   "text. Files that cannot be used are listed with their reason in "
                                   "OUT.manifest.csv; the command exits 0 when at least one file was read.")
    _add_common_input(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output table: .csv (UTF-8 with BOM, opens in Excel), .jsonl or .parquet")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("labels", help="validate gold labels and count them",
                       description="Gold labels live in labels/gold.csv: unit_id, corpus, source, one 0/1 "
                                   "column per category of labels/categories.yaml, annotator, note.")
    lsub = p.add_subparsers(dest="labels_command", metavar="SUBCOMMAND", required=True)
    for name, func, helptext in (
            ("check", cmd_labels_check, "report every problem of a labels file with its line; exit 1 on error"),
            ("stats", cmd_labels_stats, "counts per category, per corpus, per city and per source")):
        q = lsub.add_parser(name, help=helptext, description=helptext)
        q.add_argument("file", nargs="?", help="labels file (default: the one in the training configuration)")
        _add_config_options(q)
        q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        if name == "check":
            q.add_argument("--no-units", action="store_true",
                           help="do not ingest the corpora to check that every unit_id exists")
        else:
            q.add_argument("--sources", action="store_true", help="also list counts per source file")
        q.set_defaults(func=func, command=f"labels {name}")

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except AipolicyError as e:
        print(f"aipolicy {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aipolicy {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
