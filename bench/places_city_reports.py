"""Share of each work report's units attributed to the report's own city, on the city-report corpus,
in three variants of the same files:

A. as distributed (file named after the city, "我代表市人民政府…" line present);
B. neutral file name (report_001.txt) and every line with "我代表" removed;
C. as B, with a title line "<city>政府工作报告" at the top where the report has none.

Prints, per variant, the share of all units on their report's city, the mean and minimum per report,
and the number of reports under 90%.

    python bench/places_city_reports.py [--shared ../shared]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aipolicy.cities import Gazetteer  # noqa: E402
from aipolicy.ingest import decode_bytes, ingest_files  # noqa: E402


def variants(corpus: Path, out: Path) -> dict[str, dict[str, str]]:
    """Write the variant folders; return {variant: {file name: city}}."""
    gaz = Gazetteer.default()
    full = {}
    import csv

    for r in csv.DictReader(open(ROOT / "src/aipolicy/data/gazetteer.csv", encoding="utf-8")):
        if r["level"] in ("city", "municipality"):
            full.setdefault(r["place"], r["full"])
    truth: dict[str, dict[str, str]] = {"A": {}, "B": {}, "C": {}}
    for v in truth:
        (out / v).mkdir(parents=True)
    for i, f in enumerate(sorted(corpus.glob("*.txt"))):
        if f.name.startswith(("SOURCE", "README")):
            continue
        city = gaz.any_form.get(f.stem, f.stem)
        city = "吉林市" if f.stem == "吉林" else city  # the corpus' 吉林 is the city (我代表市政府)
        text, _ = decode_bytes(f.read_bytes())
        (out / "A" / f.name).write_text(text, encoding="utf-8")
        truth["A"][f.name] = city
        lines = [ln for ln in text.split("\n") if "我代表" not in ln]
        name = f"report_{i:03d}.txt"
        (out / "B" / name).write_text("\n".join(lines), encoding="utf-8")
        truth["B"][name] = city
        if not any("政府工作报告" in ln for ln in lines[:5]):
            lines = [f"{full.get(city, city)}政府工作报告", ""] + lines
        (out / "C" / name).write_text("\n".join(lines), encoding="utf-8")
        truth["C"][name] = city
    return truth


def score(folder: Path, truth: dict[str, str]) -> str:
    units = ingest_files([folder]).units
    units["want"] = units["source"].map(truth)
    units["ok"] = units["city"] == units["want"]
    per = units.groupby("source")["ok"].mean()
    return (f"{units['ok'].mean():.1%} of {len(units)} units on their report's city; per report mean "
            f"{per.mean():.1%}, min {per.min():.0%} ({per.idxmin()}), {int((per < 0.9).sum())} reports < 90%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    a = ap.parse_args()
    corpus = a.shared / "corpus" / "city-reports-2024"
    with tempfile.TemporaryDirectory() as tmp:
        truth = variants(corpus, Path(tmp))
        for v, label in (("A", "as distributed"), ("B", "neutral name, no 我代表 line"),
                         ("C", "titled, neutral name, no 我代表 line")):
            print(f"{v} {label}: {score(Path(tmp) / v, truth[v])}")


if __name__ == "__main__":
    main()
