/* Helpline console behaviour. No inline script anywhere: every hook is a data- attribute.
   Pages work without this file; it adds shortcuts, live refresh, presence and warnings. */
(function () {
  "use strict";
  var csrf = function () { return document.body.getAttribute("data-csrf") || ""; };
  var typing = function (el) {
    var t = el && el.tagName;
    return t === "INPUT" || t === "TEXTAREA" || t === "SELECT" || (el && el.isContentEditable);
  };

  /* --- keyboard shortcuts ------------------------------------------------------------------- */
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-ticket-row]")); }
  function visible(el) { return !!(el && el.offsetParent !== null); }
  function select(i) {
    var all = rows(); if (!all.length || !visible(all[0])) return;
    i = Math.max(0, Math.min(all.length - 1, i));
    all.forEach(function (r, j) { r.classList.toggle("selected", j === i); r.setAttribute("aria-selected", j === i ? "true" : "false"); });
    var link = all[i].querySelector("a"); if (link) link.focus();
  }
  function current() {
    var all = rows(), i = all.findIndex(function (r) { return r.classList.contains("selected"); });
    return i >= 0 ? i : all.findIndex(function (r) { return r.hasAttribute("data-current"); });
  }
  function toggleHelp(show) {
    var d = document.getElementById("shortcut-help"); if (!d) return;
    d.hidden = show === undefined ? !d.hidden : !show;
    if (!d.hidden) { var b = d.querySelector("button"); if (b) b.focus(); }
  }
  function composer(mode) {
    var radio = document.querySelector('[name="public"][value="' + (mode === "note" ? "false" : "true") + '"]');
    if (radio) radio.checked = true;
    var box = document.getElementById("composer-body"); if (box) box.focus();
  }
  function follow(selector) {
    var a = document.querySelector(selector);
    if (a) { window.location.href = a.href; return true; }
    return false;
  }
  function submit(form) { if (form.requestSubmit) form.requestSubmit(); else form.submit(); }
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      toggleHelp(false);
      if (typing(e.target)) e.target.blur();
      return;
    }
    // Ctrl/Cmd+Enter sends the composer; Enter on a choice of the properties saves them.
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.closest && e.target.closest("[data-submit-shortcut]")) {
      submit(e.target.closest("form")); e.preventDefault(); return;
    }
    if (e.key === "Enter" && e.target.tagName === "SELECT" && e.target.closest("[data-submit-on-enter]")) {
      submit(e.target.closest("form")); e.preventDefault(); return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    switch (e.key) {
      case "j": select(current() + 1); e.preventDefault(); break;
      case "k": select(current() < 0 ? 0 : current() - 1); e.preventDefault(); break;
      case "J": if (follow("[data-next-ticket]")) e.preventDefault(); break;
      case "K": if (follow("[data-prev-ticket]")) e.preventDefault(); break;
      case "o": case "Enter":
        if (current() >= 0 && e.key === "o") { var a = rows()[current()].querySelector("a"); if (a) a.click(); }
        break;
      case "r": if (document.getElementById("composer-body")) { composer("reply"); e.preventDefault(); } break;
      case "n": if (document.getElementById("composer-body")) { composer("note"); e.preventDefault(); } break;
      case "a": var s = document.getElementById("f-assignee_id"); if (s) { s.focus(); e.preventDefault(); } break;
      case "z": var z = document.getElementById("snooze-for"); if (z) { z.focus(); e.preventDefault(); } break;
      case "/": var q = document.querySelector("[data-shortcut='/']"); if (q) { q.focus(); e.preventDefault(); } break;
      case "?": toggleHelp(); e.preventDefault(); break;
    }
  });
  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-close-dialog]")) toggleHelp(false);
  });
  // The open ticket's row stays in view in the list pane.
  var here = document.querySelector("[data-current]");
  if (here && here.scrollIntoView) here.scrollIntoView({ block: "nearest" });

  /* --- a table that scrolls sideways on a narrow screen can be scrolled from the keyboard ---------- */
  function scrollables() {
    document.querySelectorAll(".table, .table-scroll, .table-wrap").forEach(function (t) {
      if (t.scrollWidth > t.clientWidth + 1) { if (!t.hasAttribute("tabindex")) t.setAttribute("tabindex", "0"); }
      else if (t.getAttribute("tabindex") === "0") t.removeAttribute("tabindex");
    });
  }
  scrollables();
  window.addEventListener("resize", scrollables);

  /* --- bulk selection: "select all" box ------------------------------------------------------ */
  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-select-all]")) {
      document.querySelectorAll("[name='ticket_ids']").forEach(function (b) { b.checked = e.target.checked; });
    }
  });

  /* --- canned responses: insert the rendered text at the cursor ------------------------------ */
  document.addEventListener("change", function (e) {
    var sel = e.target.closest("[data-canned]"); if (!sel || !sel.value) return;
    var url = sel.getAttribute("data-canned") + "?id=" + encodeURIComponent(sel.value);
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : ""; }).then(function (text) {
      var box = document.getElementById("composer-body"); if (!box || !text) return;
      var at = box.selectionStart || box.value.length;
      box.value = box.value.slice(0, at) + text + box.value.slice(at);
      box.focus(); sel.value = "";
    });
  });

  /* --- live updates over server-sent events --------------------------------------------------- */
  function listen(url, onEvent) {
    if (!window.EventSource) return null;
    var es = new EventSource(url, { withCredentials: true });
    es.onmessage = function (m) { try { onEvent(JSON.parse(m.data)); } catch (err) { /* ignore */ } };
    return es;
  }
  var list = document.querySelector("[data-live-list]");
  var pending = null;
  var refreshList = function () {
    if (!list || pending) return;
    pending = setTimeout(function () {
      pending = null;
      if (window.htmx) window.htmx.trigger(list, "refresh");
    }, 400);
  };
  // Beside a ticket, the ticket's own stream carries the list's changes too (one stream per page).
  if (list && !document.querySelector("[data-presence]")) listen(list.getAttribute("data-live-list"), refreshList);

  /* --- presence: who else is viewing or typing on this ticket -------------------------------- */
  var pres = document.querySelector("[data-presence]");
  if (pres) {
    var base = pres.getAttribute("data-presence");
    var me = pres.getAttribute("data-me");
    var state = "viewing", lastSent = 0;
    var beat = function (s) {
      state = s || state; lastSent = Date.now();
      var body = new URLSearchParams({ state: state, csrf_token: csrf() });
      fetch(base, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } });
    };
    var others = {};
    var draw = function () {
      var now = Date.now(), names = [];
      Object.keys(others).forEach(function (k) {
        var o = others[k];
        if (now - o.at > 30000) { delete others[k]; return; }
        names.push(o.name + (o.state === "typing" ? " (typing…)" : " (viewing)"));
      });
      pres.textContent = names.length ? "Also here: " + names.join(", ") : "";
    };
    listen(base, function (ev) {
      if (ev.kind === "presence" && String(ev.user_id) !== me) {
        if (ev.state === "left") delete others[ev.user_id]; else others[ev.user_id] = { name: ev.name, state: ev.state, at: Date.now() };
        draw();
      } else if (ev.kind === "message" || ev.kind === "changed") {
        refreshList();
        if (ev.kind === "message" && String(ev.author_user_id) !== me) {
          var warn = document.getElementById("new-message-warning");
          if (warn) warn.hidden = false;
        }
      }
    });
    beat("viewing");
    setInterval(function () { beat(); draw(); }, 10000);
    var box = document.getElementById("composer-body");
    if (box) box.addEventListener("input", function () {
      if (state !== "typing" || Date.now() - lastSent > 5000) beat("typing");
      clearTimeout(box._idle);
      box._idle = setTimeout(function () { beat("viewing"); }, 12000);
    });
    window.addEventListener("pagehide", function () {
      navigator.sendBeacon && navigator.sendBeacon(base, new URLSearchParams({ state: "left", csrf_token: csrf() }));
    });
  }
})();
