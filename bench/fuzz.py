"""Hostile-input fuzzing of `aipolicy ingest` and `aipolicy label`, with a seed; prints counts.

    python bench/fuzz.py --inputs 2000 --seed 1 [--batch 200] [--jobs 1] [--timeout 300]
        [--file-timeout 30] [--commands ingest,label] [--keep DIR]

Generates ``--inputs`` malformed or hostile inputs (broken and bogus docx/xlsx/pdf, zip bombs, an xlsx
whose only cell is XFD1048576, huge gridSpan and orphan vMerge, docx in a wrong namespace, tables with
duplicated or mixed columns, JSONL of mixed shapes, odd encodings, control characters, \\r and
non-UTF-8 bytes in file names, long templated lists, symlink loops, broken links, links to folders,
FIFOs, sockets, unreadable files), spread over folders of ``--batch`` entries, and runs every command
on every folder in a fresh process with a wall-clock limit (``--timeout``; over it = a hang).

Per run it checks: the exit code is 0, 1 or 2 and no traceback is printed (else: an exception); the
manifest lists every entry of the folder (else: unaccounted); the output has as many rows as the
manifest's units; no ``OUT.parts`` or temporary file is left in the output folder; and it records the
peak resident memory of the process (-j1: the process that reads every file). Prints the counts:
inputs, runs, files ok, skipped by reason, exceptions, hangs, unaccounted, row mismatches, leftovers,
peak RSS. Exit status 1 when any exception, hang, unaccounted entry, mismatch or leftover was seen.
``run_fuzz`` is the same in Python (the test suite runs a short version in-process).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SENTENCES = ("支持建设城市级智能算力平台，向中小企业发放算力券。", "推动公共数据分级分类开放，培育数据交易市场。",
             "支持企业研发通用大模型，建设大模型评测平台。", "在医疗、交通领域开展人工智能示范应用。",
             "引进人工智能领军人才和创新团队。", "建立人工智能伦理审查机制，完善标准体系。")
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/'
      'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
      'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/'
      'document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"'
      '/></Types>')
RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.'
        'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')


# ------------------------------------------------------------------------------------ generators

def _text(rng: random.Random, n: int = 5) -> str:
    return "\n".join(rng.choice(SENTENCES) for _ in range(n))


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _para(s: str) -> str:
    return f"<w:p><w:r><w:t>{_esc(s)}</w:t></w:r></w:p>"


def _docx(body: str, ns: str = W) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CT)
        z.writestr("_rels/.rels", RELS)
        z.writestr("word/document.xml", f'<?xml version="1.0"?><w:document xmlns:w="{ns}"><w:body>{body}'
                                        "</w:body></w:document>")
    return buf.getvalue()


def _tc(text: str, props: str = "") -> str:
    return f"<w:tc>{f'<w:tcPr>{props}</w:tcPr>' if props else ''}{_para(text)}</w:tc>"


def gen_docx(rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["ok", "truncated", "gridspan_huge", "gridspan_text", "vmerge_orphan", "namespace",
                       "not_zip", "many_paragraphs", "bad_xml", "table_dup_cols"])
    paras = "".join(_para(rng.choice(SENTENCES)) for _ in range(rng.randint(1, 8)))
    if kind == "gridspan_huge":
        body = paras + "<w:tbl><w:tr>" + _tc(SENTENCES[0], '<w:gridSpan w:val="2000000000"/>') + "</w:tr></w:tbl>"
    elif kind == "gridspan_text":
        body = paras + "<w:tbl><w:tr>" + _tc(SENTENCES[1], '<w:gridSpan w:val="many"/>') + "</w:tr></w:tbl>"
    elif kind == "vmerge_orphan":
        body = paras + "<w:tbl><w:tr>" + _tc(SENTENCES[2], "<w:vMerge/>") + _tc(SENTENCES[3]) + "</w:tr></w:tbl>"
    elif kind == "table_dup_cols":
        row = "".join(_tc(rng.choice(SENTENCES)) for _ in range(3))
        body = paras + "<w:tbl>" + f"<w:tr>{row}</w:tr>" * rng.randint(1, 30) + "</w:tbl>"
    elif kind == "many_paragraphs":
        body = "".join(_para(f"推进人工智能产业发展第{i}项措施，由市经济和信息化局牵头负责。") for i in
                       range(rng.choice([3000, 20000, 120000])))
    else:
        body = paras
    data = _docx(body, ns="http://example.invalid/not-word" if kind == "namespace" else W)
    if kind == "truncated":
        data = data[:rng.randint(10, len(data) - 1)]
    elif kind == "not_zip":
        data = b"PK\x03\x04" + bytes(rng.getrandbits(8) for _ in range(200))
    elif kind == "bad_xml":
        data = _docx(paras + "<w:p><w:r><w:t>unclosed")
    return f"{kind}.docx", data


def gen_bomb(rng: random.Random) -> tuple[str, bytes]:
    """A zip whose XML inflates to hundreds of MB: docx of one huge paragraph, or an xlsx."""
    size = rng.choice([60, 200]) * 1_000_000
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CT)
        z.writestr("_rels/.rels", RELS)
        z.writestr("word/document.xml", f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>'
                   + "算" * (size // 3) + "</w:t></w:r></w:p></w:body></w:document>")
    return rng.choice(["bomb.docx", "bomb.xlsx"]), buf.getvalue()


def _xlsx(rows: list[list], far_cell: bool = False, dimension: str | None = None) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    if far_cell:
        ws.cell(row=1048576, column=16384, value="x")
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if dimension:  # rewrite the sheet's declared used range
        src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for info in src.infolist():
                b = src.read(info)
                if info.filename.startswith("xl/worksheets/"):
                    b = re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{dimension}"'.encode(), b)
                z.writestr(info, b)
        data = out.getvalue()
    return data


def gen_table(rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["xlsx_far_cell", "xlsx_bogus_dimension", "xlsx_dup_text", "xlsx_formula", "csv_dup_text",
                       "csv_mixed", "csv_unclosed_quote", "csv_many_columns", "jsonl_mixed", "jsonl_huge_string",
                       "jsonl_bad", "csv_control", "csv_gbk", "xlsx_ok"])
    texts = [rng.choice(SENTENCES) for _ in range(rng.randint(1, 6))]
    if kind == "xlsx_far_cell":
        return "far.xlsx", _xlsx([], far_cell=True)
    if kind == "xlsx_bogus_dimension":
        return "dim.xlsx", _xlsx([["text"]] + [[t] for t in texts], dimension="A1:XFD1048576")
    if kind == "xlsx_dup_text":
        return "dup.xlsx", _xlsx([["Text", "text", "id"]] + [[t, t, i] for i, t in enumerate(texts)])
    if kind == "xlsx_formula":
        return "formula.xlsx", _xlsx([["text", "id"]] + [["=HYPERLINK(\"http://x.invalid\")" + t, f"=1+{i}"]
                                                         for i, t in enumerate(texts)])
    if kind == "xlsx_ok":
        return "ok.xlsx", _xlsx([["id", "text", "city"]] + [[i, t, "北京"] for i, t in enumerate(texts)])
    if kind == "csv_dup_text":
        return "dup.csv", ("Text,text\n" + "\n".join(f"{t},{t}" for t in texts)).encode()
    if kind == "csv_mixed":
        return "mixed.csv", ("text,id\n" + "\n".join(f"{t},{i},extra,{i}" if i % 2 else t
                                                     for i, t in enumerate(texts))).encode()
    if kind == "csv_unclosed_quote":
        return "quote.csv", ("text,id\n\"" + "\n".join(texts)).encode()
    if kind == "csv_many_columns":
        return "wide.csv", (",".join(f"c{i}" for i in range(rng.choice([50, 5000, 200000]))) + ",text\n").encode()
    if kind == "csv_control":
        return "ctl.csv", ("id,text\r\n" + "\r\n".join(f'"r\r{i}\x01","\x02{t}\x1b"' for i, t in enumerate(texts))
                           ).encode()
    if kind == "csv_gbk":
        return "gbk.csv", ("text,id\n" + "\n".join(f"{t},{i}" for i, t in enumerate(texts))).encode("gbk")
    if kind == "jsonl_mixed":
        shapes = [lambda t: {"text": t}, lambda t: [t], lambda t: t, lambda t: {"Text": t, "text": t},
                  lambda t: {"text": {"nested": t}}, lambda t: {"text": None}, lambda t: 42]
        return "mixed.jsonl", "\n".join(json.dumps(rng.choice(shapes)(t), ensure_ascii=False) for t in texts).encode()
    if kind == "jsonl_huge_string":
        return "huge.jsonl", json.dumps({"text": "数据" * rng.choice([100_000, 4_000_000])}, ensure_ascii=False).encode()
    return "bad.jsonl", b'{"text": "unterminated\n{"text": 1}\n'


def gen_text(rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["utf8", "gbk", "utf16", "bom_lie", "binary", "control", "empty", "random", "big5",
                       "long_line", "templated", "html_deep", "html_big", "html_ok"])
    t = _text(rng)
    if kind == "gbk":
        return "gbk.txt", t.encode("gbk")
    if kind == "utf16":
        return "u16.txt", t.encode("utf-16")
    if kind == "bom_lie":
        return "bom.txt", b"\xff\xfe" + t.encode("utf-8")[:-1]
    if kind == "binary":
        return "bin.txt", bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3000)))
    if kind == "control":
        return "ctl.md", ("\x00" if rng.random() < 0.3 else "").encode() + "\x01\x0b\x1b[31m".join(t.split("，")).encode()
    if kind == "empty":
        return "empty.txt", b""
    if kind == "random":
        return "rnd.txt", "".join(chr(rng.randint(0x20, 0x2FFFF)) for _ in range(500)).encode("utf-8", "replace")
    if kind == "big5":
        return "big5.txt", "臺北市政府推動人工智慧產業發展，建設智慧運算中心。".encode("big5")
    if kind == "long_line":
        return "long.txt", ("数据要素" * rng.choice([1000, 100_000])).encode()
    if kind == "templated":
        n = rng.choice([2000, 10000, 40000])
        return "list.txt", "\n".join(f"推进人工智能产业发展第{i}项措施，落实到位。" for i in range(n)).encode()
    if kind == "html_deep":
        d = rng.choice([100, 5000, 100000])
        return "deep.html", ("<div>" * d + t + "</div>" * d).encode()
    if kind == "html_big":
        return "big.html", ("<html><body>" + "<p>" + t + "</p>" * 1 + "<p>x</p>" * rng.choice([10, 2_000_000])
                            + "</body></html>").encode()
    if kind == "html_ok":
        return "page.html", f"<html><head><title>通知</title></head><body><article><p>{t}</p></article></body></html>".encode()
    return "ok.txt", t.encode()


def gen_pdf(rng: random.Random) -> tuple[str, bytes]:
    base = _pdf_base()
    kind = rng.choice(["ok", "truncated", "flipped", "bogus_tounicode", "header_only"])
    if kind == "truncated":
        return "trunc.pdf", base[:rng.randint(10, len(base) - 1)]
    if kind == "flipped":
        b = bytearray(base)
        for _ in range(rng.randint(1, 50)):
            b[rng.randrange(len(b))] = rng.getrandbits(8)
        return "flip.pdf", bytes(b)
    if kind == "bogus_tounicode":
        stream = b"/CIDInit /ProcSet findresource begin 1 begincmap 1 beginbfrange <0000> <FFFF> [<D800> <DFFF>] endbfrange endcmap"
        return "tounicode.pdf", base.replace(b"/Type /Font", b"/Type /Font /ToUnicode 99 0 R", 1) + \
            b"\n99 0 obj << /Length %d >> stream\n" % len(stream) + stream + b"\nendstream endobj\n"
    if kind == "header_only":
        return "hdr.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    return "ok.pdf", base


_PDF_CACHE: list[bytes] = []


def _pdf_base() -> bytes:
    if not _PDF_CACHE:
        try:
            from reportlab.lib.pagesizes import A4
            from reportlab.pdfbase import pdfmetrics
            from reportlab.pdfbase.cidfonts import UnicodeCIDFont
            from reportlab.pdfgen import canvas

            pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
            buf = io.BytesIO()
            c = canvas.Canvas(buf, pagesize=A4)
            c.setFont("STSong-Light", 12)
            for i, s in enumerate(SENTENCES):
                c.drawString(50, 800 - 20 * i, s)
            c.save()
            _PDF_CACHE.append(buf.getvalue())
        except ImportError:  # reportlab is a test extra
            _PDF_CACHE.append(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    return _PDF_CACHE[0]


def _name(rng: random.Random, base: str) -> bytes:
    """A file name, sometimes not UTF-8, with \\r or \\n, a leading dash or very long."""
    stem, dot, ext = base.rpartition(".")
    kind = rng.random()
    if kind < 0.15:
        return "北京".encode("gbk") + b"_" + stem.encode() + b"." + ext.encode()  # GBK bytes: not UTF-8
    if kind < 0.22:
        return f"r\r{stem}.{ext}".encode()
    if kind < 0.27:
        return f"n\n{stem}.{ext}".encode()
    if kind < 0.30:
        return f"-{stem}.{ext}".encode()
    if kind < 0.33:
        return ("长" * 70 + f".{ext}").encode()
    return f"{stem}.{ext}".encode()


GENERATORS = [(gen_docx, 0.25), (gen_table, 0.25), (gen_text, 0.3), (gen_pdf, 0.12), (gen_bomb, 0.005)]


def _special(rng: random.Random, folder: bytes, i: int) -> str:
    """Entries that are not regular files."""
    kind = rng.choice(["symlink_loop", "broken_link", "fifo", "socket", "link_to_folder", "unreadable"])
    p = os.path.join(folder, f"{i:05d}_{kind}".encode())
    if kind == "symlink_loop":
        os.symlink(p + b".txt", p + b".txt")
    elif kind == "broken_link":
        os.symlink(b"/nonexistent/target.txt", p + b".txt")
    elif kind == "fifo":
        os.mkfifo(p + b".txt")
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(p + b".txt")
        except OSError:  # path too long for a socket address
            os.mkfifo(p + b".txt")
        finally:
            s.close()
    elif kind == "link_to_folder":
        os.symlink(b"/", p + b".txt")
    else:
        with open(p + b".txt", "wb") as fh:
            fh.write(SENTENCES[0].encode())
        os.chmod(p + b".txt", 0)
    return kind


def generate(root: Path, n: int, seed: int, batch: int) -> tuple[list[Path], Counter]:
    """``n`` inputs in folders of ``batch`` entries under ``root``; (folders, kinds)."""
    rng = random.Random(seed)
    kinds: Counter = Counter()
    folders: list[Path] = []
    gens, weights = zip(*GENERATORS)
    for i in range(n):
        if i % batch == 0:
            folders.append(root / f"batch{len(folders):03d}")
            folders[-1].mkdir(parents=True)
        folder = os.fsencode(folders[-1])
        if rng.random() < 0.04:
            kinds["special:" + _special(rng, folder, i)] += 1
            continue
        gen = rng.choices(gens, weights)[0]
        name, data = gen(rng)
        kinds[f"{gen.__name__[4:]}:{name.rsplit('.', 1)[0]}"] += 1
        with open(os.path.join(folder, f"{i:05d}_".encode() + _name(rng, name)), "wb") as fh:
            fh.write(data)
    return folders, kinds


# ------------------------------------------------------------------------------------ running

@dataclass
class Tally:
    inputs: int = 0
    runs: int = 0
    status: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    exceptions: list = field(default_factory=list)
    hangs: list = field(default_factory=list)
    unaccounted: int = 0
    mismatches: list = field(default_factory=list)
    leftovers: list = field(default_factory=list)
    peak_rss_mb: float = 0.0
    seconds: float = 0.0

    def failed(self) -> bool:
        return bool(self.exceptions or self.hangs or self.unaccounted or self.mismatches or self.leftovers)


def reason_key(reason: str) -> str:
    """A reason without its numbers, names and details: 'over a limit: rows N > N'."""
    r = re.sub(r"\([^)]*\)", "", str(reason))
    r = re.sub(r"\d[\d,._]*", "N", r)
    return re.sub(r"'[^']*'", "'…'", r).strip()[:70]


def _entries(folder: Path) -> set[bytes]:
    return {e.name for e in os.scandir(os.fsencode(folder)) if not e.name.startswith(b".")}


def _check_run(folder: Path, out: Path, tally: Tally, label: str) -> None:
    import pandas as pd

    man_path = Path(str(out) + ".manifest.csv")
    left = [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp") or p.name.endswith(".parts")
            or p.name.endswith(".lock")]
    if left:
        tally.leftovers.append((label, left[:3]))
    if not man_path.exists():
        tally.exceptions.append((label, "no manifest written"))
        return
    man = pd.read_csv(man_path, encoding="utf-8-sig", keep_default_na=False, dtype={"file": str})
    listed = {os.fsencode(f).rsplit(b"/", 1)[-1] for f in man["file"]}
    names = _entries(folder)
    # the manifest writes a non-UTF-8 name with backslash escapes: compare those the same way
    escaped = {n.decode("utf-8", "backslashreplace").encode("utf-8") for n in names}
    tally.unaccounted += len(escaped - listed)
    for s, k in man["status"].value_counts().items():
        tally.status[s] += int(k)
    for r in man.loc[man["status"] != "ok", "reason"]:
        tally.reasons[reason_key(r)] += 1
    if out.exists():
        rows = _rows(out)
        if rows != int(man["units"].sum()):
            tally.mismatches.append((label, rows, int(man["units"].sum())))


def _rows(out: Path) -> int:
    import pandas as pd

    if out.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(out).metadata.num_rows
    if out.suffix == ".csv":
        return len(pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False))
    return len(pd.read_json(out, lines=True, dtype=False))


def _hwm_kb(pid: int) -> int:
    """Peak resident memory of a live process (VmHWM), in kB; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("VmHWM:")), 0)
    except (OSError, ValueError):
        return 0


