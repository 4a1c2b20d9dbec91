"""Form widgets the web faces share.

SQLEditorWidget is a plain <textarea> carrying data attributes for the SQL editor
(static/js/sql-editor/, bundled by `make bundle`): with JavaScript it becomes a CodeMirror
editor (highlighting, completion from the schema, the check while typing, Format, Run,
drafts); without it, the textarea posts the form as it always did.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.urls import reverse

EDITOR_SCRIPT = "sql-editor/sql-editor.js"


class SQLEditorWidget(forms.Textarea):
    """A textarea the SQL editor enhances.

    - `data_source_field`: the name of the form field holding the data source (its value
      picks the dialect and the schema), or `data_source` for a fixed one.
    - `dialect` ("sqlite", "postgres") or `dialects` ({source name: dialect}, or a callable
      returning it, read at render time) for the highlighting.
    - `draft_key`: where the unsaved draft is kept in the browser (the artifact's id, or
      "new"); blank: no draft.
    - `declarations_field`: the form field with the parameter declarations (JSON), so the
      check flags undeclared and unused parameters and a preview coerces values.
    - `run_button`: a CSS selector of the page's run button, clicked on Ctrl/Cmd+Enter
      instead of the built-in preview; `preview=False` offers no preview at all.
    """

    def __init__(
        self,
        *,
        data_source_field: str = "data_source",
        data_source: str = "",
        dialect: str = "sqlite",
        dialects: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
        draft_key: str = "new",
        declarations_field: str = "",
        run_button: str = "",
        preview: bool = True,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(attrs={"rows": 12, "spellcheck": "false", **(attrs or {})})
        self.data_source_field = data_source_field
        self.data_source = data_source
        self.dialect = dialect
        self.dialects = dialects
        self.draft_key = draft_key
        self.declarations_field = declarations_field
        self.run_button = run_button
        self.preview = preview

    @property
    def media(self) -> forms.Media:
        # Deferred: the page is parsed and painted without waiting for the editor's script,
        # which runs once parsing ends (before DOMContentLoaded), in document order.
        return forms.Media(js=[forms.Script(EDITOR_SCRIPT, defer=True)])

    def editor_attrs(self) -> dict[str, str]:
        dialects = self.dialects() if callable(self.dialects) else self.dialects
        attrs = {
            "data-sql-editor": "",
            "data-dialect": self.dialect,
            "data-dialects": json.dumps(dict(dialects or {})),
            "data-data-source-field": self.data_source_field,
            "data-data-source": self.data_source,
            "data-draft-key": self.draft_key,
            "data-declarations-field": self.declarations_field,
            "data-validate-url": reverse("api:sql-validate"),
            "data-format-url": reverse("api:sql-format"),
            # The name placeholder is replaced in the browser by the chosen source.
            "data-schema-url": reverse("api:data-source-schema", args=["__name__"]),
            "data-run-button": self.run_button,
            "data-run-url": reverse("api:sql-preview-run") if self.preview else "",
        }
        return {name: value for name, value in attrs.items() if value or name == "data-sql-editor"}

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"] = {**self.editor_attrs(), **context["widget"]["attrs"]}
        return context
