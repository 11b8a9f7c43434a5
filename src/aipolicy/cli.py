"""Thin command-line router over the Python API. Every subcommand calls one API function.

Expected failures (AipolicyError) print one line to stderr and exit 2; no traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .errors import AipolicyError
from .settings import DEFAULT_MAX_MB, SEED

EPILOG = "Run 'aipolicy COMMAND --help' for the options of one command."


def _progress(args) -> bool:
    return not getattr(args, "quiet", False)


def _exclude(args):
    """The default exclusions plus every --exclude (or only the --exclude given, with --no-default-excludes)."""
    from .ingest import DEFAULT_EXCLUDE

    base = () if getattr(args, "no_default_excludes", False) else DEFAULT_EXCLUDE
    return tuple(dict.fromkeys([*base, *(args.exclude or ())]))


INTERNAL_EXIT = 3  # an unexpected internal error (a bug), distinct from 1 (a named file unreadable) and 2


def _explicit_failures(args, manifest) -> int:
    """Report files named on the command line (not found in a folder) that were skipped; their count."""
    from .tables import safe_str

    named = {safe_str(str(Path(p))) for p in args.paths if os.path.lexists(p) and not Path(p).is_dir()}
    bad = [r for r in _rows(manifest) if r["status"] == "skipped" and r["file"] in named]
    for r in bad:
        print(f"aipolicy {args.command}: error: {r['file']} could not be read: {r['reason']}", file=sys.stderr)
    return len(bad)


def _rows(manifest) -> list[dict]:
    """A manifest given as a DataFrame or as a list of row dicts, as row dicts."""
    return manifest.to_dict("records") if hasattr(manifest, "to_dict") else list(manifest or ())


def _internal_failures(args, manifest) -> int:
    """Report the files that met an internal error (listed as skipped, the rest was written); count."""
    from .pipeline import INTERNAL_ERROR

    bad = [r for r in _rows(manifest) if str(r["reason"]).startswith(INTERNAL_ERROR)]
    for r in bad:
        print(f"aipolicy {args.command}: {r['reason']} — on file {r['file']}", file=sys.stderr)
    args.internal_errors = getattr(args, "internal_errors", 0) + len(bad)
    return len(bad)


def _exit_status(args, manifest) -> int:
    """3 when a file met an internal error, 1 when a file named on the command line could not be read,
    else 0 (every file is in the manifest either way)."""
    internal = _internal_failures(args, manifest)
    explicit = _explicit_failures(args, manifest)
    return INTERNAL_EXIT if internal else 1 if explicit else 0


def _add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None,
                   help="training configuration (corpus folders, labels, categories; relative paths in it resolve "
                        "against its folder); default: training/config.yaml when it exists, else only the flags")
    p.add_argument("--corpus", action="append", metavar="NAME=PATH",
                   help="override or add a corpus folder of the configuration (repeatable)")
    p.add_argument("--categories", help="categories file (default: from the configuration)")


def _add_common_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="files or folders (searched recursively): .txt/.md in any Chinese encoding, "
                        ".docx, .pdf (text layer), .html/.htm, .doc/.wps (converted when LibreOffice is "
                        "installed), or tables of paragraphs .csv/.jsonl/.xlsx (every sheet) with a text "
                        "column (text/正文/内容/content, or --text-column) and optional 'id', 'city', "
                        "'doc_id' columns")
    p.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB,
                   help="skip input files larger than this many megabytes (default: %(default)s)")
    p.add_argument("--exclude", action="append", metavar="GLOB", default=None,
                   help="also skip files whose name matches GLOB (repeatable; added to the defaults "
                        "README*, SOURCE*, LICENSE*, CHANGELOG*, *.manifest.csv, *.documents.csv; listed "
                        "in the manifest)")
    p.add_argument("--no-default-excludes", action="store_true",
                   help="do not skip the default README*, SOURCE*, LICENSE*, CHANGELOG* … files")
    p.add_argument("--sheet", metavar="NAME", help="read only this sheet of .xlsx tables (default: every sheet)")
    p.add_argument("--text-column", metavar="NAME",
                   help="the column of .csv/.jsonl/.xlsx tables that holds the text (default: the one "
                        "column named text, 正文, 内容, content, body or 文本)")
    p.add_argument("--metadata", metavar="FILE",
                   help="CSV of document metadata keyed by 'file' (the file name), with columns among "
                        "title, issuer, date, doc_number, doc_type (or kind), place; overrides what the "
                        "text says (e.g. ../shared/corpus/ai-policies/index.csv)")
    p.add_argument("--limit", action="append", metavar="NAME=VALUE", default=None,
                   help="change a limit on what one file may cost (repeatable; a file over a limit is skipped "
                        "with the limit named): max_bytes, max_html_bytes, max_unzipped_bytes, max_xml_bytes "
                        "(sizes take K/M/G), max_paragraphs, max_rows, max_cells, max_columns, "
                        "max_paragraph_chars, max_grid_span, file_timeout (seconds, 0 = none)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _limits(args):
    from .limits import Limits

    return Limits(max_bytes=int(args.max_mb * 1e6)).with_options(getattr(args, "limit", None))


# --------------------------------------------------------------------------- ingest

def _read_options(args):
    """PipelineOptions from the common input flags (the --metadata file is read and checked here)."""
    from .metadata import SidecarError, read_sidecar
    from .pipeline import PipelineOptions

    sidecar = None
    if getattr(args, "metadata", None):
        try:
            sidecar = read_sidecar(args.metadata)
        except SidecarError as e:
            raise AipolicyError(str(e)) from None
    return PipelineOptions(max_bytes=int(args.max_mb * 1e6), exclude=_exclude(args),
                           sheet=getattr(args, "sheet", None), text_column=getattr(args, "text_column", None),
                           sidecar=sidecar, limits=_limits(args))


def cmd_ingest(args) -> int:
    from .documents import documents_path
    from .ingest import ingest_files
    from .tables import check_output_path, manifest_path, write_table

    out = check_output_path(args.output, (".csv", ".jsonl", ".parquet"))
    res = ingest_files(args.paths, options=_read_options(args), progress=_progress(args))
    if res.n_read == 0:  # exit 2 writes nothing
        from .pipeline import not_read_summary

        raise AipolicyError(f"no input file could be read ({not_read_summary(res.manifest)})")
    write_table(res.units, out)
    write_table(res.manifest, manifest_path(out))
    write_table(res.documents, documents_path(out))
    print(f"{res.summary()} -> {out} (manifest: {manifest_path(out)}, documents: {documents_path(out)})")
    return _exit_status(args, res.manifest)


# --------------------------------------------------------------------------- labels

def _training_config(args):
    from .config import DEFAULT_CATEGORIES, DEFAULT_TRAINING_CONFIG, TrainingConfig, load_training_config

    if args.config or DEFAULT_TRAINING_CONFIG.is_file():
        cfg = load_training_config(args.config or DEFAULT_TRAINING_CONFIG)
    else:  # no configuration here: every path comes from a flag (relative to the working folder)
        cfg = TrainingConfig(corpora={}, labels=Path("labels/gold.csv"), categories=DEFAULT_CATEGORIES,
                             models_dir=Path("models"))
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
    from .labels import check_labels, corpus_units, count_labels

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
    n = count_labels(path)
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


def cmd_labels_import(args) -> int:
    from .annotate import import_labels
    from .config import load_categories
    from .labels import corpus_units
    from .tables import atomic_path

    cfg = _training_config(args)
    gold = Path(args.labels or cfg.labels)
    names = [c.name for c in load_categories(cfg.categories)]
    units = corpus_units(cfg.corpora, progress=_progress(args))
    merged, res, counts = import_labels(gold, args.file, names, units=units, annotator=args.annotator,
                                        replace=args.replace)
    summary = (f"{args.file}: {counts['added']} added, {counts['replaced']} replaced, {counts['unchanged']} "
               f"unchanged, {counts['unlabelled']} not labelled yet (left out)")
    if args.dry_run:
        print(summary + " — dry run, nothing written")
        return 0
    merged = merged.sort_values(["corpus", "source", "unit_id"], kind="stable")
    with atomic_path(gold) as tmp:
        merged.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    print(f"{summary} -> {gold} ({len(merged)} labelled units)")
    return 0


def cmd_labels_audit(args) -> int:
    from .annotate import audit
    from .config import load_categories
    from .tables import check_output_path, write_table
    from .train import cross_validate, domain_weights, gold_units, make_classifier, unit_weights

    cfg = _training_config(args)
    cats = load_categories(cfg.categories)
    names = [c.name for c in cats]
    joined = gold_units(cfg, cats, labels=args.file, progress=_progress(args),
                        log=lambda m: print(m, file=sys.stderr))
    ev = cross_validate(cfg, cats, joined, make_classifier(cfg, cats),
                        weights=unit_weights(domain_weights(cfg), joined["corpus"]), progress=_progress(args))
    a = audit(joined[names].to_numpy(int), ev.oof_proba, names)
    keep = ["unit_id", "corpus", "source", "position", "city", "annotator", "text"]
    out = joined[[c for c in keep if c in joined]].join(a).sort_values(["quality", "unit_id"], kind="stable")
    if args.top:
        out = out.head(args.top)
    dest = check_output_path(args.output, (".csv", ".xlsx"))
    write_table(out.reset_index(drop=True), dest)
    print(f"{int(a['issue'].sum())} of {len(a)} gold units flagged as likely label issues by confident "
          f"learning; {len(out)} units ranked by label quality (lowest first) -> {dest}")
    return 0


def cmd_suggest(args) -> int:
    from .annotate import suggest, write_suggestions
    from .config import load_categories
    from .ingest import ingest_files
    from .models import load_predictor

    cfg = _training_config(args)
    cats = load_categories(cfg.categories)
    res = ingest_files(args.paths, options=_read_options(args), progress=_progress(args))
    if res.n_read == 0:
        raise AipolicyError("no input file could be read")
    units = res.units.assign(corpus=args.corpus_name or _corpus_name(args.paths, cfg))
    labelled = Path(args.labels or cfg.labels)
    exclude = []
    if labelled.is_file():
        import pandas as pd

        exclude = pd.read_csv(labelled, dtype=str, usecols=["unit_id"])["unit_id"].tolist()
    model = load_predictor(_model_folder(args))
    sug = suggest(units, model, n=args.n, exclude_ids=exclude, per_doc=args.per_doc, diversity=args.diversity)
    written = write_suggestions(sug, cats, args.output, descriptions={c.name: f"{c.zh}: {c.description}"
                                                                      for c in cats})
    print(f"{len(sug)} units from {sug['source'].nunique() if len(sug) else 0} documents suggested "
          f"({len(exclude)} already labelled left out) -> " + ", ".join(map(str, written)) + _model_note(args))
    return 0


def _corpus_name(paths, cfg) -> str:
    """The configured corpus whose folder is the (single) input folder, else that folder's name."""
    if len(paths) == 1:
        p = Path(paths[0]).resolve()
        for name, folder in cfg.corpora.items():
            if Path(folder).resolve() == p:
                return name
        return p.name if p.is_dir() else p.parent.name
    return "suggested"