def run_process(cmd: list[str], timeout: float) -> tuple[int | None, str, float]:
    """(exit code or None on timeout, stderr, peak RSS MB of the process) of one command.

    The peak is the process's own VmHWM, polled every 20 ms (the rusage of a child is no use here:
    Linux carries the parent's high-water mark across fork and exec)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        deadline, peak = time.monotonic() + timeout, 0
        while True:
            peak = max(peak, _hwm_kb(proc.pid))
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                code = None
                break
            time.sleep(0.02)
        proc.returncode = code if code is not None else -9
        err.seek(0)
        return code, err.read().decode("utf-8", "replace"), peak / 1024


def run_fuzz(n: int, seed: int, *, batch: int = 200, commands=("ingest", "label"), jobs: int = 1,
             timeout: float = 300, file_timeout: float = 30, work: Path | None = None,
             in_process: bool = False, log=print) -> Tally:
    tally = Tally(inputs=n)
    t0 = time.perf_counter()
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="aipolicy-fuzz-")) if own else Path(work)
    try:
        folders, kinds = generate(work / "inputs", n, seed, batch)
        log(f"generated {n} inputs in {len(folders)} folders: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        for folder in folders:
            for cmd in commands:
                _one_run(folder, cmd, work / "out" / f"{folder.name}-{cmd}", tally, jobs, timeout, file_timeout,
                         in_process)
    finally:
        for p in sorted((work / "inputs").rglob("*"), reverse=True) if (work / "inputs").exists() else []:
            if p.is_file() and not p.is_symlink():
                os.chmod(p, 0o600)
        if own:
            shutil.rmtree(work, ignore_errors=True)
    tally.seconds = time.perf_counter() - t0
    return tally


def _one_run(folder: Path, cmd: str, outdir: Path, tally: Tally, jobs: int, timeout: float, file_timeout: float,
             in_process: bool) -> None:
    outdir.mkdir(parents=True)
    out = outdir / ("units.csv" if cmd == "ingest" else "labels.parquet")
    args = [cmd, str(folder), "-o", str(out), "-q", "--limit", f"file_timeout={file_timeout}"]
    if cmd == "label":
        args += ["-j", str(jobs)]
    label = f"{cmd} {folder.name}"
    tally.runs += 1
    if in_process:
        code, err = _in_process(args)
        rss = 0.0
    else:
        code, err, rss = run_process([sys.executable, "-m", "aipolicy.cli", *args], timeout)
    tally.peak_rss_mb = max(tally.peak_rss_mb, rss)
    if code is None:
        tally.hangs.append(label)
        return
    if code not in (0, 1, 2) or "Traceback" in err:
        tally.exceptions.append((label, code, err.strip().splitlines()[-1:] if err.strip() else ""))
    _check_run(folder, out, tally, label)


def _in_process(args: list[str]) -> tuple[int, str]:
    import contextlib
    import traceback

    from aipolicy.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 2
        except BaseException:  # what would reach the user as a traceback
            traceback.print_exc(file=err)
            code = -1
    return code, err.getvalue()


def report(t: Tally) -> str:
    lines = [f"inputs {t.inputs}, runs {t.runs}, {t.seconds:.0f} s",
             "files: " + ", ".join(f"{k} {v}" for k, v in sorted(t.status.items())),
             f"exceptions {len(t.exceptions)}, hangs {len(t.hangs)}, unaccounted {t.unaccounted}, "
             f"row mismatches {len(t.mismatches)}, leftover temporary files {len(t.leftovers)}, "
             f"peak RSS {t.peak_rss_mb:.0f} MB",
             "skipped by reason:"]
    lines += [f"  {v:6d}  {k}" for k, v in t.reasons.most_common()]
    for what, items in (("exception", t.exceptions), ("hang", t.hangs), ("mismatch", t.mismatches),
                        ("leftover", t.leftovers)):
        lines += [f"{what}: {x}" for x in items[:10]]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=200, help="entries per folder, i.e. per run (default: 200)")
    ap.add_argument("--jobs", type=int, default=1, help="-j of label (default: 1)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds before a run counts as a hang")
    ap.add_argument("--file-timeout", type=float, default=30, help="--limit file_timeout of each run")
    ap.add_argument("--commands", default="ingest,label")
    ap.add_argument("--keep", type=Path, help="generate and run in this folder and keep it")
    args = ap.parse_args(argv)
    t = run_fuzz(args.inputs, args.seed, batch=args.batch, commands=tuple(args.commands.split(",")),
                 jobs=args.jobs, timeout=args.timeout, file_timeout=args.file_timeout, work=args.keep)
    print(report(t))
    return 1 if t.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
