// The chat page, live: stream the agent's reply into the page as Server-Sent Events.
//
// The page works without this file: the composer and Retry are plain forms whose posts wait
// for the reply. With it, a question's placeholder (an article with data-stream-url) streams
// from the server as soon as it appears, and Retry streams the same way.
//
// Nothing here turns model output into HTML. Raw text goes in with textContent; every piece of
// HTML (Markdown so far, artifact cards, the finished message) was rendered and sanitised by
// the server and arrives in an event's `html` field.
(function () {
  "use strict";

  var ICONS = {
    started: "spinner-border spinner-border-sm",
    done: "bi bi-check-circle text-success",
    failed: "bi bi-exclamation-circle text-warning",
  };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  function fromHTML(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  // Let htmx wire up what the server sent (the cards' Run buttons, Retry forms).
  function activate(node) {
    if (window.htmx && node) {
      window.htmx.process(node);
    }
    return node;
  }

  // While a reply streams, Send waits (one turn at a time) and the reply offers Stop.
  var streaming = 0;

  function syncComposer() {
    document.querySelectorAll("#composer button[type=submit]").forEach(function (button) {
      button.disabled = streaming > 0;
      button.title = streaming > 0 ? gettext("Wait for the reply, or stop it") : "";
    });
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
  }

  function keepInView(follow) {
    if (follow) {
      window.scrollTo(0, document.body.scrollHeight);
    }
  }

  // One reply being streamed into its article.
  function Reply(article) {
    this.article = article;
    this.finished = false;
    this.calls = {};
    article.classList.add("chat-message-pending");
    // Keep the heading line; everything else is rebuilt for the stream.
    Array.prototype.slice.call(article.children).forEach(function (child) {
      if (!child.classList.contains("chat-message-meta")) {
        child.remove();
      }
    });
    this.bubble = el("div", "chat-bubble markdown chat-bubble-streaming");
    this.bubble.hidden = true;
    this.rendered = el("div", "chat-stream-rendered");
    this.tail = el("span", "chat-stream-tail");
    this.bubble.append(this.rendered, this.tail);
    this.activity = el("ol", "chat-activity list-unstyled small mb-0 mt-1");
    this.activity.setAttribute("aria-label", gettext("What the agent is doing"));
    this.cards = el("div", "chat-stream-cards");
    this.status = el("div", "chat-stream-status small text-body-secondary mt-1");
    this.status.setAttribute("role", "status");
    this.stopButton = el("button", "btn btn-sm btn-outline-secondary ms-2 chat-stop");
    this.stopButton.type = "button";
    this.stopButton.append(el("span", "bi bi-stop-fill me-1"), document.createTextNode(gettext("Stop")));
    this.stopButton.hidden = true;
    this.stopButton.addEventListener("click", this.stop.bind(this));
    this.setStatus(gettext("Waiting for the agent…"), true);
    article.append(this.bubble, this.activity, this.cards, this.status);
    streaming += 1;
    syncComposer();
  }

  // Ask the server to end the turn; the stream then brings the reply as kept, marked stopped.
  Reply.prototype.stop = function () {
    var id = this.article.dataset.messageId;
    var chatUrl = (document.getElementById("messages") || {}).dataset;
    if (!id || !chatUrl || !chatUrl.chatUrl) {
      return;
    }
    this.stopButton.disabled = true;
    this.setStatus(gettext("Stopping…"), true);
    var reply = this;
    fetch(chatUrl.chatUrl + "messages/" + id + "/stop/", {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    }).then(function (response) {
      if (!response.ok && !reply.finished) {
        reply.stopButton.disabled = false;
        reply.setStatus(interpolate(gettext("Could not stop the reply (the server answered %s)."), [response.status]), false);
      }
    }, function () {
      if (!reply.finished) {
        reply.stopButton.disabled = false;
        reply.setStatus(gettext("Could not reach the server to stop the reply."), false);
      }
    });
  };

  Reply.prototype.done = function () {
    if (!this.ended) {
      this.ended = true;
      streaming = Math.max(0, streaming - 1);
      syncComposer();
    }
  };

  Reply.prototype.setStatus = function (text, busy) {
    this.status.replaceChildren();
    if (busy) {
      var spinner = el("span", "spinner-border spinner-border-sm me-1");
      spinner.setAttribute("aria-hidden", "true");
      this.status.append(spinner);
    }
    this.status.append(document.createTextNode(text));
    if (busy && this.stopButton && !this.finished) {
      this.status.append(this.stopButton);
    }
  };

  Reply.prototype.handle = function (type, data) {
    var follow = nearBottom();
    if (type === "start") {
      this.article.id = "message-" + data.message_id;
      this.article.dataset.messageId = data.message_id;
      // The turn runs on the server whatever happens to this connection: a lost one is
      // resumed from here, where the reply is followed from where it is.
      var chat = (document.getElementById("messages") || {}).dataset;
      if (chat && chat.chatUrl) {
        this.resumeUrl = chat.chatUrl + "messages/" + data.user_message_id + "/stream/";
      }
      this.stopButton.hidden = false;
      this.setStatus(gettext("Thinking…"), true);
    } else if (type === "text") {
      this.bubble.hidden = false;
      if (typeof data.html === "string") {
        // The server's sanitised Markdown of everything so far replaces the raw text.
        this.rendered.innerHTML = data.html;
        this.tail.textContent = "";
      } else {
        this.tail.textContent += data.text;
      }
      this.setStatus(gettext("Writing…"), true);
    } else if (type === "tool") {
      this.tool(data);
    } else if (type === "artifact") {
      this.card(data);
    } else if (type === "done" || type === "error" || type === "refused" || type === "stopped") {
      this.finish(data);
    }
    keepInView(follow);
  };

  Reply.prototype.tool = function (data) {
    var item = this.calls[data.call_id];
    if (!item) {
      item = el("li", "chat-activity-item");
      item.dataset.callId = data.call_id;
      this.calls[data.call_id] = item;
      this.activity.append(item);
    }
    item.dataset.state = data.state;
    var icon = el("span", "chat-activity-icon me-1 " + (ICONS[data.state] || ""));
    icon.setAttribute("aria-hidden", "true");
    item.replaceChildren(icon, el("span", "chat-activity-label", data.label));
  };

  Reply.prototype.card = function (data) {
    if (!data.html) {
      return;
    }
    var card = activate(fromHTML(data.html));
    var existing = this.cards.querySelector("#" + CSS.escape(card.id));
    if (existing) {
      existing.replaceWith(card);
    } else {
      this.cards.append(card);
    }
  };

  // The server's rendering of the finished (or failed) message takes the placeholder's place;
  // the steps the agent took stay beneath its heading, folded.
  Reply.prototype.finish = function (data) {
    this.finished = true;
    this.done();
    if (!data.html) {
      this.fail(data.reason || gettext("The reply could not be shown."));
      return;
    }
    var message = activate(fromHTML(data.html));
    if (this.activity.children.length) {
      var steps = el("details", "chat-activity-log small text-body-secondary mt-1");
      var count = this.activity.children.length;
      steps.append(el("summary", "", interpolate(ngettext("%s step", "%s steps", count), [count])), this.activity);
      var meta = message.querySelector(".chat-message-meta");
      if (meta) {
        meta.after(steps);
      } else {
        message.prepend(steps);
      }
    }
    this.article.replaceWith(message);
  };

  // Something went wrong between us and the server: the server keeps what arrived.
  Reply.prototype.fail = function (reason) {
    this.finished = true;
    this.done();
    this.article.classList.remove("chat-message-pending");
    this.status.replaceChildren();
    var alert = el("div", "alert alert-danger small py-2 mt-2 mb-0", reason + " ");
    alert.setAttribute("role", "alert");
    var reload = el("a", "alert-link", gettext("Reload the page"));
    reload.href = window.location.pathname;
    alert.append(reload, document.createTextNode(gettext(" to see what was saved.")));
    this.status.append(alert);
  };

  function parseEvent(block) {
    var type = "message";
    var data = [];
    block.split("\n").forEach(function (line) {
      if (line.startsWith("event:")) {
        type = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    });
    if (!data.length) {
      return null; // a keep-alive comment
    }
    return { type: type, data: JSON.parse(data.join("\n")) };
  }

  async function errorText(response) {
    try {
      var body = await response.json();
      return body.detail || body.reason || interpolate(gettext("The server answered %s."), [response.status]);
    } catch (error) {
      return interpolate(gettext("The server answered %s."), [response.status]);
    }
  }

  async function stream(reply, url, init) {
    var response;
    try {
      response = await fetch(url, Object.assign({ credentials: "same-origin" }, init));
    } catch (error) {
      if (reply.resumeUrl) {
        resume(reply);
      } else {
        reply.fail(gettext("Could not reach the server."));
      }
      return;
    }
    var type = response.headers.get("Content-Type") || "";
    if (response.status >= 502 && response.status <= 504 && reply.resumeUrl) {
      resume(reply); // a proxy in front of a restarting server
      return;
    }
    if (!response.ok || type.indexOf("text/event-stream") !== 0) {
      reply.fail(await errorText(response));
      return;
    }
    var reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    var buffer = "";
    try {
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) {
          break;
        }
        buffer += chunk.value.replace(/\r\n/g, "\n");
        var end;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          var event = parseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event) {
            reply.handle(event.type, event.data);
          }
        }
      }
    } catch (error) {
      // The connection broke; fall through to the reconnect below.
    }
    if (!reply.finished) {
      resume(reply);
    }
  }

  // The reply goes on being written on the server when a connection is lost (a network
  // blip, a restarted proxy): follow it again from where it is, a few times.
  var RESUME_ATTEMPTS = 5;

  function resume(reply) {
    reply.resumes = (reply.resumes || 0) + 1;
    if (!reply.resumeUrl || reply.resumes > RESUME_ATTEMPTS) {
      reply.fail(text("lost", gettext("The connection to the server was lost before the reply finished.")));
      return;
    }
    reply.setStatus(text("reconnecting", gettext("Reconnecting…")), true);
    window.setTimeout(function () {
      stream(reply, reply.resumeUrl, { headers: { Accept: "text/event-stream" } });
    }, 500 * reply.resumes);
  }

  // The page's words for what this script says, translated by the server (#messages' data-text-*).
  function text(key, fallback) {
    var messages = document.getElementById("messages");
    var name = "text" + key.charAt(0).toUpperCase() + key.slice(1);
    return (messages && messages.dataset[name]) || fallback;
  }

  function startStream(article) {
    if (article.dataset.streaming) {
      return;
    }
    article.dataset.streaming = "true";
    var reply = new Reply(article);
    // A GET follows the question's reply from wherever it is: safe to ask again.
    reply.resumeUrl = article.dataset.streamUrl;
    if (article.dataset.messageId) {
      reply.article.dataset.messageId = article.dataset.messageId; // Stop works at once
      reply.stopButton.hidden = false;
    }
    stream(reply, article.dataset.streamUrl, {
      headers: { Accept: "text/event-stream" },
    });
  }

  // The composer: Enter sends and Shift+Enter adds a line; on touch screens, whose keyboards
  // have no Shift+Enter, Enter adds a line and Send sends. Ctrl/Cmd+Enter sends everywhere.
  var touch = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;

  function setHints(root) {
    if (!touch || !root.querySelectorAll) {
      return;
    }
    root.querySelectorAll("[data-composer-hint]").forEach(function (hint) {
      hint.textContent = gettext("Enter adds a line; tap Send to send.");
    });
  }

  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (!(field instanceof HTMLTextAreaElement) || !field.hasAttribute("data-composer")) {
      return;
    }
    if (event.key !== "Enter" || event.isComposing || !field.form) {
      return;
    }
    var send = event.ctrlKey || event.metaKey || (!touch && !event.shiftKey);
    if (!send) {
      return; // a new line
    }
    event.preventDefault();
    var button = field.form.querySelector("button[type=submit]");
    if (button && button.disabled) {
      return; // a reply is streaming: Send waits
    }
    field.form.requestSubmit(button || undefined);
  });

  function scan(root) {
    setHints(root);
    syncComposer();
    if (root.matches && root.matches("article[data-stream-url]")) {
      startStream(root);
    }
    if (root.querySelectorAll) {
      root.querySelectorAll("article[data-stream-url]").forEach(startStream);
    }
  }

  // Retry (and "Get the reply") post the form and stream the answer into the same article.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-stream-retry], form[data-stream-fallback]")) {
      return;
    }
    var article = form.closest("article");
    if (!article || !window.fetch || !window.TextDecoderStream) {
      return; // the plain post still works
    }
    event.preventDefault();
    var body = new FormData(form);
    var reply = new Reply(article);
    stream(reply, form.action, {
      method: "POST",
      body: body,
      headers: { Accept: "text/event-stream", "X-CSRFToken": body.get("csrfmiddlewaretoken") },
    });
  });

  if (window.fetch && window.TextDecoderStream) {
    if (window.htmx) {
      // Called for the page once it is ready and for everything htmx swaps in later.
      window.htmx.onLoad(scan);
    } else {
      document.addEventListener("DOMContentLoaded", function () {
        scan(document);
      });
    }
  }
})();
