// The SQL editor: CodeMirror 6 over a plain <textarea data-sql-editor>, which stays in the
// form (hidden, kept in sync) so the form posts the edited text; without this script the
// textarea is the editor. apps/core/widgets.py SQLEditorWidget renders the textarea and the
// data attributes read here. Bundled by esbuild (`make bundle`) into
// build/static/sql-editor/sql-editor.js.
//
// What it adds: highlighting for the data source's dialect, line numbers, bracket matching,
// completion of table and column names from the schema endpoint, the check while typing
// (POST /api/sql/validate/, marked in the text), Format (POST /api/sql/format/), Run on
// Ctrl/Cmd+Enter (a cancelable "sql-editor:run" event; by default a preview through
// POST /api/sql/run/, shown below the editor and recorded nowhere), a draft in localStorage
// restored after a reload, and a prompt before leaving with unsaved edits.

import { basicSetup } from "codemirror";
import { Compartment, Prec, StateEffect } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { PostgreSQL, SQLite, sql } from "@codemirror/lang-sql";
import { forceLinting, linter, lintGutter } from "@codemirror/lint";

import { errorText, fetchSchema, postJSON } from "./api.js";
import { discardDraft, readDraft, writeDraft } from "./drafts.js";
import { renderResult } from "./result.js";
import { gettext, interpolate } from "./i18n.js";

// bench/editor_page.py reads these marks: the script loaded and run, the editors built, and
// the frame that draws them.
performance.mark("sql-editor:loaded");

const DIALECTS = { sqlite: SQLite, postgres: PostgreSQL };
const CHECK_DELAY_MS = 400;
// Dispatched when what the text is checked against changes (the source, the declarations).
const recheck = StateEffect.define();
const DRAFT_DELAY_MS = 300;

const theme = EditorView.theme({
  "&": { border: "1px solid #ced4da", borderRadius: "4px", fontSize: "13px", backgroundColor: "#fff" },
  "&.cm-focused": { outline: "2px solid #86b7fe" },
  ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", minHeight: "10em" },
  ".cm-content": { minHeight: "10em" },
});

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, value);
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

class SQLEditor {
  constructor(textarea) {
    this.textarea = textarea;
    this.form = textarea.form;
    this.data = textarea.dataset;
    this.original = textarea.value;
    this.draftKey = this.data.draftKey || "";
    this.submitting = false;
    this.language = new Compartment();
    this.draftTimer = null;
    // Other parts of the form a draft keeps (attachDraftPart): name -> {read, write}, and
    // what each read as the page opened (JSON text), to tell an edit from the saved state.
    this.parts = new Map();
    this.originalParts = new Map();
    this.draft = null;
    this.build();
    this.restoreDraft();
    this.listen();
    this.loadSchema();
    // The text as the page opens is checked at once, not after the typing debounce.
    setTimeout(() => forceLinting(this.view), 0);
    textarea.sqlEditor = this;
    textarea.dispatchEvent(new CustomEvent("sql-editor:ready", { bubbles: true }));
  }

  // --- the parts of the page ---------------------------------------------------------

