/* The console's chat pages, live: one WebSocket to /chat/agent/ws (same origin, session cookie).
 * /chats refreshes its lists on queue changes; /chats/{id} follows the conversation from the last
 * sequence number rendered by the server, sends replies and notes with client ids, typing and read
 * receipts. Without JavaScript the same pages work with plain forms. */
(function () {
  "use strict";
  var lists = document.querySelector("[data-chat-lists]");
  var chat = document.querySelector("[data-chat]");
  if (!lists && !chat) return;
  var ticket = chat ? +chat.getAttribute("data-ticket") : 0;
  var last = chat ? +chat.getAttribute("data-last-seq") : 0;
  var visitorRead = chat ? +chat.getAttribute("data-visitor-read") : 0;
  var visitorName = (chat && chat.getAttribute("data-visitor-name")) || "Visitor";
  var zone = (chat && chat.getAttribute("data-tz")) || undefined;
  var clock = null;
  try { clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: zone }); } catch (err) { clock = null; }
  var log = chat && chat.querySelector("[data-chat-log]");
  var typingEl = chat && chat.querySelector("[data-chat-typing]");
  var seenEl = chat && chat.querySelector("[data-chat-seen]");
  var form = chat && chat.querySelector("[data-chat-form]");
  var stateEl = document.querySelector("[data-chat-state]");
  var sock = null, retry = 0, pending = {}, sentRead = 0, typingAt = 0, typingTimer = null, refreshTimer = null;

  function cid() { return "a" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }
  function send(f) { if (sock && sock.readyState === 1) { sock.send(JSON.stringify(f)); return true; } return false; }

  function item(m) {
    var li = document.createElement("li");
    li.className = "chat-msg from-" + m.from + (m.public === false ? " note" : "");
    li.setAttribute("data-seq", String(m.seq));
    if (m.pseq) li.setAttribute("data-pseq", String(m.pseq));
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = (m.from === "visitor" ? visitorName : m.from === "system" ? "Helpline" : m.name) + (m.public === false ? " (internal note)" : "");
    var at = document.createElement("time");
    at.className = "at";
    var when = m.at ? new Date(m.at) : new Date();
    at.setAttribute("datetime", when.toISOString());
    at.textContent = clock ? clock.format(when) : when.toISOString().slice(11, 16);
    var body = document.createElement("span");
    body.className = "body";
    body.textContent = m.body;
    li.appendChild(who); li.appendChild(at); li.appendChild(body);
    (m.files || []).forEach(function (f) { var s = document.createElement("span"); s.className = "file"; s.textContent = f.name; li.appendChild(s); });
    return li;
  }
  function seen() {
    if (!seenEl) return;
    var mine = log.querySelectorAll("li.from-agent[data-pseq]");
    var top = mine.length ? +mine[mine.length - 1].getAttribute("data-pseq") : 0;
    seenEl.textContent = top && visitorRead >= top ? "Seen by the visitor" : "";
  }
  function markRead() {
    if (!chat || document.hidden) return;
    var theirs = log.querySelectorAll("li.from-visitor[data-pseq]");
    var top = theirs.length ? +theirs[theirs.length - 1].getAttribute("data-pseq") : 0;
    if (top > sentRead && send({ t: "read", ticket: ticket, seq: top })) sentRead = top;
  }
  function refreshLists() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      fetch("/chats", { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("[data-chat-lists]");
        if (fresh && lists) lists.replaceChildren.apply(lists, Array.prototype.slice.call(fresh.childNodes));
      });
    }, 150);
  }
  function handle(f) {
    switch (f.t) {
      case "welcome": if (chat) send({ t: "sub", ticket: ticket, after: last }); break;
      case "msg":
        if (f.ticket !== ticket || f.seq <= last) break;
        last = f.seq;
        if (f.cid && pending[f.cid]) { pending[f.cid].parentNode && pending[f.cid].parentNode.removeChild(pending[f.cid]); delete pending[f.cid]; }
        log.appendChild(item(f));
        if (f.from === "visitor") { typingEl.textContent = ""; markRead(); }
        seen();
        break;
      case "typing": if (f.by === "visitor" && typingEl) typingEl.textContent = f.on ? "The visitor is typing…" : ""; break;
      case "read": if (f.by === "visitor") { visitorRead = Math.max(visitorRead, f.seq); seen(); } break;
      case "state": if (stateEl) stateEl.textContent = f.state; break;
      case "queue": case "chat": case "assigned": case "accepted": case "transferred": case "ended": case "agent":
        if (lists) refreshLists(); break;
      case "error": if (typingEl) typingEl.textContent = f.detail || "Something went wrong"; break;
    }
  }
  function connect() {
    sock = new WebSocket(location.origin.replace(/^http/, "ws") + "/chat/agent/ws");
    sock.onopen = function () { retry = 0; };
    sock.onmessage = function (ev) { try { handle(JSON.parse(ev.data)); } catch (e) { /* ignore */ } };
    sock.onclose = function (ev) {
      sock = null;
      if (ev.code === 4403) return;
      // Signed out or deactivated: the page itself now sends the agent to sign in.
      if (ev.code === 4401) { location.reload(); return; }
      // Role or groups changed: connect again at once, with the new rights.
      if (ev.code === 4409) { retry = 0; connect(); return; }
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 250 * Math.pow(2, retry - 1));
    };
  }
  if (form) {
    var box = form.querySelector("textarea[name=body]"), note = form.querySelector("input[name=note]");
    form.addEventListener("submit", function (ev) {
      var text = box.value.trim();
      if (!text || !sock || sock.readyState !== 1) return; // no socket: the plain form posts
      ev.preventDefault();
      var id = cid();
      var li = item({ from: "agent", name: "You", body: text, seq: 0, public: !(note && note.checked) });
      li.classList.add("pending");
      log.appendChild(li);
      pending[id] = li;
      send({ t: "msg", ticket: ticket, cid: id, body: text, note: !!(note && note.checked) });
      send({ t: "typing", ticket: ticket, on: false });
      box.value = "";
      if (note) note.checked = false;
    });
    box.addEventListener("input", function () {
      if (Date.now() - typingAt > 2000) { typingAt = Date.now(); send({ t: "typing", ticket: ticket, on: true }); }
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { typingAt = 0; send({ t: "typing", ticket: ticket, on: false }); }, 3000);
    });
    box.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
    });
  }
  document.addEventListener("visibilitychange", markRead);
  if (chat) { seen(); }
  connect();
})();
