// Suggested help-centre articles while a customer types a request (the portal's new-request form).
// Hooked by data attributes, no inline script (CSP script-src 'self'):
//   <div data-kb-suggest="/help/SLUG/LOCALE/suggest" data-kb-events="/api/v1/help/SLUG/events"
//        data-kb-fields="f-subject f-body" aria-live="polite"></div>
// Every step is counted for the insights page: suggestions shown (by the server), an article opened,
// "This solved my problem" (the request form goes away), the request submitted, or the page left
// without a request after suggestions were shown ("abandoned").
(function () {
  "use strict";
  var box = document.querySelector("[data-kb-suggest]");
  if (!box) { return; }
  var url = box.getAttribute("data-kb-suggest");
  var events = box.getAttribute("data-kb-events");
  var fields = (box.getAttribute("data-kb-fields") || "").split(/\s+/).map(function (id) {
    return document.getElementById(id);
  }).filter(Boolean);
  var form = box.closest("form") || (fields[0] && fields[0].form);
  var bytes = new Uint8Array(8);
  window.crypto.getRandomValues(bytes);
  var visit = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  var timer = null, last = "", shown = false, done = false, seq = 0;

  function send(kind, articleId) {
    var body = JSON.stringify({ visit: visit, kind: kind, source: "portal", article_id: articleId || null });
    if (kind === "abandoned" && navigator.sendBeacon) {
      navigator.sendBeacon(events, new Blob([body], { type: "application/json" }));
      return;
    }
    fetch(events, { method: "POST", headers: { "Content-Type": "application/json" }, body: body,
      credentials: "same-origin", keepalive: true }).catch(function () {});
  }

  function text() {
    return fields.map(function (f) { return f.value; }).join(" ").trim().slice(0, 500);
  }

  function update() {
    var q = text();
    if (q.length < 3 || q === last || done) { return; }
    last = q;
    var mine = ++seq;
    fetch(url + "?source=portal&visit=" + visit + "&q=" + encodeURIComponent(q), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (mine !== seq || done) { return; }
        box.innerHTML = html;  // server-rendered and escaped; this CSP runs no script from it
        if (box.querySelector("li")) { shown = true; }
      }).catch(function () {});
  }

  fields.forEach(function (f) {
    f.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(update, 350);
    });
  });

  box.addEventListener("click", function (e) {
    var open = e.target.closest("[data-kb-open]");
    if (open) { send("opened", parseInt(open.getAttribute("data-kb-open"), 10)); return; }
    var solved = e.target.closest("[data-kb-solved]");
    if (!solved) { return; }
    done = true;
    send("solved", parseInt(solved.getAttribute("data-kb-solved"), 10));
    var note = document.createElement("div");
    note.className = "flash kb-solved";
    note.setAttribute("role", "status");
    note.textContent = "Glad that helped. You do not need to submit a request.";
    if (form) {
      form.hidden = true;
      form.parentNode.insertBefore(note, form);
    } else {
      box.parentNode.insertBefore(note, box);
    }
    note.setAttribute("tabindex", "-1");
    note.focus();
  });

  if (form) {
    form.addEventListener("submit", function () { done = true; send("submitted"); });
  }
  window.addEventListener("pagehide", function () {
    if (shown && !done) { done = true; send("abandoned"); }
  });
})();
