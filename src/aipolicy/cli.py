"""Thin command-line router over the Python API. Every subcommand calls one API function.

Expected failures (AipolicyError) print one line to stderr and exit 2; no traceback.
"""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import AipolicyError

EPILOG = "Run 'aipolicy COMMAND --help' for the options of one command."


def _progress(args) -> bool:
    return not getattr(args, "quiet", False)


def _exclude(args):
    from .ingest import DEFAULT_EXCLUDE

    return tuple(args.exclude) if args.exclude else DEFAULT_EXCLUDE


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
