"""A Chinese government-style PDF generated with reportlab (test extra), for the PDF tests and the bench.

Like real 公文 PDFs made by word processors, the curly quotes are set in a Latin font and written to
the content stream after the Chinese text of their line (a separate text run), every page has a
running header and a page-number footer ("— n —"), and paragraphs are wrapped at the page width.
"""
from __future__ import annotations

from pathlib import Path

QUOTES = "“”‘’"


def _line_runs(line: str):
    """Split a line into (start, text, is_quote) runs."""
    runs, start = [], 0
    for i, ch in enumerate(line + "\0"):
        if ch in QUOTES or ch == "\0" or (i and line[i - 1] in QUOTES):
            if i > start:
                runs.append((start, line[start:i], line[start] in QUOTES))
            start = i
    return runs


def make_pdf(path: Path, pages: list[list[str]], *, header: str | None, size: int = 14,
             quotes_last: bool = True) -> Path:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), pagesize=(595, 842), invariant=1)
    for n, lines in enumerate(pages, 1):
        if header:
            c.setFont("STSong-Light", 9)
            c.drawString(220, 810, header)
        c.setFont("STSong-Light", 9)
        c.drawString(285, 30, f"— {n} —")
        y = 760
        for line in lines:
            x = 60.0
            late = []
            for _, text, is_quote in _line_runs(line):
                font = "Times-Roman" if is_quote else "STSong-Light"
                if is_quote and quotes_last:
                    late.append((x, text))
                else:
                    c.setFont(font, size)
                    c.drawString(x, y, text)
                x += pdfmetrics.stringWidth(text, font, size) if not is_quote else size * 0.5 * len(text)
            for qx, text in late:  # the quote runs come after the line's Chinese text in the stream
                c.setFont("Times-Roman", size)
                c.drawString(qx, y, text)
            y -= size * 1.7
        c.showPage()
    c.save()
    return path


def wrap(text: str, width: int = 28) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)]
