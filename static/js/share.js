// The Share dialog: htmx swaps it into #share-slot (the Share link, or the form coming back
// with its errors); this opens it as a modal and closes it on Cancel. Without this file the
// Share link opens the same form as a page of its own.
(function () {
  "use strict";

  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.detail.target.querySelector("dialog[data-share-dialog]");
    if (dialog && !dialog.open) {
      dialog.showModal();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-close-dialog]");
    var dialog = button && button.closest("dialog");
    if (dialog) {
      dialog.close();
      dialog.remove();
    }
  });
})();
