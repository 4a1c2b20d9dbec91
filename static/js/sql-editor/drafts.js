// Unsaved edits survive a reload: a draft per artifact ("new" for one not saved yet) in
// localStorage, holding the SQL and the other parts of the form the page attaches (the
// workbench's parameter declarations), and a prompt before leaving the page with edits.

const PREFIX = "sql-editor-draft:";

function storage() {
  try {
    return window.localStorage;
  } catch (error) {
    return null; // storage disabled: drafts are a comfort, not a requirement
  }
}

// {sql, parts: {name: value}, savedAt} or null.
export function readDraft(key) {
  const store = storage();
  if (!store || !key) {
    return null;
  }
  try {
    const draft = JSON.parse(store.getItem(PREFIX + key) || "null");
    if (!draft || typeof draft.sql !== "string") {
      return null;
    }
    const parts = draft.parts && typeof draft.parts === "object" ? draft.parts : {};
    return { sql: draft.sql, parts, savedAt: draft.savedAt };
  } catch (error) {
    return null;
  }
}

export function writeDraft(key, sql, parts) {
  const store = storage();
  if (!store || !key) {
    return;
  }
  try {
    store.setItem(PREFIX + key, JSON.stringify({ sql, parts, savedAt: new Date().toISOString() }));
  } catch (error) {
    // Quota exceeded: keep editing without a draft.
  }
}

export function discardDraft(key) {
  const store = storage();
  if (store && key) {
    store.removeItem(PREFIX + key);
  }
}
