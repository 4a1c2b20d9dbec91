// The workbench's parameter editor (llm_artifact/artifact_workbench.html), enhanced: rows are
// added from the page's <template>, removed and moved with buttons (the formset's DELETE and
// ORDER inputs, which work without this script, are kept in step and tucked away), the SQL
// editor is told the declarations (a hidden JSON input it reads), and what its check finds
// is shown in place: undeclared :names offered for declaration, unused ones flagged.
(function () {
  "use strict";

  const form = document.querySelector("[data-workbench]");
  if (!form) {
    return;
  }
  const prefix = "params";
  const rowsBox = form.querySelector("[data-parameter-rows]");
  const template = form.querySelector("template[data-parameter-template]");
  const total = form.querySelector(`input[name="${prefix}-TOTAL_FORMS"]`);
  const declarationsInput = document.getElementById("workbench-declarations");
  const undeclaredBox = document.getElementById("workbench-undeclared");
  const emptyNote = form.querySelector("[data-no-parameters]");
  let unused = new Set();
  const sqlTextarea = form.querySelector("textarea[data-sql-editor]");
  const sqlEditor = () => sqlTextarea && sqlTextarea.sqlEditor;

  function field(row, name) {
    return row.querySelector(`[name$="-${name}"]`);
  }

  function liveRows() {
    return [...rowsBox.querySelectorAll("[data-parameter-row]")].filter((row) => !row.hidden);
  }

  // The declarations as the SQL editor's check and preview take them.
  function declarations() {
    const found = [];
    for (const row of liveRows()) {
      const name = field(row, "name").value.trim();
      if (!name) {
        continue;
      }
      const declaration = { name, type: field(row, "type").value, required: field(row, "required").checked };
      const label = field(row, "label").value.trim();
      if (label) {
        declaration.label = label;
      }
      const fallback = field(row, "default").value;
      if (fallback.trim()) {
        declaration.default = declaration.type === "string" ? fallback : fallback.trim();
      }
      const choices = field(row, "choices").value.split("\n").map((line) => line.trim()).filter(Boolean);
      if (choices.length && declaration.type === "string") {
        declaration.choices = choices;
      }
      found.push(declaration);
    }
    return found;
  }

  function refresh({ recheck = false } = {}) {
    if (sqlEditor()) {
      sqlEditor().draftChanged(); // the draft keeps the rows (attachDraftPart below)
    }
    liveRows().forEach((row, index) => {
      const order = field(row, "ORDER");
      if (order) {
        order.value = String(index + 1);
      }
      const name = field(row, "name").value.trim();
      row.querySelector("[data-parameter-title]").textContent = `:${name || "new"}`;
      row.querySelector("[data-unused-badge]").hidden = !unused.has(name);
      row.classList.toggle("border-warning", unused.has(name));
    });
    if (emptyNote) {
      emptyNote.classList.toggle("d-none", liveRows().length > 0);
    }
    if (declarationsInput) {
      const value = JSON.stringify(declarations());
      const changed = value !== declarationsInput.value;
      declarationsInput.value = value;
      if (changed && recheck) {
        // The SQL editor checks the text again against the new declarations.
        declarationsInput.dispatchEvent(new Event("change"));
      }
    }
  }

  function enhance(row) {
    row.querySelector("[data-row-buttons]").hidden = false;
    for (const selector of ["[data-order-input]", "[data-delete-input]"]) {
      const part = row.querySelector(selector);
      if (part) {
        part.classList.add("d-none");
      }
    }
  }

  // The rows as typed, in order, for the editor's draft: every input, not only what the
  // check is told, so a restored draft gives back help texts and allowed values too.
  const ROW_FIELDS = ["name", "type", "label", "default", "help_text", "choices", "choices_from"];

  function snapshot() {
    return liveRows().map((row) => {
      const values = { required: field(row, "required").checked };
      for (const name of ROW_FIELDS) {
        values[name] = field(row, name).value;
      }
      return values;
    });
  }

  // The rows replaced by `rows` (a snapshot): a draft restored or discarded.
  function restore(rows) {
    rowsBox.replaceChildren();
    total.value = "0";
    for (const values of Array.isArray(rows) ? rows : []) {
      const row = addRow("", "string", { focus: false });
      for (const name of ROW_FIELDS) {
        if (typeof values[name] === "string") {
          field(row, name).value = values[name];
        }
      }
      field(row, "required").checked = Boolean(values.required);
    }
    refresh({ recheck: true });
  }

  // `type`: what the SQL check guessed from the parameter's use (parameter_types).
  function addRow(name = "", type = "string", { focus = true } = {}) {
    const index = Number(total.value);
    const html = template.innerHTML.replaceAll("__prefix__", String(index));
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    const row = holder.firstElementChild;
    rowsBox.append(row);
    total.value = String(index + 1);
    enhance(row);
    if (name) {
      field(row, "name").value = name;
      field(row, "type").value = type;
    }
    if (focus) {
      field(row, name ? "label" : "name").focus();
    }
    refresh({ recheck: true });
    return row;
  }

  form.querySelectorAll("[data-parameter-row]").forEach(enhance);

  form.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target || !form.contains(target)) {
      return;
    }
    const row = target.closest("[data-parameter-row]");
    if (target.matches("[data-add-parameter]")) {
      event.preventDefault();
      addRow();
    } else if (target.matches("[data-remove]") && row) {
      field(row, "DELETE").checked = true;
      row.hidden = true;
      refresh({ recheck: true });
    } else if (target.matches("[data-move]") && row) {
      const rows = liveRows();
      const at = rows.indexOf(row);
      if (target.dataset.move === "up" && at > 0) {
        rows[at - 1].before(row);
      } else if (target.dataset.move === "down" && at < rows.length - 1) {
        rows[at + 1].after(row);
      }
      target.focus();
      refresh();
    } else if (target.matches(".workbench-declare[data-name]")) {
      event.preventDefault();
      addRow(target.dataset.name, target.dataset.type || "string");
      target.remove();
      undeclaredBox.hidden = !undeclaredBox.querySelector(".workbench-declare");
    }
  });

  let timer = null;
  rowsBox.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => refresh({ recheck: true }), 300);
  });
  rowsBox.addEventListener("change", () => refresh({ recheck: true }));

  // What the editor's check found (POST /api/sql/validate/ with these declarations).
  form.addEventListener("sql-editor:checked", (event) => {
    const answer = event.detail || {};
    unused = new Set(answer.unused || []);
    const stale = document.getElementById("workbench-check");
    if (stale) {
      stale.hidden = true; // the editor shows the check now
    }
    undeclaredBox.querySelectorAll(".workbench-declare").forEach((button) => button.remove());
    for (const name of answer.undeclared || []) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-sm btn-outline-primary py-0 me-1 workbench-declare";
      button.dataset.name = name;
      button.dataset.type = (answer.parameter_types || {})[name] || "string";
      button.append(gettext("Declare") + " ");
      const code = document.createElement("code");
      code.textContent = `:${name}`;
      button.append(code);
      undeclaredBox.append(button);
    }
    undeclaredBox.hidden = !(answer.undeclared || []).length;
    refresh();
  });

  // With the editor, its own Format and Run preview (Ctrl/Cmd+Enter) replace the page's,
  // and its draft keeps the parameter rows beside the SQL.
  function editorReady() {
    form.querySelectorAll("[data-without-editor]").forEach((button) => {
      button.hidden = true;
    });
    sqlEditor().attachDraftPart("parameters", { read: snapshot, write: restore });
  }
  refresh();
  if (sqlEditor()) {
    editorReady();
  } else {
    form.addEventListener("sql-editor:ready", editorReady);
  }
})();