  build() {
    const { textarea } = this;
    this.root = element("div", { class: "sql-editor", "data-sql-editor-for": textarea.id || textarea.name });
    this.notice = element("div", { class: "sql-editor-notice", role: "status" });
    this.notice.hidden = true;
    const toolbar = element("div", { class: "sql-editor-toolbar" });
    this.formatButton = element("button", { type: "button", "data-sql-editor-action": "format" }, gettext("Format"));
    toolbar.append(this.formatButton);
    if (this.data.runUrl || this.data.runButton) {
      this.runButton = element(
        "button",
        { type: "button", "data-sql-editor-action": "run", title: gettext("Ctrl+Enter (Cmd+Enter on a Mac)") },
        gettext("Run preview"),
      );
      toolbar.append(" ", this.runButton);
    }
    this.status = element("span", { class: "sql-editor-status", role: "status", "aria-live": "polite" });
    toolbar.append(" ", this.status);
    const host = element("div", { class: "sql-editor-view" });
    this.result = element("div", { class: "sql-editor-result", "aria-live": "polite" });
    this.root.append(this.notice, toolbar, host, this.result);
    textarea.insertAdjacentElement("afterend", this.root);
    textarea.hidden = true;
    textarea.style.display = "none";
    // A hidden required field would block the submit without a word; the server says why.
    textarea.removeAttribute("required");

    this.view = new EditorView({
      parent: host,
      doc: textarea.value,
      extensions: [
        basicSetup,
        // The dialect's highlighting from the start: a reconfiguration right after the view
        // is built would cost a second update and a forced layout before the editor shows.
        this.language.of(sql({ dialect: this.sqlDialect(), upperCaseKeywords: true })),
        lintGutter(),
        linter((view) => this.check(view), {
          delay: CHECK_DELAY_MS,
          needsRefresh: (update) => update.transactions.some((tr) => tr.effects.some((e) => e.is(recheck))),
        }),
        Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => (this.run(), true) }])),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) {
            this.changed();
          }
        }),
        EditorView.contentAttributes.of({ "aria-label": textarea.getAttribute("aria-label") || "SQL" }),
        theme,
      ],
    });
  }

  listen() {
    this.formatButton.addEventListener("click", () => this.format());
    if (this.runButton) {
      this.runButton.addEventListener("click", () => this.run());
    }
    const source = this.sourceField();
    if (source) {
      source.addEventListener("change", () => {
        this.configureLanguage();
        this.loadSchema();
        this.recheck();
      });
    }
    const declarations = this.data.declarationsField && this.form
      ? this.form.elements.namedItem(this.data.declarationsField)
      : null;
    if (declarations) {
      // Declaring a parameter changes what the check says about the SQL.
      declarations.addEventListener("change", () => this.recheck());
    }
    if (this.form) {
      this.form.addEventListener("submit", () => {
        this.sync();
        this.submitting = true;
        clearTimeout(this.draftTimer);
        discardDraft(this.draftKey);
      });
    }
    window.addEventListener("beforeunload", (event) => {
      if (this.isDirty() && !this.submitting) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
  }

  // --- what the text is checked against ----------------------------------------------

  sourceField() {
    const name = this.data.dataSourceField;
    return name && this.form ? this.form.elements.namedItem(name) : null;
  }

  dataSource() {
    const field = this.sourceField();
    return (field && field.value) || this.data.dataSource || "";
  }

  dialect() {
    let dialects = {};
    try {
      dialects = JSON.parse(this.data.dialects || "{}");
    } catch (error) {
      dialects = {};
    }
    return dialects[this.dataSource()] || this.data.dialect || "sqlite";
  }

  declarations() {
    const name = this.data.declarationsField;
    const field = name && this.form ? this.form.elements.namedItem(name) : null;
    if (!field) {
      return undefined;
    }
    try {
      const value = JSON.parse(field.value || "[]");
      return Array.isArray(value) ? value : [];
    } catch (error) {
      return [];
    }
  }

  sqlDialect() {
    return DIALECTS[this.dialect()] || SQLite;
  }

  // The chosen source's dialect, at once (its schema follows with loadSchema).
  configureLanguage() {
    this.view.dispatch({
      effects: this.language.reconfigure(sql({ dialect: this.sqlDialect(), upperCaseKeywords: true })),
    });
  }

  // Completion of the source's tables and columns, once the schema endpoint answers.
  async loadSchema() {
    const source = this.dataSource();
    if (!source || !this.data.schemaUrl) {
      return;
    }
    const schema = await fetchSchema(this.data.schemaUrl.replace("__name__", encodeURIComponent(source)));
    if (source !== this.dataSource()) {
      return; // the user picked another source meanwhile
    }
    const support = sql({ dialect: this.sqlDialect(), schema, upperCaseKeywords: true });
    const columns = columnCompletions(schema);
    this.view.dispatch({
      effects: this.language.reconfigure([support, support.language.data.of({ autocomplete: columns })]),
    });
  }

  // --- the check while typing --------------------------------------------------------

  async check(view) {
    if (!this.data.validateUrl) {
      return [];
    }
    const text = view.state.doc.toString();
    if (!text.trim()) {
      this.setStatus("");
      return [];
    }
    const body = { sql: text, data_source: this.dataSource() };
    const declarations = this.declarations();
    if (declarations !== undefined) {
      body.declarations = declarations;
    }
    let answer;
    try {
      answer = await postJSON(this.data.validateUrl, body, this.form);
    } catch (error) {
      return []; // offline: the save still checks
    }
    if (!answer.ok) {
      this.setStatus(errorText(answer.data), "error");
      return [];
    }
    const length = view.state.doc.length;
    const diagnostics = answer.data.diagnostics.map((item) => {
      const from = Math.min(item.start ?? 0, length);
      const to = Math.max(from, Math.min(item.end ?? from, length));
      return { from, to, severity: item.severity, message: item.message, source: item.code };
    });
    this.lastCheck = answer.data;
    const errors = answer.data.diagnostics.filter((item) => item.severity === "error");
    if (errors.length) {
      this.setStatus(errors.map((item) => item.message).join(" "), "error");
    } else if (diagnostics.length) {
      this.setStatus(diagnostics.map((item) => item.message).join(" "), "warning");
    } else {
      this.setStatus(gettext("No problems found."), "ok");
    }
    this.root.dispatchEvent(new CustomEvent("sql-editor:checked", { bubbles: true, detail: answer.data }));
    return diagnostics;
  }

  recheck() {
    this.view.dispatch({ effects: recheck.of(null) });
  }

  setStatus(text, kind = "") {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
    this.status.style.color = { error: "#b02a37", warning: "#997404", ok: "#146c43" }[kind] || "";
  }

  // --- Format and Run -----------------------------------------------------------------

  async format() {
    if (!this.data.formatUrl) {
      return;
    }
    const answer = await postJSON(
      this.data.formatUrl,
      { sql: this.text(), data_source: this.dataSource() },
      this.form,
    );
    if (!answer.ok) {
      this.setStatus(errorText(answer.data), "error");
      return;
    }
    this.setText(answer.data.sql);
  }

  run() {
    this.sync();
    const event = new CustomEvent("sql-editor:run", {
      bubbles: true,
      cancelable: true,
      detail: { sql: this.text(), dataSource: this.dataSource(), editor: this },
    });
    if (!this.textarea.dispatchEvent(event)) {
      return; // the page runs it its own way
    }
    const button = this.data.runButton && document.querySelector(this.data.runButton);
    if (button) {
      button.click();
    } else if (this.data.runUrl) {
      this.preview();
    }
  }

  async preview() {
    this.result.textContent = gettext("Running…");
    const body = { sql: this.text(), data_source: this.dataSource() };
    const declarations = this.declarations();
    if (declarations !== undefined) {
      body.declarations = declarations;
    }
    const answer = await postJSON(this.data.runUrl, body, this.form);
    renderResult(this.result, answer.ok ? answer.data : null, answer.ok ? "" : errorText(answer.data));
  }

  // --- the text, the textarea and the draft ------------------------------------------

  text() {
    return this.view.state.doc.toString();
  }

  setText(text) {
    this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: text } });
  }

  sync() {
    this.textarea.value = this.text();
  }

  isDirty() {
    if (this.text() !== this.original) {
      return true;
    }
    for (const [name, part] of this.parts) {
      if (JSON.stringify(part.read()) !== this.originalParts.get(name)) {
        return true;
      }
    }
    return false;
  }

  changed() {
    this.sync();
    this.textarea.dispatchEvent(new Event("input", { bubbles: true }));
    this.draftChanged();
  }

  // Called on every edit of the SQL, and by the page on edits of an attached part.
  draftChanged() {
    clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => this.saveDraft(), DRAFT_DELAY_MS);
  }

  saveDraft() {
    if (this.submitting) {
      return; // the form is on its way: its draft was dropped on submit
    }
    if (!this.isDirty()) {
      discardDraft(this.draftKey);
      return;
    }
    const parts = {};
    for (const [name, part] of this.parts) {
      parts[name] = part.read();
    }
    writeDraft(this.draftKey, this.text(), parts);
  }

  // Another part of the form kept in the draft beside the SQL: `read()` returns its state
  // (JSON-serialisable), `write(state)` puts one back. A draft's copy is restored at once.
  attachDraftPart(name, part) {
    this.parts.set(name, part);
    this.originalParts.set(name, JSON.stringify(part.read()));
    if (!this.draft || !(name in this.draft.parts)) {
      return;
    }
    const saved = this.draft.parts[name];
    if (JSON.stringify(saved) !== this.originalParts.get(name)) {
      part.write(saved);
      this.showDraftNotice();
    }
  }

  restoreDraft() {
    this.draft = readDraft(this.draftKey);
    if (this.draft && this.draft.sql !== this.original) {
      this.setText(this.draft.sql);
      this.showDraftNotice();
    }
  }

  showDraftNotice() {
    if (!this.notice.hidden) {
      return;
    }
    const when = new Date(this.draft.savedAt);
    const restored = Number.isNaN(when.getTime())
      ? gettext("Restored your unsaved draft.")
      : interpolate(gettext("Restored your unsaved draft from %s."), [when.toLocaleString(document.documentElement.lang || undefined)]);
    this.notice.replaceChildren(
      element("span", {}, `${restored} `),
      element("button", { type: "button", "data-sql-editor-action": "discard-draft" }, gettext("Discard draft")),
    );
    this.notice.querySelector("button").addEventListener("click", () => this.discardDraft());
    this.notice.hidden = false;
  }

  discardDraft() {
    this.setText(this.original);
    for (const [name, part] of this.parts) {
      part.write(JSON.parse(this.originalParts.get(name)));
    }
    clearTimeout(this.draftTimer);
    discardDraft(this.draftKey);
    this.draft = null;
    this.notice.hidden = true;
  }
}

