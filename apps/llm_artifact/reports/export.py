"""A report as a file to mail: one self-contained HTML page, or a PDF drawn from that page.

The HTML has its styles in a <style> element and its charts as SVG in data: URLs, so it
opens anywhere without the site. The PDF is that same HTML laid out by xhtml2pdf (pure
Python over ReportLab; installs from wheels with pip alone, unlike WeasyPrint which needs
Pango from the system), which draws the SVG charts through svglib. It never fetches
anything: only data: URLs are resolved, every other link target is refused.
"""

from __future__ import annotations

import io
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify
from xhtml2pdf import pisa

from apps.llm_artifact.reports.render import RenderedReport


class PdfFailed(Exception):
    """xhtml2pdf could not lay the report out."""


def report_html(title: str, rendered: RenderedReport, **extra: Any) -> str:
    """The report as one HTML document with everything it needs inside it."""
    return render_to_string(
        "llm_artifact/report/export.html",
        {"title": title, "rendered": rendered, "generated_at": timezone.now(), **extra},
    )


def _only_data_urls(uri: str, rel: str) -> str:
    # xhtml2pdf would otherwise open files and URLs named by the document.
    return uri if uri.startswith("data:") else ""


def report_pdf(html: str) -> bytes:
    """The PDF of an exported report's HTML."""
    out = io.BytesIO()
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8", link_callback=_only_data_urls)
    if status.err:
        raise PdfFailed(f"The PDF could not be made ({status.err} errors).")
    return out.getvalue()


def export_filename(title: str, extension: str) -> str:
    return f"{slugify(title) or 'report'}.{extension}"
