"""Markdown structure with markdown-it-py (CommonMark plus GFM tables).

Headings, paragraphs and list items become plain text (emphasis, link and image syntax go; link
text and image alt text stay); code blocks keep their content verbatim without the fences; tables
keep their Markdown source lines verbatim. A whole top-level list is one block, one line per item,
nested items indented two spaces per level. YAML front matter and raw HTML blocks are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from keel_ingestion.core.extract_base import (
    CODE,
    HEADING,
    LIST,
    PARAGRAPH,
    TABLE,
    Builder,
    Extracted,
    no_text,
)

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?:.*\n){0,200}?(?:---|\.\.\.)[ \t]*(?:\n|\Z)")


def _inline(token: Token) -> str:
    parts = []
    for child in token.children or []:
        if child.type in ("text", "text_special", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")  # a hard-wrapped line
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline(child))  # its alt text
    return "".join(parts)


class _Lists:
    """The open lists: their kinds and counters, and the lines of the top-level one."""

    def __init__(self) -> None:
        self.stack: list[list[int]] = []  # [ordered (0/1), number of the current item]
        self.lines: list[str] = []
        self.first_in_item = False

    def open(self, token: Token) -> None:
        if not self.stack:
            self.lines = []
        start = token.attrGet("start")
        first = int(start) if isinstance(start, (int, str)) and str(start).isdigit() else 1
        self.stack.append([1 if token.type == "ordered_list_open" else 0, first - 1])

    def item(self) -> None:
        self.stack[-1][1] += 1
        self.first_in_item = True

    def add(self, text: str) -> None:
        ordered, number = self.stack[-1]
        indent = "  " * (len(self.stack) - 1)
        if self.first_in_item:
            marker = f"{number}." if ordered else "-"
            self.first_in_item = False
        else:
            marker = "  "  # a later paragraph of the same item
        for line in text.split("\n"):
            if line.strip():
                self.lines.append(f"{indent}{marker} {line.strip()}")
                marker = "  "

    def close(self) -> str | None:
        self.stack.pop()
        return None if self.stack else "\n".join(self.lines)


def _blocks(tokens: Sequence[Token], source: list[str], builder: Builder) -> None:
    lists = _Lists()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.open(token)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            if (text := lists.close()) is not None:
                builder.add(LIST, text)
        elif kind == "list_item_open":
            lists.item()
        elif kind in ("heading_open", "paragraph_open") and i + 1 < len(tokens):
            text = _inline(tokens[i + 1])
            if lists.stack:
                lists.add(text)
            elif kind == "heading_open":
                builder.add(HEADING, text, level=int(token.tag[1]))
            else:
                builder.add(PARAGRAPH, text)
            i += 1
        elif kind in ("fence", "code_block"):
            if lists.stack:
                lists.add(token.content)
            else:
                builder.add(CODE, token.content)
        elif kind == "table_open":
            lines = source[token.map[0] : token.map[1]] if token.map else []
            if lists.stack:
                lists.add("\n".join(lines))
            else:
                builder.add(TABLE, "\n".join(lines))
            while i < len(tokens) and tokens[i].type != "table_close":
                i += 1
        i += 1


def extract_markdown(text: str, *, max_text_chars: int) -> Extracted:
    text = _FRONT_MATTER.sub("", text.replace("\r\n", "\n").replace("\r", "\n"), count=1)
    parser = MarkdownIt("commonmark").enable("table")
    builder = Builder(max_text_chars)
    _blocks(parser.parse(text), text.split("\n"), builder)
    if not builder:
        raise no_text("Markdown document")
    return builder.build("text/markdown")
