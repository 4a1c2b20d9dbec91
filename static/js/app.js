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

  // Open a chat at its latest message, unless the link points at a particular one.
  document.addEventListener("DOMContentLoaded", function () {
    var messages = document.querySelector("[data-scroll-to-end]");
    if (messages && !window.location.hash && messages.children.length > 1) {
      window.scrollTo(0, document.body.scrollHeight);
    }
  });
})();
