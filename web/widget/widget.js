/*!
 * Sweat Clinic chat widget: a dependency-free chat window for the assistant's
 * Rasa REST channel. Embed it with one tag (see docs/widget.md):
 *
 *   <script src="/widget/widget.js" defer
 *           data-rasa-url="https://assistant.example.org"
 *           data-clinic-name="Sweat Clinic" data-clinic-phone="+1 555 010 0100"
 *           data-emergency-number="911" data-color="#0a5c7a"></script>
 *
 * Everything the assistant or the patient writes is put on the page as text
 * (textContent / text nodes), never parsed as HTML.
 */
(function () {
  "use strict";

  if (window.SweatClinicChat) return; // embedded twice: keep the first one
  var api = window.SweatClinicChat = {};

  var script = document.currentScript;
  var STORE_KEY = "sweat-clinic-chat:v1";
  var MAX_ENTRIES = 200;
  var MAX_QUEUE = 3; // messages waiting behind the one being answered
  var LABELS = { pending: "Sending\u2026", queued: "Queued", failed: "Not sent" };

  // ---- small helpers -------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    var key;
    for (key in attrs || {}) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "class") node.className = attrs[key];
      else if (attrs[key] !== null && attrs[key] !== undefined) node.setAttribute(key, attrs[key]);
    }
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function hidden(text) {
    return el("span", { class: "sca-sr", text: text });
  }

  // "tel:" target for a phone number as people write it ("+1 555 010 0100" -> "tel:+15550100100");
  // null for anything that is not a phone number.
  function telHref(number) {
    var text = String(number || "").trim();
    var digits = text.replace(/^(\+.*?)\(0\)/, "$1").replace(/[^0-9]/g, ""); // +44 (0)20 -> +4420
    if (!/^\+?[0-9 ()./-]+$/.test(text) || digits.length < 2) return null;
    return "tel:" + (text.charAt(0) === "+" ? "+" : "") + digits;
  }

  function httpUrl(value) {
    try {
      var url = new URL(String(value), window.location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return (b + 256).toString(16).slice(1);
    }).join("");
  }

  // Text with http(s) links made clickable, built from text nodes and <a> elements only.
  function linkified(text) {
    var fragment = document.createDocumentFragment();
    var pattern = /https?:\/\/[^\s<>"]+/g;
    var last = 0;
    var match;
    while ((match = pattern.exec(text))) {
      var href = match[0].replace(/[.,;:!?)]+$/, "");
      fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      fragment.appendChild(el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: href }));
      last = match.index + href.length;
    }
    fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  // ---- colours: the clinic's brand colour, kept at WCAG AA contrast -------------

  function parseHex(value) {
    var m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(value || "").trim());
    if (!m) return null;
    var hex = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
    return [0, 2, 4].map(function (i) { return parseInt(hex.substr(i, 2), 16); });
  }

  function luminance(rgb) {
    var c = rgb.map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  function contrast(a, b) {
    var la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  function hex(rgb) {
    return "#" + rgb.map(function (v) { return (Math.round(v) + 256).toString(16).slice(1); }).join("");
  }

  var WHITE = [255, 255, 255], INK = [17, 24, 39], BUBBLE = [241, 245, 249];

  function palette(brandValue, textValue) {
    var brand = parseHex(brandValue) || parseHex("#0a5c7a");
    var onBrand = parseHex(textValue);
    if (!onBrand || contrast(onBrand, brand) < 4.5) {
      onBrand = contrast(WHITE, brand) >= contrast(INK, brand) ? WHITE : INK;
    }
    // The brand colour as text on white or on a bot bubble: darkened until it reads at 4.5:1.
    var ink = brand.slice();
    while (contrast(ink, BUBBLE) < 4.5) ink = ink.map(function (v) { return v * 0.9; });
    return { brand: hex(brand), onBrand: hex(onBrand), ink: hex(ink) };
  }

  // ---- storage (falls back to memory where localStorage is blocked) ------------

  var memory = {};
  var storage = {
    get: function () {
      try {
        return JSON.parse(window.localStorage.getItem(STORE_KEY)) || null;
      } catch (e) {
        return memory[STORE_KEY] || null;
      }
    },
    set: function (value) {
      memory[STORE_KEY] = value;
      try {
        window.localStorage.setItem(STORE_KEY, JSON.stringify(value));
      } catch (e) { /* private mode or full: the memory copy still works */ }
    },
    clear: function () {
      delete memory[STORE_KEY];
      try {
        window.localStorage.removeItem(STORE_KEY);
      } catch (e) { /* ignore */ }
    }
  };

  // ---- the widget ----------------------------------------------------------

  function init() {
    var data = (script && script.dataset) || {};
    var cfg = {
      rasaUrl: String(data.rasaUrl || "http://localhost:5005").replace(/\/+$/, ""),
      clinicName: data.clinicName || "the clinic",
      clinicPhone: data.clinicPhone || "",
      emergencyNumber: data.emergencyNumber || "911",
      bookingUrl: data.bookingUrl || "",
      greeting: data.greeting === undefined ? "/greet" : data.greeting,
      timeout: Math.max(1000, parseInt(data.timeout, 10) || 15000),
      title: data.title || (data.clinicName ? data.clinicName + " assistant" : "Clinic assistant")
    };
    var colours = palette(data.color, data.colorText);
    var cssUrl = new URL("widget.css", (script && script.src) || window.location.href).href;

    var state = storage.get();
    if (!state || typeof state.sender !== "string" || !Array.isArray(state.entries)) {
      state = { sender: randomId(), entries: [] };
    }
    state.entries = state.entries.filter(function (entry) {
      return entry && typeof entry.id === "string" && (entry.from === "user" || entry.from === "bot") &&
        (entry.text === undefined || typeof entry.text === "string");
    });
    // A request cut off by a reload never got its answer (or was never sent): offer it again.
    state.entries.forEach(function (entry) {
      if (entry.status === "pending" || entry.status === "queued") {
        entry.status = "failed";
        entry.error = entry.error || "stopped";
      }
    });
    var busy = false;
    var queue = []; // user entries waiting to be sent, in order; always the last entries
    var isOpen = false;
    var savedOverflow = null;

    // Host + shadow root: the clinic site's CSS can't reach in, ours can't leak out.
    var host = el("div", { id: "sweat-clinic-chat", "data-sca": "" });
    host.style.cssText = "--sca-brand:" + colours.brand + ";--sca-on-brand:" + colours.onBrand +
      ";--sca-ink:" + colours.ink + ";";
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var stylesheet = el("link", { rel: "stylesheet", href: cssUrl });
    var wrap = el("div", { class: "sca", hidden: "" }); // shown once the CSS is in
    stylesheet.addEventListener("load", function () { wrap.hidden = false; });
    stylesheet.addEventListener("error", function () { wrap.hidden = false; });

    var panelId = "sca-panel", titleId = "sca-title", inputId = "sca-input";
    var launcher = el("button", { type: "button", class: "sca-launcher", "aria-expanded": "false",
      "aria-controls": panelId }, [
      el("span", { class: "sca-launcher-icon", "aria-hidden": "true" }),
      el("span", { text: "Questions? Chat with us" })
    ]);

    var startOver = el("button", { type: "button", class: "sca-head-btn", text: "Start over" });
    var closeBtn = el("button", { type: "button", class: "sca-head-btn sca-close", "aria-label": "Close chat" }, [
      el("span", { "aria-hidden": "true", text: "\u00d7" })
    ]);
    var emergencyTel = telHref(cfg.emergencyNumber);
    var disclaimer = el("p", { class: "sca-disclaimer" }, [
      "Automated assistant, not a doctor. Emergency? ",
      emergencyTel ? el("a", { href: emergencyTel, class: "sca-disclaimer-call", text: "Call " + cfg.emergencyNumber })
        : "Call " + cfg.emergencyNumber,
      emergencyTel ? "" : "."
    ]);
    var log = el("div", { class: "sca-log", role: "log", "aria-live": "polite", "aria-relevant": "additions" });
    var typing = el("div", { class: "sca-typing", hidden: "" }, [
      el("span", { class: "sca-dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
      hidden("The assistant is typing")
    ]);
    var typingStatus = el("div", { role: "status", class: "sca-sr" });
    // Focusable, so the keyboard can scroll it when it holds no link or button.
    var scroller = el("div", { class: "sca-scroll", tabindex: "0", role: "region", "aria-label": "Conversation" },
      [log, typing]);
    var input = el("input", { id: inputId, class: "sca-input", type: "text", autocomplete: "off",
      enterkeyhint: "send", maxlength: "500", placeholder: "Type your question" });
    var send = el("button", { type: "submit", class: "sca-send", text: "Send", "aria-describedby": "sca-note" });
    var note = el("p", { id: "sca-note", class: "sca-note", role: "status" });
    var form = el("form", { class: "sca-form" }, [
      el("label", { for: inputId, class: "sca-sr", text: "Your question" }), input, send
    ]);
    var panel = el("div", { id: panelId, class: "sca-panel", role: "dialog", "aria-labelledby": titleId, hidden: "" }, [
      el("div", { class: "sca-head" }, [
        el("h2", { id: titleId, class: "sca-title", text: cfg.title }), startOver, closeBtn
      ]),
      disclaimer, scroller, typingStatus, note, form
    ]);
    wrap.appendChild(launcher);
    wrap.appendChild(panel);
    root.appendChild(stylesheet);
    root.appendChild(wrap);
    document.body.appendChild(host);

    // ---- rendering -------------------------------------------------------

    function scrollToEnd() {
      scroller.scrollTop = scroller.scrollHeight;
    }

    function phoneLink(number, label) {
      var href = telHref(number);
      return href ? el("a", { href: href, text: label || number }) : document.createTextNode(label || number);
    }

    function escalationCard(esc) {
      if (esc.level === "emergency") {
        var number = telHref(esc.phone) ? esc.phone : cfg.emergencyNumber;
        return el("div", { class: "sca-card sca-card-emergency", role: "group", "aria-label": "Emergency" }, [
          el("p", { class: "sca-card-title", text: "This may be an emergency" }),
          el("p", { text: "Call emergency services now. Don't wait to see if it passes." }),
          el("div", { class: "sca-card-actions" }, [
            telHref(number) && el("a", { class: "sca-card-btn", href: telHref(number), text: "Call " + number })
          ])
        ]);
      }
      var phone = telHref(esc.phone) ? esc.phone : cfg.clinicPhone;
      var book = httpUrl(esc.booking_url || cfg.bookingUrl);
      return el("div", { class: "sca-card sca-card-urgent", role: "group", "aria-label": "Talk to a professional" }, [
        el("p", { class: "sca-card-title", text: "Please talk to a healthcare professional" }),
        el("p", { text: "The " + cfg.clinicName + " team can advise on your own situation." }),
        el("div", { class: "sca-card-actions" }, [
          telHref(phone) && el("a", { class: "sca-card-btn", href: telHref(phone), text: "Call " + phone }),
          book && el("a", { class: "sca-card-btn sca-card-btn-alt", href: book, target: "_blank",
            rel: "noopener noreferrer", text: "Book a consultation" })
        ])
      ]);
    }

    function entryNode(entry) {
      if (entry.from === "user") {
        var node = el("div", { class: "sca-msg sca-user sca-" + (entry.status || "sent"), "data-id": entry.id }, [
          el("p", { class: "sca-bubble" }, [hidden("You: "), entry.text]),
          LABELS[entry.status] && el("p", { class: "sca-state", text: LABELS[entry.status] })
        ]);
        if (entry.hidden) node.hidden = true;
        return node;
      }
      var parts = [];
      if (entry.text) parts.push(el("p", { class: "sca-bubble" }, [hidden("Assistant: "), linkified(entry.text)]));
      if (entry.escalation) parts.push(escalationCard(entry.escalation));
      return el("div", { class: "sca-msg sca-bot", "data-id": entry.id }, parts);
    }

    function errorNotice(entry) {
      var reasons = {
        timeout: "The assistant is taking too long to answer.",
        empty: "The assistant didn't answer.",
        server: "Something went wrong at the assistant's end.",
        network: "The assistant can't be reached right now.",
        stopped: "The page was reloaded or closed before this message was answered."
      };
      var text = [reasons[entry.error] || reasons.network,
        entry.hidden ? "" : " Your message is kept here, so nothing is lost.", " Try again"];
      var children = text.slice();
      if (cfg.clinicPhone) children.push(", or call " + cfg.clinicName + " on ", phoneLink(cfg.clinicPhone), ".");
      else children.push(".");
      var retry = el("button", { type: "button", class: "sca-retry", text: "Retry" });
      retry.addEventListener("click", function () { resend(entry.id); });
      return el("div", { class: "sca-error", "data-error-for": entry.id }, [
        el("p", {}, children), retry
      ]);
    }

    // Quick replies of the latest bot turn (removed as soon as the patient answers).
    function showQuickReplies() {
      var old = log.querySelector(".sca-quick");
      if (old) old.remove();
      var buttons = [];
      for (var i = state.entries.length - 1; i >= 0 && state.entries[i].from === "bot"; i--) {
        buttons = (state.entries[i].buttons || []).concat(buttons);
      }
      if (!buttons.length || busy) return;
      var group = el("div", { class: "sca-quick", role: "group", "aria-label": "Suggested questions" });
      buttons.forEach(function (b) {
        var button = el("button", { type: "button", class: "sca-quick-btn", text: b.title || b.payload });
        button.addEventListener("click", function () {
          submit(b.title || b.payload, b.payload || b.title, false);
        });
        group.appendChild(button);
      });
      log.appendChild(group);
    }

    // Appended, or inserted before `before` (an answer goes above the messages still queued).
    function appendEntry(entry, before) {
      log.insertBefore(entryNode(entry), before || null);
      if (entry.status === "failed") log.insertBefore(errorNotice(entry), before || null);
    }

    function nodeFor(id) {
      return log.querySelector('[data-id="' + id + '"]');
    }

    // A user message's state changed: its "Sending…" / "Queued" / "Not sent" mark follows.
    // Only the mark changes, so the live log doesn't read the message out again.
    function mark(entry) {
      var node = nodeFor(entry.id);
      if (!node) return;
      var fresh = entryNode(entry);
      var label = fresh.querySelector(".sca-state");
      var old = node.querySelector(".sca-state");
      node.className = fresh.className;
      if (old) old.remove();
      if (label) node.appendChild(label);
    }

    function renderAll() {
      log.textContent = "";
      state.entries.forEach(function (entry) { appendEntry(entry); });
      showQuickReplies();
      scrollToEnd();
    }

    function save() {
      if (state.entries.length > MAX_ENTRIES) state.entries = state.entries.slice(-MAX_ENTRIES);
      storage.set(state);
    }

    // Queue full: Send is disabled (the typed text stays in the box) and the note says why.
    function queueChanged() {
      var full = queue.length >= MAX_QUEUE;
      send.setAttribute("aria-disabled", full ? "true" : "false");
      note.textContent = full ? "Please wait: your earlier messages are still being sent. " +
        "What you type stays here until you can send it." : "";
      scrollToEnd(); // the note takes room from the conversation
    }

    function setBusy(value) {
      busy = value;
      typing.hidden = !value;
      typingStatus.textContent = value ? "The assistant is typing" : "";
      panel.setAttribute("aria-busy", value ? "true" : "false");
      scrollToEnd();
    }

    // ---- talking to the assistant ----------------------------------------------

    function post(entry) {
      var controller = window.AbortController ? new AbortController() : null;
      var timedOut = false;
      var timer = setTimeout(function () {
        timedOut = true;
        if (controller) controller.abort();
      }, cfg.timeout);
      return fetch(cfg.rasaUrl + "/webhooks/rest/webhook", {
        method: "POST",
        mode: "cors",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: state.sender, message: entry.payload }),
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        if (!response.ok) throw new Error("server");
        return response.json();
      }).then(function (messages) {
        clearTimeout(timer);
        if (timedOut) throw new Error("timeout");
        return messages;
      }, function (error) {
        clearTimeout(timer);
        throw timedOut ? new Error("timeout") : error;
      });
    }

    function toEntries(messages) {
      var entries = [];
      (Array.isArray(messages) ? messages : []).forEach(function (m) {
        if (!m || typeof m !== "object") return;
        var entry = { id: randomId(), from: "bot" };
        if (typeof m.text === "string" && m.text) entry.text = m.text;
        if (Array.isArray(m.buttons)) {
          entry.buttons = m.buttons.filter(function (b) {
            return b && (typeof b.title === "string" || typeof b.payload === "string");
          }).map(function (b) {
            return { title: String(b.title || b.payload), payload: String(b.payload || b.title) };
          });
        }
        var esc = m.custom && m.custom.escalation;
        if (esc && typeof esc === "object") {
          entry.escalation = {
            level: esc.level === "emergency" ? "emergency" : "urgent",
            phone: typeof esc.phone === "string" ? esc.phone : "",
            booking_url: typeof esc.booking_url === "string" ? esc.booking_url : ""
          };
        }
        if (entry.text || entry.escalation || (entry.buttons && entry.buttons.length)) entries.push(entry);
      });
      return entries;
    }

    // {"custom": {"privacy": {"erase": true}}}: the assistant erased the conversation.
    function erases(messages) {
      return messages.some(function (m) {
        return m && m.custom && m.custom.privacy && m.custom.privacy.erase === true;
      });
    }

    function deliver(entry) {
      var conversation = state; // "Start over" while waiting: the late answer is dropped
      setBusy(true);
      post(entry).then(function (messages) {
        if (conversation !== state) return;
        var replies = toEntries(messages);
        if (!replies.length) throw new Error("empty");
        entry.status = "sent";
        delete entry.error;
        setBusy(false);
        mark(entry);
        if (erases(messages)) {
          // The clinic deleted the conversation: so does this device (new id, only the reply
          // and the messages still queued kept).
          state = { sender: randomId(), entries: replies.concat(queue) };
          save();
          renderAll();
        } else {
          var at = queue.length ? state.entries.indexOf(queue[0]) : state.entries.length;
          var before = queue.length ? nodeFor(queue[0].id) : null;
          state.entries.splice.apply(state.entries, [at, 0].concat(replies));
          save();
          replies.forEach(function (reply) { appendEntry(reply, before); });
        }
        sendNext();
      }).catch(function (error) {
        if (conversation !== state) return;
        entry.status = "failed";
        entry.error = error && /^(timeout|empty|server)$/.test(error.message) ? error.message : "network";
        save();
        setBusy(false);
        mark(entry);
        var node = nodeFor(entry.id);
        log.insertBefore(errorNotice(entry), node ? node.nextSibling : null);
        sendNext();
      }).then(scrollToEnd);
    }

    // One message at a time, in the order they were sent: the next one goes when the
    // previous one is answered or has failed.
    function sendNext() {
      var entry = queue.shift();
      if (entry) {
        entry.status = "pending";
        save();
        mark(entry);
        deliver(entry);
      }
      queueChanged();
      showQuickReplies();
    }

    // Sends a message now, or queues it while another is being answered; false (and
    // nothing changes) when the queue is full.
    function submit(text, payload, isHidden) {
      if (queue.length >= MAX_QUEUE) return false;
      var entry = { id: randomId(), from: "user", text: text, payload: payload, status: busy ? "queued" : "pending" };
      if (isHidden) entry.hidden = true;
      var quick = log.querySelector(".sca-quick");
      if (quick) quick.remove();
      state.entries.push(entry);
      save();
      appendEntry(entry);
      scrollToEnd();
      if (!isHidden) input.focus();
      if (busy) queue.push(entry);
      else deliver(entry);
      queueChanged();
      return true;
    }

    // Retry: the failed message moves to the end of the conversation and goes again.
    function resend(id) {
      if (queue.length >= MAX_QUEUE) return;
      var index = -1;
      state.entries.forEach(function (e, i) { if (e.id === id) index = i; });
      if (index < 0) return;
      var entry = state.entries.splice(index, 1)[0];
      var nodes = log.querySelectorAll('[data-id="' + id + '"], [data-error-for="' + id + '"]');
      Array.prototype.forEach.call(nodes, function (n) { n.remove(); });
      input.focus();
      submit(entry.text, entry.payload, entry.hidden);
    }

    function greetIfNew() {
      if (!state.entries.length && cfg.greeting) submit("", cfg.greeting, true);
    }

    // ---- opening, closing, keyboard --------------------------------------------

    var phone = window.matchMedia("(max-width: 600px)");

    function fitViewport() {
      var vv = window.visualViewport;
      if (!vv) return;
      host.style.setProperty("--sca-vh", vv.height + "px");
      host.style.setProperty("--sca-vtop", vv.offsetTop + "px");
      if (isOpen) scrollToEnd();
    }

    function lockPage(lock) {
      var html = document.documentElement;
      if (lock && savedOverflow === null) {
        savedOverflow = html.style.overflow;
        html.style.overflow = "hidden";
      } else if (!lock && savedOverflow !== null) {
        html.style.overflow = savedOverflow;
        savedOverflow = null;
      }
    }

    function layout() {
      panel.setAttribute("aria-modal", phone.matches ? "true" : "false");
      lockPage(isOpen && phone.matches);
    }

    function open() {
      if (isOpen) return;
      isOpen = true;
      panel.hidden = false;
      launcher.hidden = true;
      launcher.setAttribute("aria-expanded", "true");
      layout();
      fitViewport();
      scrollToEnd();
      input.focus();
      greetIfNew();
    }

    function close() {
      if (!isOpen) return;
      isOpen = false;
      panel.hidden = true;
      launcher.hidden = false;
      launcher.setAttribute("aria-expanded", "false");
      layout();
      launcher.focus();
    }

    function reset() {
      state = { sender: randomId(), entries: [] };
      storage.clear();
      queue = [];
      queueChanged();
      setBusy(false);
      renderAll();
      input.value = "";
      input.focus();
      greetIfNew();
    }

    function focusables() {
      return Array.prototype.filter.call(
        panel.querySelectorAll("button, a[href], input"),
        function (n) { return !n.disabled && n.getClientRects().length; }
      );
    }

    launcher.addEventListener("click", open);
    closeBtn.addEventListener("click", close);
    startOver.addEventListener("click", reset);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (text && submit(text, text, false)) input.value = "";
    });
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape" || event.key === "Esc") {
        event.preventDefault();
        close();
      } else if (event.key === "Tab" && phone.matches) {
        // Full screen on a phone: Tab cycles inside the chat.
        var items = focusables();
        var active = root.activeElement || document.activeElement;
        if (!items.length) return;
        if (event.shiftKey && active === items[0]) {
          event.preventDefault();
          items[items.length - 1].focus();
        } else if (!event.shiftKey && active === items[items.length - 1]) {
          event.preventDefault();
          items[0].focus();
        }
      }
    });
    if (window.visualViewport) {
      window.visualViewport.addEventListener("resize", fitViewport);
      window.visualViewport.addEventListener("scroll", fitViewport);
      host.classList.add("sca-vv");
    }
    if (phone.addEventListener) phone.addEventListener("change", layout);
    else if (phone.addListener) phone.addListener(layout);

    renderAll();
    queueChanged();
    save();

    api.open = open;
    api.close = close;
    api.reset = reset;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
