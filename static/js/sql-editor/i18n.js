// Django's JavaScript catalog (/jsi18n/<lang>/, loaded by _base.html before our scripts)
// translates the editor's words; a page without it (an admin page, say) shows English.
const catalog = window;

export function gettext(text) {
  return typeof catalog.gettext === "function" ? catalog.gettext(text) : text;
}

export function ngettext(singular, plural, count) {
  if (typeof catalog.ngettext === "function") {
    return catalog.ngettext(singular, plural, count);
  }
  return count === 1 ? singular : plural;
}

export function interpolate(format, values, named = false) {
  if (typeof catalog.interpolate === "function") {
    return catalog.interpolate(format, values, named);
  }
  return named
    ? format.replace(/%\(\w+\)s/g, (match) => String(values[match.slice(2, -2)]))
    : format.replace(/%s/g, () => String(values.shift()));
}
