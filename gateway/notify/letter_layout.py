"""Letter markup to PDF with reportlab: the page, not the words (those are the templates').

The templates (gateway/notify/templates/letters/) render a small XML vocabulary, escaped by
Jinja2's autoescape, that this module lays out:

    <letter footer="..."> the letter; footer: the small reference line on every page
      <letterhead> <line>  the sender, top left (also the return address of a window envelope)
      <window> <line>      the recipient: placed where a #10 window envelope shows it
      <aside> <line>       beside the window: date, case number
      <title> <h> <p> <small> <ul><li>  text; inline <b> <i> <br/> as reportlab reads them
      <facts><row label="">  a two-column block of facts
      <table widths=""> <tr head="1"> <td>  a table (widths in inches)
      <box> ... </box>     a framed block (the numbers to call)
      <pagebreak/>
    <cover> ... </cover>   a fax cover sheet: the same vocabulary on a page of its own

Page one puts the window block 2 inches from the top and 1 inch from the left, 3.75 by 1
inches: inside the window of a #10 envelope when the sheet is folded in three (USPS window
envelope guidance). Rendering is deterministic (reportlab's invariant mode) and the PDF's
creation date is the determination's, so a re-render after a crash gives the same bytes.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict
from datetime import datetime
from functools import lru_cache
from io import BytesIO
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.lib.utils import TimeStamp
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    FrameBreak,
    KeepInFrame,
    KeepTogether,
    ListFlowable,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

PAGE_WIDTH, PAGE_HEIGHT = LETTER
MARGIN = 0.8 * inch
BOTTOM = 0.75 * inch
# The window of a #10 envelope, as the folded sheet presents it (see the module docstring).
WINDOW_LEFT, WINDOW_TOP, WINDOW_WIDTH, WINDOW_HEIGHT = 1.0, 2.0, 3.75, 1.05
BODY_TOP = 3.2  # inches from the top of page one where the body begins
ASIDE_LEFT = WINDOW_LEFT + WINDOW_WIDTH + 0.35
HEAD_SIZE = (
    PAGE_WIDTH - 2 * MARGIN,
    PAGE_HEIGHT - 0.5 * inch - (PAGE_HEIGHT - WINDOW_TOP * inch) - 0.1 * inch,
)
ASIDE_SIZE = (PAGE_WIDTH - MARGIN - ASIDE_LEFT * inch, 1.1 * inch)


@lru_cache(maxsize=1)
def _styles() -> dict[str, ParagraphStyle]:
    """The letters' paragraph styles, made once per process: reportlab only reads a style (a
    split that changes one copies it first), and the paragraph cache below keys on them."""
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontSize=10, leading=13)
    return {
        "org": ParagraphStyle(
            "org", parent=body, fontName="Helvetica-Bold", fontSize=13, leading=16
        ),
        "line": ParagraphStyle("line", parent=body, fontSize=9.5, leading=12, spaceBefore=0),
        "window": ParagraphStyle("window", parent=body, fontSize=10.5, leading=13, spaceBefore=0),
        "title": ParagraphStyle(
            "title", parent=base["Heading1"], fontSize=15, leading=19, spaceAfter=6, keepWithNext=1
        ),
        "h": ParagraphStyle(
            "h", parent=base["Heading3"], fontSize=11.5, spaceBefore=8, spaceAfter=3, keepWithNext=1
        ),
        "p": body,
        "li": ParagraphStyle("li", parent=body, spaceBefore=1, spaceAfter=1),
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10),
        "cell": ParagraphStyle("cell", parent=body, fontSize=9, leading=11, spaceBefore=0),
        "head": ParagraphStyle(
            "head", parent=body, fontName="Helvetica-Bold", fontSize=9, leading=11, spaceBefore=0
        ),
        "label": ParagraphStyle(
            "label", parent=body, fontName="Helvetica-Bold", fontSize=9, leading=11, spaceBefore=0
        ),
        "fact": ParagraphStyle("fact", parent=body, fontSize=9, leading=11, spaceBefore=0),
        "cover_title": ParagraphStyle(
            "cover_title", parent=base["Heading1"], fontSize=26, leading=30, spaceAfter=14
        ),
        "cover_label": ParagraphStyle(
            "cover_label", parent=body, fontName="Helvetica-Bold", fontSize=12, leading=16
        ),
        "cover_fact": ParagraphStyle("cover_fact", parent=body, fontSize=12, leading=16),
    }


class _Kept:
    """A bounded, thread-safe least-recently-used map (the fax and mail lanes render side by
    side): a long-running worker keeps the paragraphs it meets most, not every one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> dict[str, Any] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def put(self, key: Any, value: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


# Most of a letter's paragraphs recur letter after letter (the rights, the taglines, the
# headings, the numbers to call); parsing their markup and breaking them into lines was most of
# a letter's layout time (issue 19 item 5). Both depend only on the markup, the style and the
# width, so each is done once per process and replayed.
_PARSED = _Kept(4096)
_WRAPPED = _Kept(8192)
# Drawing those paragraphs (text operators, fonts, colours) was the largest share of what was
# left (issue 19 item 5): an equal paragraph drawn in the same graphics state writes the same
# operators, so each is drawn once per process and its operators replayed.
_DRAWN = _Kept(8192)
# The canvas state a paragraph's drawing reads (its text object starts from the font, size and
# leading; colours and line settings as it finds them). Not the position: flowables draw after
# a translate, so their operators are relative to their own origin.
_DRAW_STATE = tuple(
    name
    for name in Canvas.STATE_ATTRIBUTES
    if name not in ("_x", "_y", "_currentMatrix", "_textLineMatrix", "_textMatrix", "_extgstate")
)


def forget() -> None:
    """Drop every kept parse, layout and drawing (tests: a letter rendered as a fresh process
    renders it)."""
    for kept in (_PARSED, _WRAPPED, _DRAWN):
        kept.clear()


class _Para(Paragraph):
    """A Paragraph that replays the parse and the line breaks of an equal one laid out before
    (same markup, same style object, same width): the same lines, so the same PDF.

    What is replayed is shared between paragraphs and only read: reportlab draws from it without
    changing it. A split (a paragraph running over a page end) may change its lines' words, so
    a paragraph about to split first parses and breaks its own copy.
    """

    def __init__(self, text: str | None, style: ParagraphStyle, **kwargs: Any) -> None:
        # reportlab's split makes the two halves from fragments (text None): not replayed.
        self._source = (text, style) if text is not None and not kwargs else None
        if self._source is None:
            super().__init__(text, style, **kwargs)
            return
        parsed = _PARSED.get(self._source)
        if parsed is None:
            super().__init__(text, style)
            parsed = dict(self.__dict__)
            _PARSED.put(self._source, parsed)
        else:
            self.__dict__.update(parsed)
        self._shared = True

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        if self._source is None or not self._shared:
            return super().wrap(availWidth, availHeight)
        key = (*self._source, availWidth)
        wrapped = _WRAPPED.get(key)
        if wrapped is None:
            before = dict(self.__dict__)
            super().wrap(availWidth, availHeight)
            wrapped = {
                name: value
                for name, value in self.__dict__.items()
                if name not in before or before[name] is not value
            }
            _WRAPPED.put(key, wrapped)
        else:
            self.__dict__.update(wrapped)
        self._layout = key
        return self.width, self.height

    def draw(self) -> None:
        """Replays the operators an equal paragraph (same layout, same canvas state) wrote,
        with what drawing does to its document done again (the fonts it names registered in
        the order it met them, the PDF version it needs); else draws and keeps what it wrote.
        A replay must be exactly the fresh drawing, or a letter's bytes would depend on what
        its process rendered before: any doubt draws afresh."""
        layout = getattr(self, "_layout", None)
        if layout is None or not self._shared:
            super().draw()
            return
        canvas = self.canv
        state = canvas.__dict__
        graphics = canvas._extgstate
        try:
            key = (
                layout,
                tuple(state[name] for name in _DRAW_STATE),
                tuple(sorted(graphics._d.items())),
            )
            hash(key)
        except (AttributeError, KeyError, TypeError):
            super().draw()
            return
        doc = canvas._doc
        drawn = _DRAWN.get(key)
        if drawn is not None:
            names = tuple(doc.getInternalFontName(font) for font in drawn["fonts"])
            if names == drawn["names"]:
                doc.ensureMinPdfVersion(*drawn["versions"])
                canvas._code.extend(drawn["code"])
                return
        fonts: list[str] = []
        versions: list[str] = []
        font_name, min_version = doc.getInternalFontName, doc.ensureMinPdfVersion

        def recording_font(font: str) -> str:
            if font not in fonts:
                fonts.append(font)
            return font_name(font)

        def recording_version(*keys: str) -> None:
            versions.extend(k for k in keys if k not in versions)
            min_version(*keys)

        start, objects, states = len(canvas._code), len(doc.idToObject), len(graphics._c)
        doc.getInternalFontName, doc.ensureMinPdfVersion = recording_font, recording_version
        try:
            super().draw()
        finally:
            del doc.getInternalFontName, doc.ensureMinPdfVersion
        names = tuple(font_name(font) for font in fonts)
        # Only text and the fonts it names: a paragraph that made any other object (a link's
        # annotation) or graphics state (transparency) is not replayed. The document's objects
        # keep their order of making.
        made = list(doc.idToObject)[objects:]
        code = canvas._code[start:]
        if (
            len(graphics._c) == states
            and all("/" + name in names for name in made)
            and all(isinstance(item, str) for item in code)
        ):
            _DRAWN.put(
                key, {"fonts": tuple(fonts), "names": names, "versions": versions, "code": code}
            )

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        if self._source is not None and self._shared:
            text, style = self._source
            width = getattr(self, "width", availWidth)
            Paragraph.__init__(self, text, style)  # fragments and lines of its own
            self._shared = False
            super().wrap(width, availHeight)
        return super().split(availWidth, availHeight)


def _inline(element: ET.Element) -> str:
    """The element's content as reportlab paragraph markup (text, <b>, <i>, <br/>)."""
    inner = "".join(ET.tostring(child, encoding="unicode") for child in element)
    head = _escape(element.text or "")
    return " ".join((head + inner).split())


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Builder:
    def __init__(self, *, cover: bool = False) -> None:
        self.styles = _styles()
        self.cover = cover

    def block(self, element: ET.Element) -> list[Flowable]:
        """Flowables for the children of `element`."""
        out: list[Flowable] = []
        for child in element:
            out.extend(self.one(child))
        return out

    def one(self, element: ET.Element) -> list[Flowable]:
        tag, styles = element.tag, self.styles
        if tag in ("title", "h", "p", "small"):
            style = styles["cover_title"] if self.cover and tag == "title" else styles[tag]
            return [_Para(_inline(element), style)]
        if tag == "ul":
            items = [_Para(_inline(li), styles["li"]) for li in element.iter("li")]
            return [ListFlowable(items, bulletType="bullet", leftIndent=14, bulletFontSize=8)]
        if tag == "facts":
            return [self.facts(element)]
        if tag == "table":
            return [self.table(element)]
        if tag == "box":
            return [self.box(element)]
        if tag == "keep":
            return [KeepTogether(self.block(element))]
        if tag == "pagebreak":
            return [PageBreak()]
        if tag == "space":
            return [Spacer(1, float(element.get("points", "8")))]
        raise ValueError(f"letter markup: unknown element <{tag}>")

    def facts(self, element: ET.Element) -> Table:
        """Label and value pairs; columns="2" sets two pairs side by side."""
        label = self.styles["cover_label" if self.cover else "label"]
        fact = self.styles["cover_fact" if self.cover else "fact"]
        pairs: list[list[Any]] = [
            [_Para(_escape(row.get("label", "")), label), _Para(_inline(row), fact)]
            for row in element.iter("row")
        ]
        if element.get("columns") == "2":
            rows = [
                pairs[i] + (pairs[i + 1] if i + 1 < len(pairs) else ["", ""])
                for i in range(0, len(pairs), 2)
            ]
            widths = [1.25 * inch, 2.2 * inch, 1.25 * inch, 2.1 * inch]
        else:
            rows = pairs
            widths = [1.9 * inch, 4.9 * inch] if self.cover else [1.25 * inch, 5.55 * inch]
        table = Table(rows, colWidths=widths, hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("TOPPADDING", (0, 0), (-1, -1), 1),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 6 if self.cover else 1),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ]
            )
        )
        return table

    def table(self, element: ET.Element) -> Table:
        widths = [float(w) * inch for w in element.get("widths", "").split(",") if w.strip()]
        rows, head = [], 0
        for tr in element.iter("tr"):
            style = self.styles["head" if tr.get("head") else "cell"]
            if tr.get("head"):
                head += 1
            rows.append([_Para(_inline(td), style) for td in tr.iter("td")])
        table = Table(rows, colWidths=widths or None, hAlign="LEFT", repeatRows=head)
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BACKGROUND", (0, 0), (-1, head - 1), colors.HexColor("#DDDDDD"))
                    if head
                    else ("TOPPADDING", (0, 0), (-1, -1), 3),
                ]
            )
        )
        return table

    def box(self, element: ET.Element) -> Table:
        inner = self.block(element)
        table = Table([[inner]], colWidths=[PAGE_WIDTH - 2 * MARGIN - 4], hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("BOX", (0, 0), (-1, -1), 1, colors.black),
                    ("LEFTPADDING", (0, 0), (-1, -1), 8),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 8),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                ]
            )
        )
        return table

    def lines(self, element: ET.Element | None, style: str, *, first: str = "") -> list[Flowable]:
        if element is None:
            return [Spacer(1, 1)]
        out: list[Flowable] = []
        for index, line in enumerate(element.iter("line")):
            chosen = first if first and index == 0 else style
            out.append(_Para(_inline(line), self.styles[chosen]))
        return out or [Spacer(1, 1)]


