// Charts: vega-embed draws an artifact's Vega-Lite spec over the rows of a run.
//
// A chart is a [data-chart] element holding a JSON script from charts.chart_payload (apps/llm_artifact/charts/render.py):
// {"spec", "datasets": {"results": [...]}, "errors"}. The spec never holds data; the rows
// come in as the named dataset "results". vega, vega-lite and vega-embed (about 1.3 MB) are
// loaded from our own static files the first time a page has something to draw.
// The chart editor ([data-chart-editor]) previews the spec the server last checked
// (#chart-editor-spec) over the rows of the result on the page.
// Content arriving through htmx swaps is picked up after each settle.
(function () {
  "use strict";

  var script = document.currentScript;
  var LIBRARIES = script ? [script.dataset.vega, script.dataset.vegaLite, script.dataset.vegaEmbed] : [];
  // Axes and tooltips read numbers and dates as the page's language does: _base.html links
  // d3's locale definitions (served from node_modules) when the language is not English.
  var LANGUAGE = document.documentElement.lang || "en";
  var LOCALE_URLS = script ? { format: script.dataset.formatLocale, time: script.dataset.timeFormatLocale } : {};
  var locales = {};
  // Above this many points canvas draws much faster than thousands of SVG nodes.
  var SVG_MAX_POINTS = 2000;
  var CARD_HEIGHT = 170;
  var PAGE_HEIGHT = 280;
  var THEME = {
    font: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    background: null,
    view: { stroke: null },
    title: { fontSize: 14, fontWeight: 600, anchor: "start", subtitleColor: "#6c757d", subtitleFontSize: 12 },
    axis: { labelColor: "#495057", titleColor: "#343a40", gridColor: "#e9ecef", domainColor: "#adb5bd", tickColor: "#adb5bd", labelFontSize: 11, titleFontSize: 12, labelLimit: 160 },
    legend: { labelColor: "#495057", titleColor: "#343a40", labelFontSize: 11, titleFontSize: 12, labelLimit: 160 },
    // Every mark answers hover with its fields, whether or not the spec asked for a tooltip.
    mark: { tooltip: true },
    bar: { color: "#0d6efd" },
    line: { color: "#0d6efd" },
    point: { color: "#0d6efd" },
    area: { color: "#0d6efd" },
  };

  var loading = null;
  var drawn = new WeakMap(); // element -> vega-embed result, to finalize when it goes

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var tag = document.createElement("script");
      tag.src = src;
      tag.onload = resolve;
      tag.onerror = function () {
        reject(new Error(interpolate(gettext("The chart library %s did not load."), [src])));
      };
      document.head.appendChild(tag);
    });
  }

  function loadLocale(kind) {
    var url = LOCALE_URLS[kind];
    if (!url) {
      return Promise.resolve();
    }
    return fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status + " " + url);
        }
        return response.json();
      })
      .then(function (definition) {
        locales[kind] = definition;
      });
  }

  // In order: vega-lite needs vega, vega-embed needs both. The locales load beside them.
  function libraries() {
    if (!loading) {
      var scripts = window.vegaEmbed
        ? Promise.resolve()
        : LIBRARIES.reduce(function (chain, src) {
            return chain.then(function () {
              return loadScript(src);
            });
          }, Promise.resolve());
      loading = Promise.all([scripts, loadLocale("format"), loadLocale("time")]);
    }
    return loading;
  }

  // The spec was checked on the server; the browser refuses the network all the same.
  function noNetwork() {
    var loader = window.vega.loader();
    var refuse = function () {
      return Promise.reject(new Error("Charts load nothing from URLs."));
    };
    loader.load = refuse;
    loader.sanitize = refuse;
    loader.http = refuse;
    loader.file = refuse;
    return loader;
  }

  function isSingleView(spec) {
    return ("mark" in spec || "layer" in spec) && !("facet" in spec || "repeat" in spec);
  }

  function discreteY(spec) {
    var y = spec.encoding && spec.encoding.y;
    return !!y && (y.type === "nominal" || y.type === "ordinal");
  }

  // Fit single views to their frame: the page's width, and a card's small height.
  function sized(spec, size) {
    var out = Object.assign({}, spec);
    if (!isSingleView(out)) {
      return out;
    }
    if (out.width === undefined || size === "card") {
      out.width = "container";
    }
    if (size === "card") {
      out.height = CARD_HEIGHT;
    } else if (out.height === undefined && !discreteY(out)) {
      out.height = PAGE_HEIGHT;
    }
    if (out.width === "container" && out.autosize === undefined) {
      out.autosize = { type: "fit-x", contains: "padding" };
    }
    return out;
  }

  function finalize(el) {
    var result = drawn.get(el);
    if (result) {
      result.finalize();
      drawn.delete(el);
    }
  }

  function showMessage(target, text, tone) {
    target.replaceChildren();
    var note = document.createElement("p");
    note.className = "chart-message small mb-0 " + (tone === "error" ? "text-danger" : "text-body-secondary");
    note.textContent = text;
    target.appendChild(note);
  }

  // Draw `spec` over `datasets` into `frame` (the element vega-embed fills).
  // Numbers in tooltips read as in the result tables (the `number` template filter in
  // apps/llm_artifact/templatetags/artifacts.py): grouped, two decimals for fractions, three
  // significant digits below 1, identifiers and years ungrouped.
  var NUMBER_TEXT = /^-?\d+(\.\d+)?(e[-+]?\d+)?$/i;
  function readableNumber(value, name) {
    var key = String(name || "").toLowerCase();
    var grouping = !(key === "id" || key === "year" || /_id$/.test(key));
    if (value !== 0 && Math.abs(value) < 1) {
      return new Intl.NumberFormat(LANGUAGE, { maximumSignificantDigits: 3 }).format(value);
    }
    var places = Number.isInteger(value) ? 0 : 2;
    return new Intl.NumberFormat(LANGUAGE, {
      useGrouping: grouping,
      minimumFractionDigits: places,
      maximumFractionDigits: places,
    }).format(value);
  }

  function escapeText(text) {
    var node = document.createElement("span");
    node.textContent = text;
    return node.innerHTML;
  }

  // vega-tooltip's formatTooltip: the same table as its default, with readable numbers.
  function formatTooltip(value, valueToHtml) {
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      return valueToHtml(value);
    }
    var rows = Object.keys(value).map(function (key) {
      var item = value[key];
      if (key === "title" || item === undefined) {
        return "";
      }
      var number = typeof item === "number" ? item : NUMBER_TEXT.test(String(item)) ? Number(item) : NaN;
      var shown = isFinite(number) ? escapeText(readableNumber(number, key)) : valueToHtml(item);
      return '<tr><td class="key">' + escapeText(key) + '</td><td class="value">' + shown + "</td></tr>";
    });
    var title = value.title !== undefined ? "<h2>" + valueToHtml(value.title) + "</h2>" : "";
    return title + "<table>" + rows.join("") + "</table>";
  }

  function embed(owner, frame, spec, datasets, options) {
    var rows = (datasets && datasets.results) || [];
    return libraries()
      .then(function () {
        finalize(owner);
        var full = Object.assign(sized(spec, options.size), { datasets: datasets });
        var embedOptions = {
          // Never "vega": a spec cannot switch the compiler to the unchecked Vega language.
          mode: "vega-lite",
          renderer: rows.length > SVG_MAX_POINTS ? "canvas" : "svg",
          actions: options.actions ? { export: true, source: false, compiled: false, editor: false } : false,
          downloadFileName: options.filename || "chart",
          loader: noNetwork(),
          config: THEME,
          tooltip: { formatTooltip: formatTooltip },
          // Vega-Lite's notes on how it sized a chart are not for the reader's console.
          logLevel: window.vega.Error,
          // Vega's expressions are interpreted, not compiled with new Function(): the
          // Content-Security-Policy allows no eval.
          ast: true,
          expr: window.vega.expressionInterpreter,
        };
        if (locales.format) {
          embedOptions.formatLocale = locales.format;
        }
        if (locales.time) {
          embedOptions.timeFormatLocale = locales.time;
        }
        return window.vegaEmbed(frame, full, embedOptions);
      })
      .then(function (result) {
        drawn.set(owner, result);
        owner.dataset.chartState = "drawn";
        owner.dispatchEvent(new CustomEvent("chart:drawn", { bubbles: true }));
      })
      .catch(function (error) {
        owner.dataset.chartState = "failed";
        showMessage(frame, interpolate(gettext("The chart could not be drawn: %s"), [error.message]), "error");
      });
  }

  function payloadOf(el) {
    var data = el.querySelector(':scope > script[type="application/json"]');
    return data ? JSON.parse(data.textContent) : null;
  }

  // --- charts over a run's result (artifact page, chat card) -------------------------------

  function drawChart(el) {
    var payload = payloadOf(el);
    var spec = el._chartSpec || (payload && payload.spec);
    if (!payload || !spec || (payload.errors && payload.errors.length && !el._chartSpec)) {
      return;
    }
    el.dataset.chartState = "pending";
    var card = el.dataset.chart === "card";
    embed(el, el.querySelector(".chart-canvas") || el, spec, payload.datasets, {
      size: card ? "card" : "page",
      actions: !card,
      filename: el.dataset.chartFilename,
    });
  }

  function drawCharts(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (!el.hidden && !el.dataset.chartState) {
        drawChart(el);
      }
    });
  }

  // --- the chart editor's live preview -----------------------------------------------------

  function pageResult() {
    return document.querySelector('#artifact-run-result [data-chart="page"]');
  }

  function editorSpec(editor) {
    var script = editor.querySelector("#chart-editor-spec");
    return script ? script.textContent : "null";
  }

  function refreshPreview(editor, force) {
    var preview = editor.querySelector("[data-chart-preview]");
    var message = editor.querySelector("[data-chart-preview-message]");
    var canvas = editor.querySelector("[data-chart-preview-canvas]");
    if (!preview || !canvas) {
      return;
    }
    var specText = editorSpec(editor);
    var result = pageResult();
    if (!force && preview._specText === specText && preview._result === result) {
      return;
    }
    preview._specText = specText;
    preview._result = result;
    var spec = JSON.parse(specText);
    var hasErrors = !!editor.querySelector(".chart-problems");
    message.replaceChildren();
    if (hasErrors) {
      // Keep the last good drawing while the spec is being fixed, dimmed.
      preview.classList.add("chart-preview-stale");
      message.textContent = gettext("Fix the problems to update the preview.");
      return;
    }
    preview.classList.remove("chart-preview-stale");
    if (!spec || !Object.keys(spec).length) {
      finalize(preview);
      canvas.replaceChildren();
      message.textContent = gettext("No chart: the result shows as a table.");
      return;
    }
    var payload = result && payloadOf(result);
    if (!payload) {
      finalize(preview);
      canvas.replaceChildren();
      // The spec is fine (a suggestion, say): what the preview lacks is rows on this page.
      message.append(gettext("The spec is valid; the preview draws it over rows on this page. "));
      var run = document.createElement("button");
      run.type = "button";
      run.className = "btn btn-link btn-sm p-0 align-baseline";
      run.textContent = gettext("Run the query to preview it");
      run.setAttribute("data-chart-run", "");
      message.appendChild(run);
      return;
    }
    embed(preview, canvas, spec, payload.datasets, { size: "page", actions: false });
  }

  // A new result on the page: check the spec against its columns and preview over its rows.
  var lastResult = null;
  function onResultChange(editor) {
    var result = pageResult();
    if (result === lastResult) {
      return;
    }
    lastResult = result;
    var text = editor.querySelector("#chart-spec");
    if (result && text && window.htmx) {
      window.htmx.trigger(text, "chart:recheck");
    }
  }

  // A saved spec is drawn over the result already on the page, without running again.
  function applySaved(editor) {
    if (!editor.hasAttribute("data-chart-saved")) {
      return;
    }
    editor.removeAttribute("data-chart-saved");
    var el = pageResult();
    if (!el) {
      return;
    }
    var spec = JSON.parse(editorSpec(editor));
    var errors = document.querySelector("#artifact-run-result [data-chart-errors]");
    if (errors) {
      errors.hidden = true;
    }
    finalize(el);
    el.querySelector(".chart-canvas").replaceChildren();
    delete el.dataset.chartState;
    el._chartSpec = spec && Object.keys(spec).length ? spec : null;
    el.hidden = !el._chartSpec;
    if (el._chartSpec) {
      drawChart(el);
    }
  }

  function refresh() {
    drawCharts(document);
    var editor = document.querySelector("[data-chart-editor]");
    if (editor) {
      applySaved(editor);
      onResultChange(editor);
      refreshPreview(editor, false);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    // A result rendered with the page was checked with it: no re-check needed.
    lastResult = pageResult();
    refresh();
  });
  document.addEventListener("htmx:afterSettle", refresh);

  // Views leave with their elements: their listeners and timers go too.
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    finalize(event.target);
  });

  document.addEventListener("click", function (event) {
    var run = event.target.closest("[data-chart-run]");
    if (run) {
      var form = document.querySelector("#artifact-run-panel form.run-form");
      if (form) {
        form.requestSubmit();
      }
      return;
    }
    // The admin's preview: the server draws the chart only when asked, as each draw runs
    // the query.
    var show = event.target.closest("[data-chart-image-src]");
    if (show) {
      var box = show.closest("[data-chart-image]");
      var image = box.querySelector("img");
      var note = box.querySelector("[data-chart-image-note]");
      note.textContent = gettext("Running the query and drawing the chart…");
      image.onload = function () {
        note.textContent = "";
        image.hidden = false;
      };
      image.onerror = function () {
        note.textContent = gettext("The chart could not be drawn; open the SVG link to read why.");
        image.hidden = true;
      };
      image.removeAttribute("src");
      image.src = show.dataset.chartImageSrc;
    }
  });
})();
