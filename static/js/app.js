// Our own small behaviours. Every page works without this file; it only adds comfort.
(function () {
  "use strict";

  // Ctrl+Enter (Cmd+Enter on a Mac) sends the composer, as in most chat apps.
  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (!(field instanceof HTMLTextAreaElement) || !field.hasAttribute("data-submit-on-ctrl-enter")) {
      return;
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && field.form) {
      event.preventDefault();
      field.form.requestSubmit();
    }
  });

  // Export links carry the parameter values typed so far, not only those of the last run.
  function updateExportLinks(form) {
    var data = new FormData(form);
    data.delete("csrfmiddlewaretoken");
    var query = new URLSearchParams(data).toString();
    form.querySelectorAll("a[data-export-base]").forEach(function (link) {
      link.href = link.dataset.exportBase + (query ? "?" + query : "");
    });
  }
  ["input", "change"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var form = event.target.form;
      if (form && form.hasAttribute("data-export-links")) {
        updateExportLinks(form);
      }
    });
  });

  // "Expand all" / "Collapse all" for <details> lists; shown only when this script runs.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-details-toggle]");
    if (!button) {
      return;
    }
    var open = button.dataset.open === "true";
    document.querySelectorAll(button.dataset.detailsToggle + " details").forEach(function (details) {
      details.open = open;
    });
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-details-controls]").forEach(function (controls) {
      controls.hidden = false;
    });
  });

  // Open a chat at its latest message, unless the link points at a particular one.
  document.addEventListener("DOMContentLoaded", function () {
    var messages = document.querySelector("[data-scroll-to-end]");
    if (messages && !window.location.hash && messages.children.length > 1) {
      window.scrollTo(0, document.body.scrollHeight);
    }
  });
})();

// Filter forms that push their values into the URL (the artifact list) show what the URL
// says, which is what the rows below are filtered by: after Back and Forward (htmx restores
// a snapshot whose controls kept the values they were rendered with), and after a reload
// (the browser refills the controls with what was typed last).
(function () {
  "use strict";

  function mirrorUrl(form) {
    var query = new URLSearchParams(window.location.search);
    Array.prototype.forEach.call(form.elements, function (control) {
      // Hidden inputs come with the rows (the chosen sort), already in step.
      if (!control.name || control.type === "hidden" || control.type === "submit" || control.type === "button") {
        return;
      }
      var value = query.get(control.name) || "";
      if (control.type === "checkbox" || control.type === "radio") {
        control.checked = query.getAll(control.name).indexOf(control.value) !== -1;
      } else if (control.tagName === "SELECT" && !control.querySelector('option[value="' + CSS.escape(value) + '"]')) {
        control.value = "";
      } else {
        control.value = value;
      }
      // The values the rows were fetched with: static/js/htmx-errors.js puts them back when
      // a later filter fails.
      if (control.type === "checkbox" || control.type === "radio") {
        control.dataset.goodChecked = control.checked ? "true" : "false";
      } else {
        control.dataset.goodValue = control.value;
      }
    });
  }

  function mirrorAll() {
    document.querySelectorAll("form[data-mirror-url]").forEach(mirrorUrl);
  }

  // pageshow: a load, a reload, or a page shown again from the browser's back-forward cache.
  window.addEventListener("pageshow", mirrorAll);
  document.addEventListener("htmx:historyRestore", mirrorAll);
})();
