/* The ticket composer: drafts saved as you type (server-side, so another device gets them back),
   canned responses inserted at the cursor, and @mentions of colleagues in internal notes.
   No inline script: hooks are data- attributes of tickets/_composer.html. Without this file the
   composer still posts; the draft is then kept only when sending fails. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-draft]");
  var box = document.getElementById("composer-body");
  if (!form || !box) return;
  var csrf = function () { return document.body.getAttribute("data-csrf") || ""; };
  var status = form.querySelector("[data-draft-status]");
  var mode = function () { var r = form.querySelector('[name="public"]:checked'); return r ? r.value : "false"; };

  /* --- drafts ------------------------------------------------------------------------------ */
  var timer = null, lastSaved = box.value + "\u0000" + mode(), sending = false;
  function save() {
    timer = null;
    var key = box.value + "\u0000" + mode();
    if (key === lastSaved || sending) return;
    var body = new URLSearchParams({ body: box.value, public: mode(), csrf_token: csrf() });
    fetch(form.getAttribute("data-draft"), {
      method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() }
    }).then(function (r) {
      if (r.ok) { lastSaved = key; if (status) status.textContent = box.value.trim() ? " Draft saved." : " Draft discarded."; }
    });
  }
  function later() { if (status) status.textContent = ""; clearTimeout(timer); timer = setTimeout(save, 700); }
  box.addEventListener("input", later);
  form.addEventListener("change", function (e) { if (e.target.name === "public") later(); });
  form.addEventListener("submit", function () { sending = true; clearTimeout(timer); });
  window.addEventListener("pagehide", function () { if (timer) { clearTimeout(timer); save(); } });

  /* --- canned responses: at the cursor, a second one on a new line ------------------------- */
  function insert(text) {
    var start = typeof box.selectionStart === "number" ? box.selectionStart : box.value.length;
    var end = typeof box.selectionEnd === "number" ? box.selectionEnd : start;
    var before = box.value.slice(0, start), after = box.value.slice(end);
    if (before && !/\n$/.test(before)) text = "\n" + text;
    if (after && !/^\n/.test(after) && !/\n$/.test(text)) text = text + "\n";
    box.value = before + text + after;
    var at = before.length + text.length;
    box.focus();
    box.setSelectionRange(at, at);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }
  var canned = form.querySelector("[data-canned-insert]");
  if (canned) {
    canned.addEventListener("change", function () {
      if (!canned.value) return;
      var url = canned.getAttribute("data-canned-insert") + "?id=" + encodeURIComponent(canned.value);
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : ""; }).then(function (text) {
        if (text) insert(text);
        canned.value = "";
      });
    });
  }

  /* --- @mentions in internal notes ---------------------------------------------------------- */
  var list = document.getElementById("mention-list");
  if (!list) return;
  var options = Array.prototype.slice.call(list.querySelectorAll("[role=option]"));
  var shown = [], active = -1, query = null;
  function close() { list.hidden = true; shown = []; active = -1; query = null; box.removeAttribute("aria-activedescendant"); }
  function highlight(i) {
    active = i;
    shown.forEach(function (o, j) { o.setAttribute("aria-selected", j === i ? "true" : "false"); o.classList.toggle("active", j === i); });
    if (shown[i]) box.setAttribute("aria-activedescendant", shown[i].id);
  }
  function open() {
    if (mode() !== "false") { close(); return; }
    var before = box.value.slice(0, box.selectionStart || 0);
    var m = /(^|\s)@([^\s@]*(?: [^\s@]*)?)$/.exec(before);
    if (!m) { close(); return; }
    query = m[2];
    var q = query.toLowerCase();
    shown = options.filter(function (o) {
      var match = o.getAttribute("data-name").toLowerCase().indexOf(q) === 0;
      o.hidden = !match; return match;
    });
    if (!shown.length) { close(); return; }
    list.hidden = false;
    highlight(0);
  }
  function pick(option) {
    var at = box.selectionStart || 0;
    var start = at - query.length - 1;
    var name = option.getAttribute("data-name");
    box.value = box.value.slice(0, start) + "@" + name + " " + box.value.slice(at);
    var to = start + name.length + 2;
    box.setSelectionRange(to, to);
    close();
    box.focus();
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }
  box.addEventListener("input", open);
  box.addEventListener("click", open);
  box.addEventListener("keydown", function (e) {
    if (list.hidden) return;
    if (e.key === "ArrowDown") { highlight((active + 1) % shown.length); e.preventDefault(); }
    else if (e.key === "ArrowUp") { highlight((active - 1 + shown.length) % shown.length); e.preventDefault(); }
    else if (e.key === "Enter" || e.key === "Tab") { if (shown[active]) { pick(shown[active]); e.preventDefault(); } }
    else if (e.key === "Escape") { close(); e.preventDefault(); e.stopPropagation(); }
  });
  list.addEventListener("mousedown", function (e) {
    var o = e.target.closest("[role=option]"); if (o) { e.preventDefault(); pick(o); }
  });
  box.addEventListener("blur", function () { setTimeout(close, 150); });
})();
