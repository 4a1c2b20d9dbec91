// A preview run's rows below the editor: built with textContent, never HTML from the answer.
import { gettext, interpolate, ngettext } from "./i18n.js";

const SHOWN_ROWS = 100;

export function renderResult(container, result, error) {
  container.replaceChildren();
  if (error) {
    const message = document.createElement("p");
    message.className = "sql-editor-error";
    message.style.color = "#b02a37";
    message.textContent = error;
    container.append(message);
    return;
  }
  const summary = document.createElement("p");
  const rows = result.row_count.toLocaleString(document.documentElement.lang || undefined);
  const ms = Math.round(result.duration_ms);
  summary.textContent = result.truncated
    ? interpolate(ngettext("%s row (more rows exist) in %s ms.", "%s rows (more rows exist) in %s ms.", result.row_count), [rows, ms])
    : interpolate(ngettext("%s row in %s ms.", "%s rows in %s ms.", result.row_count), [rows, ms]);
  summary.textContent += " " + gettext("Preview: not recorded.");
  container.append(summary);
  if (!result.columns.length) {
    return;
  }
  const table = document.createElement("table");
  table.className = "sql-editor-table";
  table.style.borderCollapse = "collapse";
  const head = table.createTHead().insertRow();
  for (const column of result.columns) {
    const cell = document.createElement("th");
    cell.textContent = column.name;
    cell.style.textAlign = "left";
    cell.style.padding = "2px 8px";
    head.append(cell);
  }
  const body = table.createTBody();
  for (const row of result.rows.slice(0, SHOWN_ROWS)) {
    const line = body.insertRow();
    for (const value of row) {
      const cell = line.insertCell();
      cell.textContent = value === null ? "NULL" : typeof value === "object" ? JSON.stringify(value) : String(value);
      cell.style.padding = "2px 8px";
    }
  }
  container.append(table);
}
