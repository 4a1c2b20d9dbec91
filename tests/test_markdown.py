"""LLM replies are Markdown from an untrusted author: what they may and may not become."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.template import Context, Template

from apps.core.markdown import render_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<div onclick="alert(1)">click</div>',
    "<style>body{display:none}</style>",
    "<iframe src=https://evil.example></iframe>",
    '<a href="javascript:alert(1)">raw link</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](javascript:alert(1))",
    '![x" onerror="alert(1)](https://example.com/a.png)',
    "<javascript:alert(1)>",
    "[x](/chats/1/messages/2/stream/)",
    "<!-- <script>alert(1)</script> -->",
    "<svg><script>alert(1)</script></svg>",
    "<details open ontoggle=alert(1)>",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    '```html\n<script>alert("in code")</script>\n```',
]


class _Elements(HTMLParser):
    """The elements and attributes a browser would build from the HTML."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


SAFE_TAGS = {"p", "a", "code", "pre", "table", "thead", "tbody", "tr", "th", "td", "br"}


@pytest.mark.parametrize("text", HOSTILE)
def test_nothing_executable_survives(text):
    html = str(render_markdown(text))
    for tag, attrs in _Elements(html).found:
        assert tag in SAFE_TAGS, html
        assert not [name for name in attrs if name.startswith("on") or name == "style"], html
        href = (attrs.get("href") or "").strip().lower()
        assert not href or href.startswith(("http://", "https://", "mailto:")), html


def test_raw_html_is_shown_as_text():
    html = str(render_markdown("Before <b onclick=x>bold</b> after"))
    assert html == "<p>Before &lt;b onclick=x&gt;bold&lt;/b&gt; after</p>\n"


def test_raw_html_blocks_are_shown_as_text():
    html = str(render_markdown('<div class="x">\n<script>alert(1)</script>\n</div>'))
    assert "&lt;script&gt;" in html
    assert "<div" not in html


def test_code_keeps_its_text_escaped():
    html = str(render_markdown('```\n<script>alert("x")</script>\n```'))
    assert html == '<pre><code>&lt;script&gt;alert("x")&lt;/script&gt;\n</code></pre>\n'


def test_http_links_and_autolinks_get_a_safe_rel():
    html = str(render_markdown("[docs](https://example.com/a?b=1&c=2) and <http://example.org>"))
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">' in html
    assert '<a href="http://example.org" rel="noopener noreferrer nofollow">' in html


def test_mailto_links_stay():
    html = str(render_markdown("[mail](mailto:ops@example.com)"))
    assert 'href="mailto:ops@example.com"' in html


def test_relative_and_data_links_lose_their_target():
    html = str(render_markdown("[here](/admin/) [there](data:text/plain,hi)"))
    assert "href" not in html
    assert "here" in html and "there" in html


def test_images_become_links_named_by_their_alt_text():
    html = str(render_markdown("![Revenue chart](https://example.com/chart.png)"))
    assert "<img" not in html
    assert (
        '<a href="https://example.com/chart.png" rel="noopener noreferrer nofollow">'
        "Revenue chart</a>" in html
    )


def test_tables_render_with_alignment_as_classes():
    text = "| Category | Revenue |\n|:--|--:|\n| Games | 105 |\n| Books | 80 |"
    html = str(render_markdown(text))
    assert "<table>" in html and "<thead>" in html and "<tbody>" in html
    assert '<th class="text-start">Category</th>' in html
    assert '<td class="text-end">105</td>' in html
    assert "style" not in html


def test_emphasis_lists_headings_and_strikethrough():
    html = str(render_markdown("# Top\n\n- **one**\n- *two*\n\n1. ~~old~~ `new`"))
    assert "<h1>Top</h1>" in html
    assert "<li><strong>one</strong></li>" in html
    assert "<li><em>two</em></li>" in html
    assert "<s>old</s> <code>new</code>" in html


def test_empty_text_is_empty():
    assert render_markdown("") == ""


def test_template_filter_renders_and_is_not_escaped_twice():
    template = Template("{% load markdown %}{{ text|markdown }}")
    html = template.render(Context({"text": "**bold** <script>x</script>"}))
    assert html == "<p><strong>bold</strong> &lt;script&gt;x&lt;/script&gt;</p>\n"
