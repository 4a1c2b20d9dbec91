"""Markdown from untrusted authors (LLM replies) turned into HTML that is safe to show.

Two locks, each enough on its own for what it guards:

1. markdown-it renders CommonMark plus tables and strikethrough with raw HTML *disabled*:
   any `<script>` or `<img onerror>` in the text comes out as escaped text, and its link
   validator already refuses `javascript:`, `vbscript:` and `file:` URLs.
2. nh3 (the ammonia sanitiser) then keeps only an allow-list of tags and attributes: no
   script, no style, no event handlers; links and images only to http, https and mailto
   (relative URLs too are dropped, so a reply cannot point at our own endpoints), and every
   link gets rel="noopener noreferrer nofollow".

Images are not on the allow-list: a reply must not make the reader's browser fetch remote
URLs (tracking pixels), so an image becomes a link to it, named by its alt text. Table
alignment, which markdown-it writes as an inline style, is turned into Bootstrap classes
first so it survives the no-style rule.
"""

from __future__ import annotations

from functools import cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "s",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
}
ALIGN_CLASSES = {
    "text-align:left": "text-start",
    "text-align:center": "text-center",
    "text-align:right": "text-end",
}
ALLOWED_CLASSES = {
    "th": set(ALIGN_CLASSES.values()),
    "td": set(ALIGN_CLASSES.values()),
}
LINK_REL = "noopener noreferrer nofollow"
# Raise this whenever the rendering changes (the parser's options, the rules or the allow-lists
# above): HTML stored with an older number is rendered again the next time it is shown.
RENDERER_VERSION = 1


def _aligned_cell(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    style = token.attrs.pop("style", None)
    if style in ALIGN_CLASSES:
        token.attrSet("class", ALIGN_CLASSES[style])
    return self.renderToken(tokens, idx, options, env)


def _image_as_link(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = self.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{escapeHtml(src)}">{escapeHtml(alt)}</a>'


@cache
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    parser.add_render_rule("image", _image_as_link)
    parser.add_render_rule("th_open", _aligned_cell)
    parser.add_render_rule("td_open", _aligned_cell)
    return parser


@cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes={"http", "https", "mailto"},
        url_relative="deny",
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text: str) -> SafeString:
    """Sanitised HTML for Markdown written by someone we do not trust."""
    if not text:
        return mark_safe("")
    html = _parser().render(text)
    # Safe by construction: nh3 emits only the allow-listed markup, with text escaped.
    return mark_safe(_cleaner().clean(html))