def letter_story(markup: str) -> tuple[list[Flowable], str]:
    """(flowables of page one onwards, footer line) of a rendered <letter>."""
    root = ET.fromstring(markup)
    if root.tag != "letter":
        raise ValueError("letter markup must have <letter> at its root")
    build = _Builder()
    story: list[Flowable] = [NextPageTemplate("later")]
    # Each block of page one's head stays in its own frame, shrunk to fit when long (a six-line
    # address still shows whole in the envelope window), so the body always starts on page one.
    blocks = (
        (build.lines(root.find("letterhead"), "line", first="org"), HEAD_SIZE),
        (build.lines(root.find("window"), "window"), (WINDOW_WIDTH * inch, WINDOW_HEIGHT * inch)),
        (build.lines(root.find("aside"), "line"), ASIDE_SIZE),
    )
    for flowables, (width, height) in blocks:
        story += [KeepInFrame(width, height - 2, flowables, mode="shrink"), FrameBreak()]
    for child in root:
        if child.tag not in ("letterhead", "window", "aside"):
            story.extend(build.one(child))
    return story, root.get("footer", "")


def cover_story(markup: str) -> list[Flowable]:
    root = ET.fromstring(markup)
    if root.tag != "cover":
        raise ValueError("cover markup must have <cover> at its root")
    return _Builder(cover=True).block(root)