# --------------------------------------------------------------------------- train / models / label

def cmd_train(args) -> int:
    from .train import train

    cfg = _training_config(args)
    if args.labels:
        cfg.labels = Path(args.labels)
    if args.models_dir:
        cfg.models_dir = Path(args.models_dir)
    if args.seed is not None:
        cfg.model["seed"] = args.seed
    if args.folds is not None:
        cfg.evaluation["folds"] = args.folds
    if args.jobs is not None:
        cfg.evaluation["jobs"] = args.jobs
    if args.no_cache:
        cfg.cache_dir = None
    agreement = args.agreement or cfg.labels.parent / "agreement.json"
    folder, card = train(cfg, name=args.name, agreement=agreement, progress=_progress(args))
    print(f"model written to {folder} (card: {folder / 'MODEL_CARD.md'})")
    return 0


def cmd_models_list(args) -> int:
    from .models import list_models

    rows = list_models(args.models_dir)
    if not rows:
        print("no models found")
        return 0
    for r in rows:
        if "error" in r:
            print(f"{r['name']:<16} {r['path']}  (unreadable: {r['error']})")
            continue
        print(f"{r['name']:<16} {r['version']:<24} {r['created']:<26} units={r['units']} "
              f"macroF1={r['macro_f1']} baseline={r['baseline_macro_f1']}  {r['path']}")
    return 0


