/* SLA countdowns (ticket page side panel, inbox "Next breach"): every [data-sla-timer] is ticked every
   30 s (or the page's data-sla-tick milliseconds, on <body> or any ancestor of the timers). The due time
   is the datetime attribute of the <time> inside the timer, the warning time its data-sla-warn; each tick
   rewrites the countdown ("in 42 min", "3 h 5 min overdue"), the badge's words and the state class
   (sla-ok, sla-warn, sla-breached). The countdown is aria-live="off": nothing is announced.
   The sentences match helpline/domains/tickets/sla_display.py. window.helplineSla.tick(nowMs) runs one
   tick at once (tests; nowMs defaults to the real time). */
(function () {
  "use strict";
  var WORDS = { ok: "active", warn: "at risk", breached: "breached" };
  var ICONS = { ok: "\u25F7", warn: "\u25B2", breached: "\u2715" };

  function span(seconds) {
    var minutes = Math.floor(Math.abs(seconds) / 60);
    if (minutes < 1) return "less than 1 min";
    if (minutes < 60) return minutes + " min";
    var hours = Math.floor(minutes / 60), mins = minutes % 60;
    if (hours < 24) return mins ? hours + " h " + mins + " min" : hours + " h";
    var days = Math.floor(hours / 24);
    hours = hours % 24;
    return hours ? days + " d " + hours + " h" : days + " d";
  }

  function countdown(dueMs, nowMs) {
    var left = (dueMs - nowMs) / 1000;
    return left > 0 ? "in " + span(left) : span(left) + " overdue";
  }

  function tickOne(el, nowMs) {
    var time = el.querySelector("time[datetime]");
    var due = time ? Date.parse(time.getAttribute("datetime")) : NaN;
    if (isNaN(due)) return;
    var warnAttr = el.getAttribute("data-sla-warn");
    var warn = warnAttr ? Date.parse(warnAttr) : NaN;
    var state = "ok";
    if (el.hasAttribute("data-sla-breached")) {
      // Missed (the sweep said so): overdue at least since it was marked.
      var marked = Date.parse(el.getAttribute("data-sla-breached") || "");
      nowMs = Math.max(nowMs, isNaN(marked) ? due : marked);
    }
    if (nowMs >= due || el.hasAttribute("data-sla-missed")) state = "breached";
    else if (!isNaN(warn) && nowMs >= warn) state = "warn";
    var text = countdown(due, nowMs);
    var out = el.querySelector(".sla-countdown");
    if (out && out.textContent !== text) out.textContent = text;
    if (!el.classList.contains("sla-" + state)) {
      el.classList.remove("sla-ok", "sla-warn", "sla-breached");
      el.classList.add("sla-" + state);
      var word = el.querySelector(".sla-word"), icon = el.querySelector(".sla-icon");
      if (word) word.textContent = WORDS[state];
      if (icon) icon.textContent = ICONS[state];
    }
  }

  function tick(nowMs) {
    var now = typeof nowMs === "number" ? nowMs : Date.now();
    var timers = document.querySelectorAll("[data-sla-timer]");
    for (var i = 0; i < timers.length; i++) tickOne(timers[i], now);
  }

  function interval() {
    var holder = document.querySelector("[data-sla-tick]");
    var ms = holder ? parseInt(holder.getAttribute("data-sla-tick"), 10) : NaN;
    return ms > 0 ? ms : 30000;
  }

  var timer = null;
  function start() {
    if (timer !== null) clearInterval(timer);
    tick();
    timer = setInterval(tick, interval());
  }

  window.helplineSla = { tick: tick, start: start, countdown: countdown };
  document.addEventListener("DOMContentLoaded", start);
  // The list pane is refreshed by htmx: tick its new rows at once.
  document.addEventListener("htmx:afterSettle", function () { tick(); });
})();