// Bare column names (after SELECT, WHERE...) from every table, beside lang-sql's
// `table.column` completion.
function columnCompletions(schema) {
  const seen = new Map();
  for (const [table, columns] of Object.entries(schema)) {
    for (const column of columns) {
      if (!seen.has(column.label)) {
        seen.set(column.label, { label: column.label, type: "property", detail: `${table} · ${column.detail}` });
      }
    }
  }
  const options = [...seen.values()];
  return (context) => {
    const word = context.matchBefore(/[A-Za-z_][\w$]*/);
    if (!word || (word.from === word.to && !context.explicit)) {
      return null;
    }
    const before = context.state.sliceDoc(Math.max(0, word.from - 1), word.from);
    if (before === "." || before === ":") {
      return null; // a table's columns (lang-sql's) or a :parameter
    }
    return { from: word.from, options, validFor: /^[\w$]*$/ };
  };
}

function enhance(root = document) {
  root.querySelectorAll("textarea[data-sql-editor]").forEach((textarea) => {
    if (!textarea.sqlEditor) {
      new SQLEditor(textarea);
    }
  });
  performance.mark("sql-editor:built");
  // The next frame's rendering, which draws them.
  requestAnimationFrame(() => performance.mark("sql-editor:frame"));
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => enhance());
} else {
  enhance();
}
// Pages that swap in forms with htmx get their editors too.
document.addEventListener("htmx:load", (event) => enhance(event.target));
window.SQLEditor = { enhance };
