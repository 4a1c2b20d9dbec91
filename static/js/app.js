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
