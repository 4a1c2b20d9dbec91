// A dashboard (apps/llm_artifact/templates/llm_artifact/types/dashboard.html).
//
// Filters: a changed filter re-runs, in place and side by side, the tiles it applies to
// (their data-filters name it), each showing its own loading state; the values go into the
// address bar, so the view can be shared as a link. Without this file the filter form is a
// plain GET form that reloads the page.
//
// Arranging: editors drag a tile onto another to move it there; the new order is posted to
// the dashboard (data-order-url). The buttons on each tile do the same from the keyboard,
// and without JavaScript.
(function () {
  "use strict";

  function csrfHeaders() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    } catch (error) {
      return {};
    }
  }

  // --- filters ----------------------------------------------------------------------------

  function filterQuery(form) {
    var params = new URLSearchParams();
    form.querySelectorAll("input[name]").forEach(function (input) {
      params.append(input.name, input.value);
    });
    return params.toString();
  }

  function filterValues(form) {
    var values = {};
    form.querySelectorAll("input[data-filter]").forEach(function (input) {
      var name = input.dataset.filter;
      values[name] = (values[name] || "") + "\u0000" + input.value;
    });
    return values;
  }

  function runTile(body, query) {
    var url = body.dataset.tileUrl + (query ? "?" + query : "");
    body.setAttribute("hx-get", url);
    body.setAttribute("aria-busy", "true");
    body.classList.add("dashboard-tile-running");
    var note = document.createElement("div");
    note.className = "dashboard-tile-loading small text-body-secondary";
    note.innerHTML = '<span class="spinner-border spinner-border-sm me-1" aria-hidden="true"></span>';
    var grid = body.closest(".dashboard-grid");
    note.appendChild(document.createTextNode((grid && grid.dataset.runningLabel) || ""));
    body.prepend(note);
    // hx-sync="this:replace" on the body: a newer run of the tile aborts the one in flight,
    // so the last values win whatever order the answers would arrive in.
    // A superseded run's promise is rejected: nothing to report, the newer run answers.
    window.htmx.ajax("GET", url, { source: body, target: body, swap: "innerHTML" }).catch(function () {});
  }

  function keepValuesInForms(form) {
    // The editors' forms carry the filter values, so a change comes back to the same view.
    form.querySelectorAll("input[data-filter]").forEach(function (input) {
      document.querySelectorAll('form[method="post"] input[type="hidden"][name="' + input.name + '"]').forEach(function (hidden) {
        hidden.value = input.value;
      });
    });
  }

  function setUpFilters(form) {
    var applied = filterValues(form);
    function apply() {
      var now = filterValues(form);
      var changed = Object.keys(now).filter(function (name) {
        return now[name] !== applied[name];
      });
      applied = now;
      if (!changed.length) {
        return;
      }
      var query = filterQuery(form);
      window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
      keepValuesInForms(form);
      document.querySelectorAll(".dashboard-tile-body[data-tile-url]").forEach(function (body) {
        var names = (body.dataset.filters || "").split(" ");
        if (changed.some(function (name) { return names.indexOf(name) !== -1; })) {
          runTile(body, query);
        }
      });
    }
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      apply();
    });
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var body = event.detail.target;
    if (body && body.classList && body.classList.contains("dashboard-tile-body")) {
      body.removeAttribute("aria-busy");
      body.classList.remove("dashboard-tile-running");
    }
  });

  // --- drag and drop ----------------------------------------------------------------------

  function setUpDragging(grid) {
    var dragged = null;
    grid.addEventListener("dragstart", function (event) {
      dragged = event.target.closest("[data-tile]");
      if (!dragged) {
        return;
      }
      dragged.classList.add("dashboard-tile-dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.tile);
    });
    grid.addEventListener("dragover", function (event) {
      if (dragged && event.target.closest("[data-tile]")) {
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
      }
    });
    grid.addEventListener("drop", function (event) {
      var target = event.target.closest("[data-tile]");
      if (!dragged || !target || target === dragged) {
        return;
      }
      event.preventDefault();
      var cells = Array.prototype.slice.call(grid.querySelectorAll("[data-tile]"));
      var after = cells.indexOf(dragged) < cells.indexOf(target);
      target.parentNode.insertBefore(dragged, after ? target.nextSibling : target);
      saveOrder(grid);
    });
    grid.addEventListener("dragend", function () {
      if (dragged) {
        dragged.classList.remove("dashboard-tile-dragging");
      }
      dragged = null;
    });
  }

  function saveOrder(grid) {
    var order = Array.prototype.map.call(grid.querySelectorAll("[data-tile]"), function (cell) {
      return cell.dataset.tile;
    });
    var headers = csrfHeaders();
    headers["HX-Request"] = "true";
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    grid.setAttribute("aria-busy", "true");
    fetch(grid.dataset.orderUrl, {
      method: "POST",
      headers: headers,
      body: new URLSearchParams({ order: order.join(",") }).toString(),
      credentials: "same-origin",
    }).then(function (response) {
      grid.removeAttribute("aria-busy");
      grid.dataset.orderSaved = response.ok ? "yes" : "no";
      if (!response.ok) {
        window.location.reload();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-dashboard-filters]");
    if (form) {
      setUpFilters(form);
    }
    var grid = document.querySelector(".dashboard-grid[data-editable]");
    if (grid) {
      setUpDragging(grid);
    }
  });
})();