def cmd_models_show(args) -> int:
    from .models import HUMAN_CARD, read_card, resolve_model

    folder = resolve_model(args.name, args.models_dir)
    read_card(folder)
    print((folder / HUMAN_CARD).read_text(encoding="utf-8"))
    return 0


def _thresholds(args) -> dict[str, float]:
    from .models import parse_thresholds

    return parse_thresholds(getattr(args, "threshold", None))


def _model_folder(args):
    """The model folder the command will use, printed (to stderr) before any work."""
    from .models import resolve_model

    folder = resolve_model(args.model, args.models_dir)
    if _progress(args):
        print(f"model: {folder}", file=sys.stderr)
    args.model_folder = folder  # named again in the command's summary line
    return folder


def _model_note(args) -> str:
    folder = getattr(args, "model_folder", None)
    return f" [model: {folder}]" if folder else ""


def _no_blas_threads() -> None:
    """One OpenBLAS thread for a command that does no BLAS work (``label``: its products are bincounts).
    OpenBLAS starts a thread per core when numpy is imported — 15 ms of a short run on an idle 2-core
    machine, 70 ms on a busy one. Only before numpy is imported, and never over the user's own setting."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def cmd_label(args) -> int:
    _no_blas_threads()
    from .batch import label_files

    run = label_files(args.paths, args.output, model=_model_folder(args), models_dir=None, jobs=args.jobs,
                      resume=args.resume, options=_read_options(args), progress=_progress(args),
                      thresholds=_thresholds(args), dask=args.dask, output_format=args.format)
    from .documents import documents_path
    from .tables import manifest_path

    print(f"{run.summary()} -> {run.output} (manifest: {manifest_path(run.output)}, "
          f"documents: {documents_path(run.output)}){_model_note(args)}")
    return _exit_status(args, run.manifest_rows)


def cmd_evaluate(args) -> int:
    from .evaluation import evaluate_file

    m = evaluate_file(args.file, args.output, model=_model_folder(args), models_dir=None,
                      thresholds=_thresholds(args), corpora=args.corpus, categories_file=args.categories,
                      progress=_progress(args))
    base = m["keyword_baseline"]
    print(f"{m['units']} units: macro F1 {m['model']['macro_f1']:.3f}"
          + (f" (keyword baseline {base['macro_f1']:.3f})" if base else " (no keyword baseline)")
          + f", micro F1 {m['model']['micro_f1']:.3f} -> {Path(args.output) / 'summary.md'}{_model_note(args)}")
    return 0


def _labelled_units(args):
    """(units, categories, model card, manifest or None, documents or None) for topics/report: a
    labelled table given as the only PATH (with its documents table beside it, if any), or a fresh
    labelling of the inputs with the model in a private temporary folder (nothing is written beside
    the output until the report is complete). Units of near-duplicate documents are left out (counted
    once) unless --keep-near-duplicates."""
    import tempfile

    from .documents import drop_near_duplicates
    from .tables import manifest_path, read_table

    keep = getattr(args, "keep_near_duplicates", False)
    given = _given_labelled_table(args)
    if given is not None:
        t, cats, card, docs = given
        return (t if keep else drop_near_duplicates(t, docs)), cats, card, None, docs
    from .batch import label_files

    with tempfile.TemporaryDirectory(prefix="aipolicy-report-") as tmp:
        out = Path(tmp) / "labelled_units.parquet"
        try:
            run = label_files(args.paths, out, model=_model_folder(args), models_dir=None, jobs=args.jobs,
                              options=_read_options(args), progress=_progress(args))
        except AipolicyError as e:
            if not manifest_path(out).exists():
                raise
            raise AipolicyError(_skipped_summary(read_table(manifest_path(out)))) from e
        units = read_table(out)
    _internal_failures(args, run.manifest)
    if not keep:
        units = drop_near_duplicates(units, run.documents)
    return units, run.categories, run.model_card, run.manifest, run.documents


def _given_labelled_table(args):
    """(table, categories, card, documents) when the only PATH is a labelled table, else None."""
    from .documents import documents_path
    from .models import load_predictor
    from .tables import read_table

    if len(args.paths) != 1 or Path(args.paths[0]).suffix.lower() not in (".csv", ".jsonl", ".parquet", ".xlsx"):
        return None
    t = read_table(args.paths[0])
    if not (any(c.startswith("p_") for c in t.columns) and "labels" in t.columns):
        return None
    clf = load_predictor(_model_folder(args)) if args.model else None
    cats = [c[2:] for c in t.columns if c.startswith("p_")]
    docs_file = documents_path(args.paths[0])
    docs = read_table(docs_file) if docs_file.is_file() else None
    return t, cats, (clf.card_ if clf else {}), docs


def _skipped_summary(manifest) -> str:
    bad = manifest[manifest["status"] != "ok"]
    shown = "; ".join(f"{r.file}: {r.reason}" for r in bad.head(3).itertuples())
    more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
    return f"no input file could be labelled — {shown}{more}"


def _add_threshold_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threshold", action="append", metavar="CATEGORY=VALUE", default=None,
                   help="use VALUE (0–1) instead of the model's decision threshold for CATEGORY (repeatable); "
                        "gate=VALUE: a unit gets labels only when one of its probabilities reaches VALUE "
                        "(gate=0: no gate; default: the model's gate, see its card)")


def _topic_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", default="4-12", metavar="LO-HI[:STEP]",
                   help="range of topic numbers to compare by coherence; widened by STEP while the best K is at "
                        "an edge (default: %(default)s, step 2)")
    p.add_argument("--coherence", default="c_npmi", choices=["c_npmi", "u_mass"],
                   help="coherence measure for choosing K (default: %(default)s)")
    p.add_argument("--iterations", type=int, default=200,
                   help="Gibbs sampling iterations per LDA model (default: %(default)s)")
    p.add_argument("--topic-units", default="labelled", metavar="WHICH",
                   help="units the topics are fitted on: 'labelled' (at least one category), 'all', or a "
                        "category name (default: %(default)s)")
    p.add_argument("--topics-by", default="doc_type", choices=["doc_type", "none"],
                   help="one topic model per document type (types with fewer than --min-group-units units pooled; "
                        "needs document metadata) or one model for all (default: %(default)s)")
    p.add_argument("--min-group-units", type=int, default=400,
                   help="a document type needs this many units for its own topic model (default: %(default)s)")
    p.add_argument("--seed", type=int, default=SEED, help="random seed (default: %(default)s)")


def _k_range(spec: str) -> range:
    try:
        rng, _, step = spec.partition(":")
        lo, _, hi = rng.partition("-")
        lo, hi, step = int(lo), int(hi or lo), int(step or 2)
        if not (2 <= lo <= hi) or step < 1:
            raise ValueError
    except ValueError:
        raise AipolicyError(f"--k takes LO-HI or LO-HI:STEP with 2 <= LO <= HI, got {spec!r}") from None
    return range(lo, hi + 1, step)


def _fit_topics(units, cats, args, documents=None):
    from .summary import category_matrix
    from .topics import fit_topics, select_topic_units, topic_groups

    ks = _k_range(args.k)
    sel = select_topic_units(category_matrix(units, cats), cats, args.topic_units)
    groups = None
    if args.topics_by == "doc_type" and documents is not None:
        types = sel["doc_id"].map(documents.set_index("doc_id")["doc_type"])
        groups = topic_groups(types, args.min_group_units)
    res = fit_topics(sel, ks=ks, seed=args.seed, iterations=args.iterations, measure=args.coherence,
                     categories=cats, groups=groups, selection=args.topic_units, progress=_progress(args))
    for g in res.coherence.groupby("group"):
        curve = g[1]
        best = int(curve.loc[curve["chosen"], "k"].iloc[0])
        if len(curve) > 1 and best == curve["k"].max():
            print(f"note: topic group {g[0]}: the best K ({best}) is the largest allowed (--k, or one topic per "
                  "5 units); a wider --k may find a better one", file=sys.stderr)
    return res


def cmd_topics(args) -> int:
    from .topics import save_topics

    out = Path(args.output)
    units, cats, _, _, documents = _labelled_units(args)
    res = _fit_topics(units, cats, args, documents)
    save_topics(res, out, units=units)
    if args.ldavis:
        from .topics import write_ldavis

        write_ldavis(res, out / "ldavis.html")
    print(f"{res.k} topics (best {res.measure} over K = {', '.join(map(str, sorted(set(res.coherence['k']))))}) "
          f"from {len(res.unit_ids)} units -> {out}{_model_note(args)}")
    return INTERNAL_EXIT if getattr(args, "internal_errors", 0) else 0


def _quote_mask(units, args):
    """Units whose text may be shown: not under any --no-text-from path."""
    import pandas as pd

    blocked = [Path(p).resolve() for p in (args.no_text_from or [])]
    if not blocked:
        return None
    roots = [Path(p).resolve() for p in args.paths]

    def allowed(source: str) -> bool:
        for root in roots:
            f = (root / source) if root.is_dir() else root
            if f.exists():
                return not any(f.resolve() == b or b in f.resolve().parents for b in blocked)
        return True
    ok = {s: allowed(str(s)) for s in units["source"].unique()}
    return pd.Series(units["source"].map(ok).to_numpy(bool))


def cmd_report(args) -> int:
    from .report import build_report, write_report

    out = Path(args.output)
    units, cats, card, manifest, documents = _labelled_units(args)
    skipped = 0 if manifest is None else int((manifest["status"] != "ok").sum())
    topics = None if args.no_topics else _fit_topics(units, cats, args, documents)
    rep = build_report(units, cats, documents=documents, model_card=card, min_units=args.min_units,
                       with_text=not args.no_text, quote=_quote_mask(units, args), topics=topics,
                       n_boot=args.bootstrap, seed=args.seed, inputs=args.paths, skipped=skipped)
    write_report(rep, out, extra_tables=None if manifest is None else {"manifest.csv": manifest})
    print(f"report on {len(units)} units, {units['city'].nunique()} places -> {out / 'report.html'}, "
          f"{out / 'report.md'}, {out / 'tables'}{_model_note(args)}")
    if getattr(args, "internal_errors", 0):
        return INTERNAL_EXIT
    return 1 if manifest is not None and _explicit_failures(args, manifest) else 0


def _default_jobs() -> int:
    import os

    return max(1, min(4, os.cpu_count() or 1))


# --------------------------------------------------------------------------- parser

class _Unused:
    """Stands in for the parser of a command that is not being run: every call does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: self


