"""The 党政机关公文格式 (GB/T 9704-2012) as a python-docx builder shared by every official document.

Layout, as the standard sets it: A4, 天头 37 mm, 订口 28 mm, a 156 × 225 mm 版心 of 22 lines ×
28 characters of 3号 (16 pt) text; the 版头 with the 发文机关标志 in red, the 发文字号 centred two
lines below it (年份 in 〔〕, no 第, no leading zeros) and the red separator line; the 标题 in 2号
小标宋 two lines further down; 主送机关 flush left ending in a full-width colon; 正文 indented two
characters; 附件说明; 发文机关署名 centred over the 成文日期, which stands four characters from
the right in Arabic numerals without leading zeros (2026年12月7日, §7.3.5.5 of the 2012
edition; the 1999 edition's 二〇二六年 form is no longer used); page numbers "— 1 —" in 4号,
odd pages on the right and even pages on the left, one character in; annexes on a new page,
headed 附件 in 黑体; the 版记 (印发机关 and 印发日期 between two rules) last.

Fonts: every run names its font in w:ascii, w:hAnsi and w:eastAsia (Word picks East Asian text
by w:eastAsia, WPS by either), and the font table carries the fallback a reader without the
official font gets (w:altName), with the GB2312 charset and family so Word's own substitution
lands on a similar face:
  标题, 发文机关标志  方正小标宋简体 → 小标宋 (then 宋体 by family)
  正文                仿宋_GB2312    → 仿宋
  一级标题            黑体
  二级标题            楷体_GB2312    → 楷体
  页码                宋体
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from flask import current_app
from lxml import etree

from server import tenancy
from server.db import db

TITLE_FONT, BODY_FONT, HEADING1_FONT, HEADING2_FONT, PAGE_FONT = (
    "方正小标宋简体",
    "仿宋_GB2312",
    "黑体",
    "楷体_GB2312",
    "宋体",
)
# The face a reader's machine uses when the official one is not installed.
FALLBACKS = {TITLE_FONT: "小标宋", BODY_FONT: "仿宋", HEADING2_FONT: "楷体"}
# Word's substitution by family when neither is there: serif (宋) for 小标宋, modern for the rest.
_FAMILIES = {TITLE_FONT: "roman", BODY_FONT: "modern", HEADING1_FONT: "modern", HEADING2_FONT: "script"}
RED = RGBColor(0xFF, 0x00, 0x00)
BODY_PT, TITLE_PT, PAGE_PT = 16, 22, 14  # 3号, 2号, 4号
# 225 mm of 版心 over 22 lines; 156 mm over 28 characters.
LINE_PT = 225 / 25.4 * 72 / 22
LINE_TWIPS = int(LINE_PT * 20)
CHAR_SPACE = round((156 / 25.4 * 72 / 28 - BODY_PT) * 4096)


def set_fonts(rpr: Any, font: str) -> None:
    """Name `font` for Latin and East Asian text alike on a run's or style's rPr (theme fonts dropped)."""
    fonts = rpr.get_or_add_rFonts()
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        # A theme font overrides the named one: drop it, or the text renders in the theme's face.
        fonts.attrib.pop(qn(theme), None)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), font)


def department_name() -> str:
    """The department of the county acted in: its own name (本县信息), else DEPARTMENT_NAME ("" when unset)."""
    county = tenancy.county_of_user(db.session, None)
    if county is not None and county.department_name:
        return county.department_name
    return current_app.config.get("DEPARTMENT_NAME", "")


def issuer() -> str:
    """The issuing department, e.g. 中共吉安县委组织部; 县委组织部 when none is known."""
    return department_name() or "县委组织部"


def document_date(day: date) -> str:
    """成文日期 as GB/T 9704-2012 writes it: 2026年12月7日 (Arabic numerals, no leading zeros)."""
    return f"{day.year}年{day.month}月{day.day}日"


def _em_width(text: str) -> float:
    """Width in characters: ASCII digits and letters are half as wide as Chinese characters."""
    return sum(0.5 if ord(c) < 128 else 1 for c in text)


# What may follow w:pBdr inside w:pPr (ECMA-376 CT_PPrBase), for inserting it in its place.
_AFTER_PBDR = tuple(
    f"w:{tag}"
    for tag in [
        "shd",
        "tabs",
        "suppressAutoHyphens",
        "kinsoku",
        "wordWrap",
        "overflowPunct",
        "topLinePunct",
        "autoSpaceDE",
        "autoSpaceDN",
        "bidi",
        "adjustRightInd",
        "snapToGrid",
        "spacing",
        "ind",
        "contextualSpacing",
        "mirrorIndents",
        "suppressOverlap",
        "jc",
        "textDirection",
        "textAlignment",
        "textboxTightWrap",
        "outlineLvl",
        "divId",
        "cnfStyle",
        "rPr",
        "sectPr",
        "pPrChange",
    ]
)


def _border(paragraph: Any, side: str, *, color: str, size: int, space: int = 0) -> None:
    ppr = paragraph._p.get_or_add_pPr()
    borders = ppr.find(qn("w:pBdr"))
    if borders is None:
        # The schema fixes the order of pPr's children; Word refuses a file with pBdr after jc.
        borders = OxmlElement("w:pBdr")
        ppr.insert_element_before(borders, *_AFTER_PBDR)
    line = OxmlElement(f"w:{side}")
    for attr, value in (("w:val", "single"), ("w:sz", str(size)), ("w:space", str(space)), ("w:color", color)):
        line.set(qn(attr), value)
    borders.append(line)


class OfficialDocument:
    """A 公文 under construction: 版头, 标题, 主送, 正文, 附件说明, 落款, annexes, 版记; `save()` gives bytes."""

    def __init__(self, *, issuer: str, reference: str, title: str, recipients: list[str]) -> None:
        """Start the document: page, grid and styles, then the 版头, the 标题 and the 主送机关."""
        self.issuer = issuer
        self.doc = Document()
        self._page()
        self._styles()
        self._letterhead(reference)
        self.blank()
        self.title(title)
        self.blank()
        if recipients:
            self.line("、".join(recipients) + ":", indent=False)

    # ---- page and styles -----------------------------------------------------------------------

    def _page(self) -> None:
        section = self.doc.sections[0]
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.top_margin, section.bottom_margin = Mm(37), Mm(35)
        section.left_margin, section.right_margin = Mm(28), Mm(26)
        section.header_distance, section.footer_distance = Mm(15), Mm(21)
        grid = section._sectPr.find(qn("w:docGrid"))
        if grid is None:
            grid = OxmlElement("w:docGrid")
            section._sectPr.append(grid)
        grid.set(qn("w:type"), "linesAndChars")
        grid.set(qn("w:linePitch"), str(LINE_TWIPS))
        grid.set(qn("w:charSpace"), str(CHAR_SPACE))
        self.doc.settings.odd_and_even_pages_header_footer = True
        self._page_number(section.footer.paragraphs[0], WD_ALIGN_PARAGRAPH.RIGHT)
        self._page_number(section.even_page_footer.paragraphs[0], WD_ALIGN_PARAGRAPH.LEFT)
        self._font_table()

    def _styles(self) -> None:
        normal = self.doc.styles["Normal"]
        set_fonts(normal.element.get_or_add_rPr(), BODY_FONT)
        normal.font.size = Pt(BODY_PT)
        fmt = normal.paragraph_format
        fmt.space_before = fmt.space_after = Pt(0)
        fmt.line_spacing_rule, fmt.line_spacing = WD_LINE_SPACING.EXACTLY, Pt(LINE_PT)
        fmt.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY

    def _font_table(self) -> None:
        """Add the official fonts, with their fallbacks, to word/fontTable.xml."""
        part = next(r.target_part for r in self.doc.part.rels.values() if r.reltype.endswith("/fontTable"))
        root = etree.fromstring(part.blob)
        w = root.nsmap["w"]
        for name in (TITLE_FONT, BODY_FONT, HEADING1_FONT, HEADING2_FONT, PAGE_FONT):
            font = etree.SubElement(root, f"{{{w}}}font", {f"{{{w}}}name": name})
            if name in FALLBACKS:
                etree.SubElement(font, f"{{{w}}}altName", {f"{{{w}}}val": FALLBACKS[name]})
            etree.SubElement(font, f"{{{w}}}charset", {f"{{{w}}}val": "86"})  # GB2312
            etree.SubElement(font, f"{{{w}}}family", {f"{{{w}}}val": _FAMILIES.get(name, "auto")})
            etree.SubElement(font, f"{{{w}}}pitch", {f"{{{w}}}val": "fixed" if name == BODY_FONT else "variable"})
        part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)

    def _page_number(self, paragraph: Any, alignment: WD_ALIGN_PARAGRAPH) -> None:
        """ "— PAGE —" in 4号 宋体, one character in from the outer edge."""
        paragraph.alignment = alignment
        indent = Pt(PAGE_PT)
        if alignment == WD_ALIGN_PARAGRAPH.RIGHT:
            paragraph.paragraph_format.right_indent = indent
        else:
            paragraph.paragraph_format.left_indent = indent
        self._run(paragraph, "— ", PAGE_FONT, PAGE_PT)
        run = self._run(paragraph, "", PAGE_FONT, PAGE_PT)
        for kind, text in (("begin", None), (None, "PAGE"), ("end", None)):
            if kind:
                element = OxmlElement("w:fldChar")
                element.set(qn("w:fldCharType"), kind)
            else:
                element = OxmlElement("w:instrText")
                element.set(qn("xml:space"), "preserve")
                element.text = text
            run._r.append(element)
        self._run(paragraph, " —", PAGE_FONT, PAGE_PT)

    # ---- runs and paragraphs ---------------------------------------------------------------------

    @staticmethod
    def _run(paragraph: Any, text: str, font: str, size: float, *, color: RGBColor | None = None) -> Any:
        run = paragraph.add_run(text)
        set_fonts(run._r.get_or_add_rPr(), font)
        run.font.size = Pt(size)
        if color is not None:
            run.font.color.rgb = color
        return run

    def _paragraph(self, alignment: WD_ALIGN_PARAGRAPH | None = None, *, indent: bool = False) -> Any:
        paragraph = self.doc.add_paragraph()
        if alignment is not None:
            paragraph.alignment = alignment
        if indent:
            paragraph.paragraph_format.first_line_indent = Pt(2 * BODY_PT)
        return paragraph

    def _letterhead(self, reference: str) -> None:
        """发文机关标志 in red 小标宋, then the 发文字号 two lines below with the red line under it."""
        mark = f"{self.issuer}文件"
        # As large as fits one line of the 版心 (at most 初号), so a long name never wraps.
        size = min(42, int(156 / 25.4 * 72 / max(len(mark), 1) * 0.95))
        head = self._paragraph(WD_ALIGN_PARAGRAPH.CENTER)
        head.paragraph_format.space_before = Pt(35 / 25.4 * 72 - LINE_PT)
        head.paragraph_format.line_spacing = Pt(size * 1.25)
        self._run(head, mark, TITLE_FONT, size, color=RED)
        self.blank(2)
        number = self.line(reference, align=WD_ALIGN_PARAGRAPH.CENTER, indent=False)
        # The separator: red, the width of the 版心, 4 mm below the 发文字号.
        _border(number, "bottom", color="FF0000", size=12, space=11)

    def blank(self, lines: int = 1) -> None:
        """Empty lines of the grid."""
        for _ in range(lines):
            self._paragraph()

    def line(
        self, text: str, *, align: WD_ALIGN_PARAGRAPH | None = None, indent: bool = True, font: str = BODY_FONT
    ) -> Any:
        """One 正文 paragraph in 3号 (indented two characters unless told otherwise)."""
        paragraph = self._paragraph(align, indent=indent)
        self._run(paragraph, text, font, BODY_PT)
        return paragraph

    def title(self, text: str) -> None:
        """The 标题 (or an annex's), 2号 小标宋, centred."""
        paragraph = self._paragraph(WD_ALIGN_PARAGRAPH.CENTER)
        paragraph.paragraph_format.line_spacing = Pt(TITLE_PT * 1.5)
        self._run(paragraph, text, TITLE_FONT, TITLE_PT)

    def heading1(self, text: str) -> None:
        """A first-level heading (一、…) in 黑体."""
        self.line(text, font=HEADING1_FONT)

    def heading2(self, text: str) -> None:
        """A second-level heading ((一)…) in 楷体."""
        self.line(text, font=HEADING2_FONT)

    def table(self, header: list[str], rows: list[list[Any]], *, size: float = 12) -> Any:
        """A ruled table in 仿宋 (the header row in 黑体) at a size that fits the 版心."""
        table = self.doc.add_table(rows=1, cols=len(header))
        table.style = self.doc.styles["Table Grid"]
        for values, font in [(header, HEADING1_FONT), *((row, BODY_FONT) for row in rows)]:
            cells = table.rows[0].cells if values is header else table.add_row().cells
            for cell, value in zip(cells, values, strict=True):
                paragraph = cell.paragraphs[0]
                paragraph.paragraph_format.first_line_indent = Pt(0)
                paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
                paragraph.alignment = WD_ALIGN_PARAGRAPH.LEFT
                self._run(paragraph, str(value), font, size)
        return table

    def attachments_note(self, names: list[str]) -> None:
        """附件说明 one line below the 正文: 附件:名称, or numbered 1. 2. when there are several."""
        if not names:
            return
        self.blank()
        if len(names) == 1:
            self.line(f"附件:{names[0]}")
            return
        for i, name in enumerate(names, 1):
            paragraph = self.line(("附件:" if i == 1 else "") + f"{i}.{name}")
            if i > 1:
                # Later lines start under the first name, past "附件:".
                paragraph.paragraph_format.first_line_indent = Pt(5 * BODY_PT)

    def signature(self, day: date, signer: str | None = None) -> None:
        """发文机关署名 centred over the 成文日期, which stands four characters from the right."""
        signer = signer or self.issuer
        when = document_date(day)
        self.blank(2)
        name = self._paragraph(WD_ALIGN_PARAGRAPH.RIGHT)
        name.paragraph_format.right_indent = Pt(max(2.0, 4 + (_em_width(when) - _em_width(signer)) / 2) * BODY_PT)
        self._run(name, signer, BODY_FONT, BODY_PT)
        dated = self._paragraph(WD_ALIGN_PARAGRAPH.RIGHT)
        dated.paragraph_format.right_indent = Pt(4 * BODY_PT)
        self._run(dated, when, BODY_FONT, BODY_PT)

    def right_line(self, text: str) -> None:
        """A line standing four characters from the right, like the 成文日期 (盖章 places on forms)."""
        paragraph = self._paragraph(WD_ALIGN_PARAGRAPH.RIGHT)
        paragraph.paragraph_format.right_indent = Pt(4 * BODY_PT)
        self._run(paragraph, text, BODY_FONT, BODY_PT)

    def annex(self, title: str, number: int | None = None) -> None:
        """Start an annex on a new page: 附件 (or 附件1) in 黑体 top left, then its 标题."""
        self.doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        self.line("附件" + (str(number) if number is not None else ""), indent=False, font=HEADING1_FONT)
        self.blank()
        self.title(title)
        self.blank()

    def print_record(self, printer: str, day: date) -> None:
        """The 版记: 印发机关 and 印发日期 on one line between two rules, at the end."""
        self.blank()
        paragraph = self._paragraph()
        fmt = paragraph.paragraph_format
        fmt.left_indent = fmt.right_indent = Pt(PAGE_PT)
        _border(paragraph, "top", color="000000", size=8)
        _border(paragraph, "bottom", color="000000", size=8)
        tabs = fmt.tab_stops
        tabs.add_tab_stop(Mm(156) - Pt(2 * PAGE_PT), alignment=WD_TAB_ALIGNMENT.RIGHT)
        self._run(paragraph, f"{printer}\t{document_date(day)}印发", BODY_FONT, PAGE_PT)

    def save(self) -> bytes:
        """The finished DOCX bytes."""
        out = io.BytesIO()
        self.doc.save(out)
        return out.getvalue()
