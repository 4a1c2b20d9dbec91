// A preview run's rows below the editor: built with textContent, never HTML from the answer.

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
  const more = result.truncated ? " (more rows exist)" : "";
  summary.textContent =
    `${result.row_count} row${result.row_count === 1 ? "" : "s"}${more} in ${Math.round(result.duration_ms)} ms. ` +
    "Preview: not recorded.";
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