class _Commands:
    """The subcommands of ``build_parser(only=NAME)``: NAME's parser is built, the others are stand-ins
    (building all of them with their arguments took 14 ms of every command, e.g. of a 0.5 s `label`)."""

    def __init__(self, action, only: str | None):
        self.action, self.only, self.built = action, only, False

    def add_parser(self, name: str, **kwargs):
        if self.only is not None and name != self.only:
            return _Unused()
        self.built = True
        return self.action.add_parser(name, **kwargs)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``only``, only that command's arguments (the whole parser when no
    command has that name, so that the error lists them all)."""
    parser = argparse.ArgumentParser(
        prog="aipolicy",
        description="Turn Chinese regional AI policy texts into structured evidence: units, cities, "
                    "category probabilities (compute, data, algorithm, scenario, talent, governance), "
                    "topics and per-city reports.",
        epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"aipolicy {__version__}")
    sub = _Commands(parser.add_subparsers(dest="command", metavar="COMMAND"), only)

    p = sub.add_parser("ingest", help="read documents into a table of units with their city",
                       description="Read files and folders into one row per unit (paragraph or run of "
                                   "sentences): unit_id, doc_id, source, position, city, city_evidence, "
                                   "text. Files that cannot be used are listed with their reason in "
                                   "OUT.manifest.csv; the command exits 0 when at least one file was read, 1 "
                                   "when a file named on the command line could not be read (the rest is "
                                   "still written), 2 when nothing could be read.")
    _add_common_input(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output table: .csv (UTF-8 with BOM, opens in Excel), .jsonl or .parquet")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("label", help="label documents with a trained model (probabilities per category)",
                       description="Ingest files and folders exactly as 'ingest' does and label every unit. "
                                   "Output columns: the ingest columns, p_<category> for each category, "
                                   "labels (categories joined by ';', empty for none) and evidence (the terms "
                                   "that pushed the positive labels most). Files that cannot be used are listed "
                                   "in OUT.manifest.csv. The output appears atomically when the run is complete; "
                                   "an interrupted run continues with --resume.")
    _add_common_input(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output table: .csv (UTF-8 with BOM, opens in Excel), .jsonl, .parquet or .xlsx; with "
                        "--format parquet-dataset, a folder")
    p.add_argument("--format", default=None, choices=["csv", "jsonl", "parquet", "xlsx", "parquet-dataset"],
                   help="output format (default: OUT's extension). parquet-dataset, for large runs: OUT is a folder "
                        "of Parquet files part-00000.parquet, … (200,000 rows each, in input order; read it with "
                        "pandas.read_parquet(OUT) or pyarrow.dataset), written into a temporary folder that then "
                        "replaces OUT; the manifest and documents table are OUT.manifest.csv, OUT.documents.csv")
    p.add_argument("-m", "--model", default=None,
                   help="model name (looked up in --models-dir, then in the package; default: 'default', "
                        "the shipped model) or a model folder given as a path (./NAME, DIR/NAME)")
    p.add_argument("--models-dir", default=None,
                   help="a folder of models to look a model name up in before the package's own (e.g. models); "
                        "the working folder is never searched implicitly")
    p.add_argument("-j", "--jobs", type=int, default=_default_jobs(),
                   help="worker processes (default: number of CPUs, at most 4); output is identical for any N")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run into the same OUT without redoing finished files")
    _add_threshold_option(p)
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run the files on a Dask cluster: a scheduler address (tcp://host:8786), or 'local' for a "
                        "LocalCluster of --jobs worker processes. Workers must see the input paths; the output is "
                        "written here and is identical to a local run (needs: pip install 'aipolicy[dask]')")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("evaluate", help="measure a model on your own labelled units (vs. the keyword baseline)",
                       description="Score a model on a labelled table: an id column ('id' or 'unit_id'), one 0/1 "
                                   "column per category and a 'text' column (or ids of units of the --corpus "
                                   "folders). Writes DIR/metrics.json (per-category precision, recall, F1, "
                                   "support, average precision, confusion counts, macro/micro F1, share of none "
                                   "units given a label; model and keyword baseline), per_category.csv, "
                                   "confusion.csv, thresholds.csv, pr_curves.csv, predictions.csv, "
                                   "figures/pr_<category>.png and summary.md.")
    p.add_argument("file", help="labelled table: .csv, .jsonl, .parquet or .xlsx")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("-m", "--model", default=None, help="model name or folder (default: the shipped 'default')")
    p.add_argument("--models-dir", default=None, help="a folder of models to look in before the package's own")
    p.add_argument("--corpus", action="append", metavar="[NAME=]PATH",
                   help="folder whose ingested units the ids refer to, when FILE has no 'text' column (repeatable)")
    p.add_argument("--categories", default=None,
                   help="categories file with the cue terms of the keyword baseline (default: the package's "
                        "categories; a file that does not exist leaves the baseline out)")
    _add_threshold_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)

    for name in ("topics", "report"):
        if name == "topics":
            p = sub.add_parser("topics", help="LDA topics of the units, K chosen by coherence, per-city shares",
                               description="Label the inputs (or read a labelled table given as the only PATH), "
                                           "fit LDA on the AI-relevant units (per document type when --metadata "
                                           "gives types) for each K in a range, keep the K with the best "
                                           "coherence, and write OUT/lda/ (models), coherence.csv, "
                                           "topic_terms.csv, topics.csv, city_topics.csv, unit_topics.csv.")
        else:
            p = sub.add_parser("report", help="per-city category report (HTML, Markdown, CSV)",
                               description="Label the inputs with the default model (or read a labelled table "
                                           "given as the only PATH) and write OUT/report.html (self-contained), "
                                           "OUT/report.md, OUT/figures/ and OUT/tables/ (shares, emphasis, terms, "
                                           "topics, documents, years, examples). OUT is replaced as a whole when the "
                                           "report is complete; a failed run writes nothing.")
        _add_common_input(p)
        p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
        p.add_argument("-m", "--model", default=None, help="model name or folder (default: the shipped 'default')")
        p.add_argument("--models-dir", default=None, help="a folder of models to look in before the package's own")
        p.add_argument("-j", "--jobs", type=int, default=_default_jobs(), help="worker processes for labelling")
        p.add_argument("--keep-near-duplicates", action="store_true",
                       help="count every copy of an article (default: a document flagged as a near-duplicate "
                            "of an earlier one is left out)")
        _topic_options(p)
        if name == "report":
            p.add_argument("--min-units", type=int, default=20,
                           help="places with fewer units are listed apart, not in the heatmap (default: %(default)s)")
            p.add_argument("--no-text", action="store_true",
                           help="quote no unit text: examples show unit id, source and position instead")
            p.add_argument("--no-text-from", action="append", metavar="PATH", default=None,
                           help="quote no text of the inputs under PATH (repeatable), e.g. third-party articles")
            p.add_argument("--no-topics", action="store_true", help="skip the LDA topics")
            p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: %(default)s)")
            p.set_defaults(func=cmd_report)
        else:
            p.add_argument("--ldavis", action="store_true",
                           help="also write an interactive pyLDAvis page (needs: pip install 'aipolicy[ldavis]'; "
                                "the page loads its scripts from the web)")
            p.set_defaults(func=cmd_topics)

    p = sub.add_parser("train", help="train and evaluate a classifier on the gold labels",
                       description="Join the gold labels to their text by ingesting the configured corpora, "
                                   "evaluate with cross-validation grouped by document against a keyword "
                                   "baseline, fit on all gold units, and write models/NAME with model.joblib, "
                                   "card.json and MODEL_CARD.md.")
    _add_config_options(p)
    p.add_argument("--labels", help="gold labels file (default: from the configuration)")
    p.add_argument("--models-dir", help="where to write the model folder (default: from the configuration)")
    p.add_argument("--name", default=None,
                   help="model name, i.e. folder under the models dir (default: a new YYYY-MM-DD-N; an existing "
                        "model, 'default' included, is replaced only when named)")
    p.add_argument("--seed", type=int, help="random seed (default: from the configuration)")
    p.add_argument("--folds", type=int, help="cross-validation folds (default: from the configuration)")
    p.add_argument("-j", "--jobs", type=int,
                   help="processes for the cross-validation fits and the final fit (default: from the configuration)")
    p.add_argument("--agreement", default=None,
                   help="inter-annotator agreement to record in the card (default: agreement.json beside the labels)")
    p.add_argument("--no-cache", action="store_true",
                   help="ingest the corpora again instead of reading the units of unchanged corpus folders from "
                        "the cache (cache_dir of the configuration, default .aipolicy-cache beside it)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("suggest", help="choose the units most worth labelling next (active learning)",
                       description="Rank the unlabelled units of the inputs by the model's uncertainty (the "
                                   "category nearest its decision threshold) and pick them greedily so that each "
                                   "is also unlike those already picked, with at most --per-doc units from one "
                                   "document. Writes a labelling sheet (OUT: .csv or .xlsx, one empty 0/1 column "
                                   "per category) and, beside it, OUT_STEM.label_studio.json (tasks) and "
                                   "OUT_STEM.label_studio.xml (labelling configuration). Merge the filled sheet "
                                   "or the Label Studio JSON export with 'aipolicy labels import'.")
    _add_common_input(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="labelling sheet, .csv or .xlsx")
    p.add_argument("-n", type=int, default=200, help="how many units to suggest (default: %(default)s)")
    p.add_argument("--per-doc", type=int, default=None,
                   help="at most this many units from one document (default: twice an even share, at least 2)")
    p.add_argument("--diversity", type=float, default=0.5,
                   help="weight of dissimilarity to the units already picked (0 = uncertainty only; "
                        "default: %(default)s)")
    p.add_argument("--labels", help="gold labels whose units are left out (default: from the configuration)")
    p.add_argument("--corpus-name", help="corpus name written in the sheet (default: the configured corpus "
                                         "with that folder, else the folder's name)")
    p.add_argument("-m", "--model", default=None, help="model name or folder (default: the shipped 'default')")
    p.add_argument("--models-dir", default=None, help="a folder of models to look in before the package's own")
    _add_config_options(p)
    p.set_defaults(func=cmd_suggest)

    p = sub.add_parser("models", help="list or show trained models",
                       description="Models are looked up in --models-dir (if given) and in the package.")
    msub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)
    q = msub.add_parser("list", help="list models with their version and scores")
    q.add_argument("--models-dir", default=None,
                   help="a folder of models to list besides the package's own (e.g. models)")
    q.set_defaults(func=cmd_models_list, command="models list")
    q = msub.add_parser("show", help="print a model's card")
    q.add_argument("name", nargs="?", default="default")
    q.add_argument("--models-dir", default=None,
                   help="a folder of models to list besides the package's own (e.g. models)")
    q.set_defaults(func=cmd_models_show, command="models show")

    p = sub.add_parser("labels", help="validate gold labels and count them",
                       description="Gold labels live in labels/gold.csv: unit_id, corpus, source, one 0/1 "
                                   "column per category (src/aipolicy/data/categories.yaml), annotator, note.")
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

    q = lsub.add_parser("import", help="merge a filled labelling sheet or a Label Studio export into the gold",
                        description="Validate FILE (a sheet written by 'aipolicy suggest', .csv or .xlsx, or a "
                                    "Label Studio JSON export made with its configuration) completely, then merge "
                                    "it into the gold labels. Unknown unit ids, unknown categories, values other "
                                    "than 0/1, duplicate ids, missing columns and conflicts with existing gold "
                                    "labels are reported with their row; any problem means nothing is merged "
                                    "(exit 2). Rows whose category cells are all empty are not labelled yet and "
                                    "are left out.")
    q.add_argument("file", help="filled sheet (.csv/.xlsx) or Label Studio export (.json)")
    q.add_argument("--labels", help="gold labels file to merge into (default: from the configuration)")
    q.add_argument("--annotator", default="import", help="annotator recorded for the new rows (default: %(default)s)")
    q.add_argument("--replace", action="store_true", help="let the file overwrite existing gold labels")
    q.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
    _add_config_options(q)
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_labels_import, command="labels import")

    q = lsub.add_parser("audit", help="rank gold units by how likely their labels are wrong (confident learning)",
                        description="Cross-validate the classifier grouped by document, and rank every gold unit "
                                    "by cleanlab's multi-label label-quality score of its out-of-fold "
                                    "probabilities (lowest first). 'issue' marks the units cleanlab's "
                                    "confident-learning filter flags; 'suspect' names the categories the model "
                                    "contradicts (+cat: model says yes, gold no; -cat: the reverse). Read the top "
                                    "of the list and correct the gold where reading confirms the error.")
    q.add_argument("file", nargs="?", help="labels file (default: the one in the training configuration)")
    q.add_argument("-o", "--output", required=True, help="review table, .csv or .xlsx (includes the unit text)")
    q.add_argument("--top", type=int, default=None, help="keep only the N lowest-quality units")
    _add_config_options(q)
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_labels_audit, command="labels audit")

    return parser if sub.built or only is None else build_parser()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=argv[0] if argv and not argv[0].startswith("-") else None)
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
    except Exception as e:  # a bug or an unforeseen failure outside the per-file pipeline: one line, exit 3
        if os.environ.get("AIPOLICY_DEBUG"):
            raise
        from .pipeline import one_line

        print(f"aipolicy {args.command}: internal error: {one_line(f'{type(e).__name__}: {e}')} (a bug; please "
              "report it; AIPOLICY_DEBUG=1 shows the traceback)", file=sys.stderr)
        return INTERNAL_EXIT


def run() -> None:
    """The console script: ``sys.exit(main())`` without the interpreter's garbage collections at exit.
    Everything the command made is still referenced then and goes back to the system with the process;
    collecting it first took 20 ms of a 0.5 s short `label` run (``gc.freeze`` parks it out of their
    reach). Outputs are closed and stdout/stderr are flushed at exit as always."""
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
