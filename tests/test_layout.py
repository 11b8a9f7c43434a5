"""Layout repair: hard wraps, page markers, running headers/footers, page breaks (texts written for the tests)."""
from __future__ import annotations

from aipolicy.layout import is_hard_wrapped, is_page_marker, repair_pages, repair_text, running_chrome

P1 = ("为加快推进人工智能产业高质量发展，打造“人工智能+”应用高地，根据《嘉禾市数字经济发展规划》，"
      "结合本市实际，制定本方案。")
P2 = ("到2027年，全市建成智能算力规模超过5000P，培育“专精特新”企业50家以上，形成一批可复制推广的典型"
      "应用场景，人工智能核心产业规模达到300亿元。")
P3 = "支持企业建设行业大模型训练平台，对购买算力服务的中小企业按合同金额的30%给予补贴，每家每年最高200万元。"


def _wrap(text: str, width: int = 30) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)]


def wrapped_report() -> str:
    """A text copied out of a PDF: 30 characters a line, page markers, a running header."""
    lines = ["嘉禾市人民政府办公室文件", "", "关于加快人工智能产业发展的实施方案", "", "一、总体要求", ""]
    body = _wrap(P1) + _wrap(P2)
    lines += body[:5] + ["", "— 1 —", "", "嘉禾市人民政府办公室文件", ""] + body[5:]
    lines += ["", "二、重点任务", "（一）建设算力平台"] + _wrap(P3)
    lines += ["", "－2－", "嘉禾市人民政府办公室文件", "（二）培育数据要素市场", "", "— 3 —"]
    return "\n".join(lines)


def test_page_markers():
    for m in ["— 1 —", "－2－", "- 3 -", "第 4 页", "第4页 共9页", "5/9", "12", "Page 3 of 9"]:
        assert is_page_marker(m), m
    for t in ["一、总体要求", "2027年", "P3", "第五条 本办法自发布之日起施行"]:
        assert not is_page_marker(t), t


def test_hard_wrapped_text_rejoined_and_chrome_removed():
    out = repair_text(wrapped_report()).split("\n")
    assert out == ["关于加快人工智能产业发展的实施方案", "一、总体要求", P1, P2, "二、重点任务",
                   "（一）建设算力平台", P3, "（二）培育数据要素市场"]


def test_paragraph_text_left_unchanged():
    text = "\n\n".join([P1, P2, "二、重点任务", P3]) + "\n"
    assert not is_hard_wrapped(text.split("\n"))
    assert repair_text(text) == text


def test_paragraph_split_by_page_break_rejoined():
    cut = 40
    pages = [["嘉禾市人民政府文件", P1, P2[:cut], "— 1 —"], ["嘉禾市人民政府文件", P2[cut:], P3, "— 2 —"],
             ["嘉禾市人民政府文件", "三、保障措施", "— 3 —"]]
    assert running_chrome(pages) == {"嘉禾市人民政府文件"}
    assert repair_pages(pages) == [P1, P2, P3, "三、保障措施"]


def test_heading_at_page_end_not_joined():
    pages = [[P1, "二、重点任务"], ["加快建设智能算力中心和行业数据集，推动模型在政务服务中落地应用。"]]
    assert repair_pages(pages, chrome=set()) == [P1, "二、重点任务",
                                                 "加快建设智能算力中心和行业数据集，推动模型在政务服务中落地应用。"]


def test_wrapped_list_items_stay_separate():
    items = [f"{i}.支持企业开展人工智能应用示范项目建设，按项目投资额的一定比例给予补助。" for i in range(1, 5)]
    lines = [piece for it in items for piece in _wrap(it, 28)]
    assert repair_text("\n".join(lines)).split("\n") == items


def test_repair_text_one_marker_pass_equals_the_three_pass_definition():
    # repair_text tries each line as a page marker once when there is no form feed and no marker; the
    # result is the definition's: pages split, hard wraps tested, markers looked for, on random texts
    import random

    from aipolicy.layout import _split_pages

    def defined(text):
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        pages = _split_pages(lines)
        if len(pages) <= 1 and not is_hard_wrapped(lines) and not any(is_page_marker(ln) for ln in lines):
            return text
        return "\n".join(repair_pages(pages))

    rng = random.Random(8)
    pieces = _wrap(P1, 20) + _wrap(P2, 25) + [P3, "一、总体要求", "", " ", "— 1 —", "12", "第4页", "\f", "a\fb", "\r", "。"]
    for _ in range(3000):
        text = "\n".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert repair_text(text) == defined(text), repr(text)
    assert repair_text("\n".join(_wrap(P1 + P2 + P3))) != "\n".join(_wrap(P1 + P2 + P3))  # hard-wrapped, no marker