def _frames() -> dict[str, list[Frame]]:
    width = PAGE_WIDTH - 2 * MARGIN
    top = PAGE_HEIGHT - 0.5 * inch

    def frame(name: str, x: float, y_top: float, w: float, h: float) -> Frame:
        return Frame(x, y_top - h, w, h, id=name, leftPadding=0, rightPadding=0, topPadding=0)

    window_top = PAGE_HEIGHT - WINDOW_TOP * inch
    body_top = PAGE_HEIGHT - BODY_TOP * inch
    aside_left = ASIDE_LEFT * inch
    return {
        "first": [
            frame("head", MARGIN, top, *HEAD_SIZE),
            frame(
                "window",
                WINDOW_LEFT * inch,
                window_top,
                WINDOW_WIDTH * inch,
                WINDOW_HEIGHT * inch,
            ),
            frame("aside", aside_left, window_top, *ASIDE_SIZE),
            frame("body", MARGIN, body_top, width, body_top - BOTTOM),
        ],
        "later": [frame("body", MARGIN, top, width, top - BOTTOM)],
        "cover": [frame("body", MARGIN, top, width, top - BOTTOM)],
    }


def _canvas_maker(footer: str, created: datetime) -> type[Canvas]:
    """A canvas that writes "page k of n" and the reference line once the page count is known,
    and dates the file with the determination (not reportlab's invariant 2000-01-01)."""

    class LetterCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []
            stamp = TimeStamp(invariant=True)
            epoch = created.timestamp()
            stamp.t = epoch
            stamp.lt = time.gmtime(epoch)
            stamp.YMDhms = tuple(stamp.lt)[:6]
            self._doc._timeStamp = stamp

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont("Helvetica", 7.5)
                self.drawString(MARGIN, 0.45 * inch, footer)
                self.drawRightString(
                    PAGE_WIDTH - MARGIN, 0.45 * inch, f"Page {self._pageNumber} of {total}"
                )
                Canvas.showPage(self)
            Canvas.save(self)

    return LetterCanvas


def build_pdf(
    story: list[Flowable],
    *,
    footer: str,
    created: datetime,
    title: str,
    author: str,
    first_template: str = "first",
) -> tuple[bytes, int]:
    """(PDF bytes, page count) of `story`."""
    buffer = BytesIO()
    frames = _frames()
    doc = BaseDocTemplate(
        buffer,
        pagesize=LETTER,
        invariant=True,
        title=title,
        author=author,
        subject=title,
        creator=author,
    )
    templates = [PageTemplate(id=name, frames=frames[name]) for name in ("first", "later")]
    templates.insert(0 if first_template == "cover" else 2, PageTemplate("cover", frames["cover"]))
    doc.addPageTemplates(templates)
    doc.build(story, canvasmaker=_canvas_maker(footer, created))
    return buffer.getvalue(), doc.page


def with_cover(cover: list[Flowable], letter: list[Flowable]) -> list[Flowable]:
    """A fax: the cover sheet, then the letter from its first page."""
    return [*cover, NextPageTemplate("first"), PageBreak(), *letter]
