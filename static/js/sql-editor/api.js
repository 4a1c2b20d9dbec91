// The JSON endpoints the editor talks to, with the page's CSRF token (session auth).
import { gettext } from "./i18n.js";

function csrfToken(form) {
  const field = form && form.querySelector("[name=csrfmiddlewaretoken]");
  if (field) {
    return field.value;
  }
  const cookie = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}

export async function postJSON(url, body, form) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      "X-CSRFToken": csrfToken(form),
    },
    body: JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = { detail: `The server answered ${response.status}.` };
  }
  return { ok: response.ok, status: response.status, data };
}

// The schema endpoint's tables as @codemirror/lang-sql completion data: each table with its
// columns (type shown beside the name). Cached per URL for the page's life.
const schemas = new Map();

export function fetchSchema(url) {
  if (!schemas.has(url)) {
    const request = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : { tables: [] }))
      .then((body) =>
        Object.fromEntries(
          (body.tables || []).map((table) => [
            table.name,
            table.columns.map((column) => ({ label: column.name, type: "property", detail: column.type })),
          ]),
        ),
      )
      .catch(() => ({}));
    schemas.set(url, request);
  }
  return schemas.get(url);
}

// Every message a 400 body holds, field errors or {"detail": ...}, as one line.
export function errorText(data) {
  if (!data) {
    return gettext("Something went wrong.");
  }
  if (typeof data.detail === "string") {
    return data.detail;
  }
  const parts = [];
  for (const value of Object.values(data)) {
    if (Array.isArray(value)) {
      parts.push(...value.map(String));
    } else if (value && typeof value === "object") {
      parts.push(errorText(value));
    } else if (value) {
      parts.push(String(value));
    }
  }
  return parts.join(" ") || gettext("Something went wrong.");
}
