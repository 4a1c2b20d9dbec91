// Unsaved text survives a reload: a draft per artifact ("new" for one not saved yet) in
// localStorage, and a prompt before leaving the page with edits.

const PREFIX = "sql-editor-draft:";

function storage() {
  try {
    return window.localStorage;
  } catch (error) {
    return null; // storage disabled: drafts are a comfort, not a requirement
  }
}

export function readDraft(key) {
  const store = storage();
  if (!store || !key) {
    return null;
  }
  try {
    const draft = JSON.parse(store.getItem(PREFIX + key) || "null");
    return draft && typeof draft.sql === "string" ? draft : null;
  } catch (error) {
    return null;
  }
}

export function writeDraft(key, sql, original) {
  const store = storage();
  if (!store || !key) {
    return;
  }
  try {
    if (sql === original) {
      store.removeItem(PREFIX + key);
    } else {
      store.setItem(PREFIX + key, JSON.stringify({ sql, original, savedAt: new Date().toISOString() }));
    }
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
