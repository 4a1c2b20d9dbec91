// What a failed htmx request looks like, on every page: one mechanism for the whole site.
//
// htmx swaps nothing when a request fails (a network error, a 5xx, a timeout; the 422s with
// form errors are swapped as usual, see the htmx-config in _base.html). Without this module
// the page would just stop, with the reason in the console. Here:
// - a dismissible alert says what happened and what to do next, in place: in the
//   [data-error-slot] inside the swap target (or inside the form that sent the request), else
//   just before the target;
// - the controls show what the page really shows: htmx re-enables its hx-disabled-elt
//   buttons, and a GET form (a list's filters) is put back to the values of the last answer
//   that did arrive, since the rows below it are still those;
// - what people typed in a POST form (the composer, a run's parameters) is kept.
(function () {
  "use strict";

  var ALERT_CLASS = "htmx-error";

  function requestForm(elt) {
    if (!elt) {
      return null;
    }
    if (elt.tagName === "FORM") {
      return elt;
    }
    return elt.form || elt.closest("form");
  }

  function isFilterForm(form) {
    var method = (form.getAttribute("method") || "get").toLowerCase();
    return method === "get" && (form.hasAttribute("hx-get") || form.closest("[hx-get]"));
  }

  function controlsOf(form) {
    return Array.prototype.filter.call(form.elements, function (control) {
      return control.name && control.type !== "submit" && control.type !== "button";
    });
  }

  // The values a filter form had when its rows last arrived.
  function remember(form) {
    controlsOf(form).forEach(function (control) {
      if (control.type === "checkbox" || control.type === "radio") {
        control.dataset.goodChecked = control.checked ? "true" : "false";
      } else {
        control.dataset.goodValue = control.value;
      }
    });
  }

  function restore(form) {
    controlsOf(form).forEach(function (control) {
      if (control.dataset.goodChecked !== undefined) {
        control.checked = control.dataset.goodChecked === "true";
      } else if (control.dataset.goodValue !== undefined) {
        control.value = control.dataset.goodValue;
      }
    });
  }

  function rememberFilterForms(root) {
    var forms = root.tagName === "FORM" ? [root] : root.querySelectorAll("form");
    Array.prototype.forEach.call(forms, function (form) {
      if (isFilterForm(form)) {
        remember(form);
      }
    });
  }

  function clock() {
    return new Date().toISOString().slice(11, 19) + " UTC";
  }

  function describe(kind, detail) {
    var xhr = detail.xhr || {};
    var config = detail.requestConfig || {};
    var path = (config.path || (detail.pathInfo && detail.pathInfo.requestPath) || "").split("?")[0];
    var method = (config.verb || "get").toUpperCase();
    if (kind === "send") {
      return {
        title: gettext("Could not reach the server."),
        next: gettext("Check your connection and try again."),
      };
    }
    if (kind === "timeout") {
      return {
        title: gettext("The server took too long to answer."),
        next: gettext("Try again in a moment."),
      };
    }
    var status = xhr.status || 0;
    if (status === 403 || status === 401) {
      return {
        title: interpolate(gettext("You are not allowed to do this (%s)."), [status]),
        next:
          forbiddenReason(xhr) ||
          gettext("Your session may have ended: reload the page and sign in again."),
      };
    }
    if (status === 404) {
      return {
        title: gettext("It is no longer there (404)."),
        next: gettext("Reload the page to see what is."),
      };
    }
    if (status >= 400 && status < 500) {
      return {
        title: interpolate(gettext("The server refused the request (%s)."), [status]),
        next: gettext("Reload the page and try again."),
      };
    }
    return {
      title: interpolate(gettext("The server failed (%s)."), [status]),
      next: interpolate(
        gettext("Try again, or ask an operator, with this reference: %(method)s %(path)s at %(time)s."),
        { method: method, path: path, time: clock() },
        true
      ),
    };
  }

  // Why a page refused (templates/403.html's #forbidden-reason): "you may view this
  // artifact but not change it" says more than "your session may have ended". Parsed as
  // inert HTML, never inserted.
  function forbiddenReason(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") === -1) {
      return "";
    }
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var reason = doc.getElementById("forbidden-reason");
    return reason ? reason.textContent.trim() : "";
  }

  function alertFor(message, what) {
    var alert = document.createElement("div");
    alert.className = "alert alert-danger alert-dismissible small py-2 " + ALERT_CLASS;
    alert.setAttribute("role", "alert");
    var title = document.createElement("div");
    title.className = "fw-semibold";
    var icon = document.createElement("i");
    icon.className = "bi bi-exclamation-triangle me-1";
    icon.setAttribute("aria-hidden", "true");
    title.append(icon, document.createTextNode((what ? what + " " : "") + message.title));
    var next = document.createElement("div");
    next.className = "htmx-error-next";
    next.textContent = message.next;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("aria-label", gettext("Dismiss"));
    close.addEventListener("click", function () {
      alert.remove();
    });
    alert.append(title, next, close);
    return alert;
  }

  // Where the alert goes: beside what the person was looking at when they acted.
  function place(alert, detail, form) {
    var target = detail.target && detail.target.isConnected ? detail.target : null;
    // The form's own slot first: a target such as the chat's message list holds the slots of
    // other controls (its cards).
    var slot =
      (form && form.querySelector("[data-error-slot]")) ||
      (target && (target.matches("[data-error-slot]") ? target : target.querySelector("[data-error-slot]")));
    var previous = slot
      ? slot.querySelector(":scope > ." + ALERT_CLASS)
      : target && target.previousElementSibling;
    if (previous && previous.classList.contains(ALERT_CLASS)) {
      previous.remove();
    }
    if (slot) {
      slot.prepend(alert);
    } else if (target && target.parentNode && target !== document.body) {
      target.parentNode.insertBefore(alert, target);
    } else if (form) {
      form.prepend(alert);
    } else {
      (document.querySelector("main") || document.body).prepend(alert);
    }
  }

  function failed(kind) {
    return function (event) {
      var detail = event.detail || {};
      var elt = detail.elt;
      var form = requestForm(elt);
      if (form && isFilterForm(form)) {
        restore(form);
      }
      var what = (elt && elt.closest("[data-error-what]")) || (form && form.closest("[data-error-what]"));
      place(alertFor(describe(kind, detail), what ? what.dataset.errorWhat : ""), detail, form);
    };
  }

  document.addEventListener("htmx:responseError", failed("response"));
  document.addEventListener("htmx:sendError", failed("send"));
  document.addEventListener("htmx:timeout", failed("timeout"));

  // An answer that arrives clears the alerts of earlier failures beside it, and is the new
  // good state of the filters that asked for it.
  document.addEventListener("htmx:afterRequest", function (event) {
    var detail = event.detail || {};
    if (!detail.successful) {
      return;
    }
    var form = requestForm(detail.elt);
    if (form && isFilterForm(form)) {
      remember(form);
    }
    // An outerHTML swap replaced the target: its successor has the same id.
    var target = detail.target && detail.target.id ? document.getElementById(detail.target.id) : detail.target;
    document.querySelectorAll("." + ALERT_CLASS).forEach(function (alert) {
      if (
        (target && (target.contains(alert) || target.previousElementSibling === alert)) ||
        (form && form.contains(alert))
      ) {
        alert.remove();
      }
    });
  });

  // Restored or newly swapped content brings its own filter forms.
  document.addEventListener("htmx:load", function (event) {
    rememberFilterForms(event.detail.elt);
  });
  document.addEventListener("DOMContentLoaded", function () {
    rememberFilterForms(document);
  });
})();
