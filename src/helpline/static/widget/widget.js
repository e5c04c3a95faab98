/* Helpline chat widget. One tag on any page:
 *   <script src="https://help.example/widget.js" data-widget="KEY" async></script>
 * Optional: data-lang, data-user-id + data-user-hash (HMAC-SHA256 of the user id with the widget's
 * identity secret, computed by the host site's server), data-user-name, data-user-email.
 * No inline script or style: the UI lives in a shadow root styled by widget.css from the same server,
 * so it runs on a page with a strict Content-Security-Policy. Vanilla JavaScript, no dependencies. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-widget]");
  if (!script || window.__helplineChat) return;
  window.__helplineChat = true;
  var BASE = new URL(script.src, location.href).origin;
  var KEY = script.getAttribute("data-widget") || "";
  var STORE = "helpline-chat:" + KEY;
  var STRINGS = {
    en: { open: "Chat with us", close: "Close chat", title: "Chat", send: "Send", message: "Message",
      start: "Start chat", typing: "is typing…", agentTyping: "Agent is typing…", seen: "Seen",
      queue: "You are number {n} in the queue (about {m} min).", connected: "{name} joined the chat.",
      ended: "The chat has ended. We will follow up by email if needed.", offline: "We are away right now. Leave a message and we will answer by email.",
      leave: "Send message", sent: "Thanks! We will answer by email.", file: "Attach a file", end: "End chat",
      reconnecting: "Reconnecting…", you: "You", newMessage: "New message", name: "Name", email: "Email",
      required: "Please fill in {f}.", error: "Something went wrong. Please try again.", sending: "Sending…",
      suggested: "These articles may answer your question", solved: "This solved my problem",
      glad: "Glad that helped! You can close this window.", bot: "Answer bot", thinking: "Looking for an answer…",
      helped: "Yes, that answers it", human: "Talk to a person", readMore: "Read the article: {title}" },
    fr: { open: "Discuter avec nous", close: "Fermer", title: "Discussion", send: "Envoyer", message: "Message",
      start: "Commencer", typing: "écrit…", agentTyping: "Un agent écrit…", seen: "Vu",
      queue: "Vous êtes n° {n} dans la file (environ {m} min).", connected: "{name} a rejoint la discussion.",
      ended: "La discussion est terminée.", offline: "Nous sommes absents. Laissez un message, nous répondrons par e-mail.",
      leave: "Envoyer le message", sent: "Merci ! Nous répondrons par e-mail.", file: "Joindre un fichier", end: "Terminer",
      reconnecting: "Reconnexion…", you: "Vous", newMessage: "Nouveau message", name: "Nom", email: "E-mail",
      required: "Veuillez remplir {f}.", error: "Une erreur est survenue.", sending: "Envoi…",
      suggested: "Ces articles répondent peut-être à votre question", solved: "Cela a résolu mon problème",
      glad: "Tant mieux ! Vous pouvez fermer cette fenêtre.", bot: "Assistant", thinking: "Recherche d’une réponse…",
      helped: "Oui, cela répond à ma question", human: "Parler à une personne", readMore: "Lire l’article : {title}" },
    de: { open: "Chatten Sie mit uns", close: "Chat schließen", title: "Chat", send: "Senden", message: "Nachricht",
      start: "Chat starten", typing: "schreibt…", agentTyping: "Ein Mitarbeiter schreibt…", seen: "Gelesen",
      queue: "Sie sind Nummer {n} in der Warteschlange (etwa {m} Min.).", connected: "{name} ist dem Chat beigetreten.",
      ended: "Der Chat ist beendet.", offline: "Wir sind gerade nicht da. Hinterlassen Sie eine Nachricht.",
      leave: "Nachricht senden", sent: "Danke! Wir antworten per E-Mail.", file: "Datei anhängen", end: "Chat beenden",
      reconnecting: "Verbinde neu…", you: "Sie", newMessage: "Neue Nachricht", name: "Name", email: "E-Mail",
      required: "Bitte {f} ausfüllen.", error: "Etwas ist schiefgegangen.", sending: "Wird gesendet…",
      suggested: "Diese Artikel beantworten vielleicht Ihre Frage", solved: "Das hat mein Problem gelöst",
      glad: "Schön, dass es geholfen hat! Sie können dieses Fenster schließen.", bot: "Antwort-Assistent",
      thinking: "Suche nach einer Antwort…", helped: "Ja, das beantwortet meine Frage", human: "Mit einer Person sprechen",
      readMore: "Artikel lesen: {title}" }
  };

  function load() { try { return JSON.parse(localStorage.getItem(STORE) || "{}"); } catch (e) { return {}; } }
  var saved = load();
  var state = { token: saved.token || null, last: saved.last || 0, pending: saved.pending || [], chat: null,
    online: false, config: null, open: !!saved.open, unread: 0, mode: "ws", sock: null, retry: 0,
    fails: 0, myMsgs: {}, readSeq: 0, typingSent: 0, typingTimer: null, polling: false, queue: null, queueText: "",
    visit: null, shown: false, deflected: false, asked: false, botOpen: false, suggestSeq: 0, suggestTimer: null, lastQ: "" };
  function persist() {
    try { localStorage.setItem(STORE, JSON.stringify({ token: state.token, last: state.last, pending: state.pending, open: state.open })); } catch (e) { /* private mode */ }
  }
  var lang = (script.getAttribute("data-lang") || navigator.language || "en").slice(0, 2).toLowerCase();
  function t(key, vars) {
    var cfg = state.config || {}, texts = cfg.texts || {};
    var s = (texts[lang] && texts[lang][key]) || (STRINGS[lang] && STRINGS[lang][key]) ||
      (texts[cfg.locale] && texts[cfg.locale][key]) || STRINGS.en[key] || key;
    for (var k in vars || {}) s = s.split("{" + k + "}").join(vars[k]);
    return s;
  }
  function el(tag, attrs, kids) {
    var n = document.createElement(tag);
    for (var a in attrs || {}) {
      if (a === "text") n.textContent = attrs[a];
      else if (a.slice(0, 2) === "on") n.addEventListener(a.slice(2), attrs[a]);
      else n.setAttribute(a, attrs[a]);
    }
    (kids || []).forEach(function (c) { if (c) n.appendChild(c); });
    return n;
  }
  function cid() {
    var a = new Uint8Array(12); (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function user() {
    var id = script.getAttribute("data-user-id");
    if (!id) return null;
    return { id: id, hash: script.getAttribute("data-user-hash") || "", name: script.getAttribute("data-user-name") || "",
      email: script.getAttribute("data-user-email") || "" };
  }

  // --- the UI, in a shadow root ------------------------------------------------------------------
  var host = el("div", { id: "helpline-chat", "data-helpline-chat": "" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.appendChild(el("link", { rel: "stylesheet", href: BASE + "/static/widget/widget.css" }));
  var launcher = el("button", { type: "button", class: "launcher", "aria-expanded": "false", part: "launcher" });
  var badge = el("span", { class: "badge", hidden: "" });
  launcher.appendChild(el("span", { class: "label" }));
  launcher.appendChild(badge);
  var panel = el("div", { class: "panel", role: "dialog", hidden: "" });
  var head = el("div", { class: "head" });
  var logo = el("img", { class: "logo", alt: "", hidden: "" });
  var titleEl = el("h2", { class: "title", id: "hl-title" });
  var closeBtn = el("button", { type: "button", class: "x" });
  head.appendChild(logo); head.appendChild(titleEl); head.appendChild(closeBtn);
  var status = el("p", { class: "status", "aria-live": "polite" });
  var log = el("ol", { class: "log", "aria-live": "polite", "aria-relevant": "additions" });
  var typingEl = el("p", { class: "typing", "aria-live": "polite" });
  var body = el("div", { class: "body" });
  var composer = el("form", { class: "composer", hidden: "" });
  var input = el("textarea", { rows: "2", id: "hl-input", maxlength: "4000" });
  var fileIn = el("input", { type: "file", id: "hl-file", class: "file" });
  var fileLbl = el("label", { for: "hl-file", class: "attach" });
  var sendBtn = el("button", { type: "submit", class: "send" });
  var inputLbl = el("label", { for: "hl-input", class: "sr" });
  var endBtn = el("button", { type: "button", class: "end" });
  composer.appendChild(inputLbl); composer.appendChild(input); composer.appendChild(fileLbl); composer.appendChild(fileIn);
  composer.appendChild(sendBtn);
  var form = el("form", { class: "prechat", hidden: "" });
  body.appendChild(status); body.appendChild(log); body.appendChild(typingEl); body.appendChild(form);
  panel.appendChild(head); panel.appendChild(body); panel.appendChild(composer); panel.appendChild(endBtn);
  panel.setAttribute("aria-labelledby", "hl-title");
  root.appendChild(launcher); root.appendChild(panel);

  function label() {
    launcher.querySelector(".label").textContent = t("open");
    launcher.setAttribute("aria-label", t("open"));
    titleEl.textContent = (state.config && state.config.name) || t("title");
    closeBtn.textContent = "×"; closeBtn.setAttribute("aria-label", t("close"));
    sendBtn.textContent = t("send"); inputLbl.textContent = t("message"); fileLbl.textContent = t("file");
    endBtn.textContent = t("end");
  }
  function theme(cfg) {
    var th = cfg.theme || {};
    if (/^#[0-9a-fA-F]{6}$/.test(th.colour || "")) host.style.setProperty("--hl-accent", th.colour);
    host.className = th.position === "left" ? "left" : "right";
    root.host && root.host.setAttribute("data-position", th.position === "left" ? "left" : "right");
    panel.classList.toggle("left", th.position === "left");
    launcher.classList.toggle("left", th.position === "left");
    if (th.logo_url && /^https:\/\//.test(th.logo_url)) { logo.src = th.logo_url; logo.hidden = false; }
  }
  function show(open) {
    state.open = open; persist();
    panel.hidden = !open; launcher.setAttribute("aria-expanded", String(open));
    if (open) { state.unread = 0; badge.hidden = true; render(); markRead(); (composer.hidden ? form.querySelector("input,textarea") : input) && (composer.hidden ? form.querySelector("input,textarea") : input).focus(); }
  }
  launcher.addEventListener("click", function () { show(panel.hidden); });
  closeBtn.addEventListener("click", function () { show(false); launcher.focus(); });

  function line(m) {
    var mine = m.from === "visitor";
    var li = el("li", { class: "msg " + (mine ? "mine" : m.from), "data-seq": String(m.seq || "") });
    var who = mine ? t("you") : (m.name || (m.from === "agent" ? "" : ""));
    if (who) li.appendChild(el("span", { class: "who", text: who }));
    li.appendChild(el("span", { class: "text", text: m.body || "" }));
    (m.files || []).forEach(function (f) { li.appendChild(el("span", { class: "file", text: "📎 " + f.name })); });
    if (m.cid) li.setAttribute("data-cid", m.cid);
    return li;
  }
  function add(m) {
    if (m.cid && log.querySelector('[data-cid="' + m.cid + '"]')) {
      var p = log.querySelector('[data-cid="' + m.cid + '"]');
      p.classList.remove("pending"); p.setAttribute("data-seq", String(m.seq));
    } else log.appendChild(line(m));
    if (m.from === "visitor") state.myMsgs[m.seq] = true;
    log.scrollTop = log.scrollHeight;
    seen();
  }
  function seen() {
    var old = log.querySelector(".seen"); if (old) old.parentNode.removeChild(old);
    var mine = log.querySelectorAll("li.mine[data-seq]"), lastMine = null;
    for (var i = 0; i < mine.length; i++) if (+mine[i].getAttribute("data-seq") <= state.readSeq) lastMine = mine[i];
    if (lastMine) lastMine.appendChild(el("span", { class: "seen", text: t("seen") }));
  }
  function render() {
    label();
    var chat = state.chat;
    if (chat && chat.state !== "ended") { form.hidden = true; form.textContent = ""; form.removeAttribute("data-built"); composer.hidden = false; endBtn.hidden = false; }
    else { composer.hidden = true; endBtn.hidden = true; prechat(); }
  }
  function prechat() {
    if (state.botOpen) { form.hidden = true; return; }  // the visitor is reading the bot's answer
    if (form.getAttribute("data-built") === (state.online ? "chat" : "offline")) { form.hidden = false; return; }
    form.textContent = ""; state.asked = false; state.deflected = false; state.lastQ = "";
    form.setAttribute("data-built", state.online ? "chat" : "offline");
    var cfg = state.config || {};
    form.appendChild(el("p", { class: "greeting", text: state.online ? (cfg.greeting || "") : t("offline") }));
    var fields = (cfg.fields || []).slice();
    if (!state.online && !fields.some(function (f) { return f.name === "email"; })) fields.push({ name: "email", label: t("email"), type: "email", required: true });
    var u = user();
    fields.forEach(function (f) {
      if (u && (f.name === "name" || f.name === "email") && u[f.name]) return;
      var id = "hl-f-" + f.name, req = f.required || (!state.online && f.name === "email");
      form.appendChild(el("label", { for: id, text: (f.label || t(f.name)) + (req ? " *" : "") }));
      var attrs = { id: id, name: f.name, type: f.type === "email" ? "email" : "text", autocomplete: f.name === "email" ? "email" : f.name === "name" ? "name" : "off" };
      if (req) attrs.required = "";
      form.appendChild(el(f.type === "textarea" ? "textarea" : "input", attrs));
    });
    form.appendChild(el("label", { for: "hl-first", text: t("message") + " *" }));
    var first = el("textarea", { id: "hl-first", name: "__body", required: "", rows: "3", maxlength: "4000" });
    form.appendChild(first);
    if (cfg.answers) {
      var box = el("div", { class: "suggest", "aria-live": "polite" });
      form.appendChild(box);
      first.addEventListener("input", function () {
        clearTimeout(state.suggestTimer);
        state.suggestTimer = setTimeout(function () { suggest(first.value, box); }, 350);
      });
    }
    form.appendChild(el("button", { type: "submit", class: "send", text: state.online ? t("start") : t("leave") }));
    form.hidden = false;
  }

  // --- deflection: help-centre articles and the answer bot before a person -------------------------
  function visit() { if (!state.visit) state.visit = cid().slice(0, 16); return state.visit; }
  function helpEvent(kind, articleId) {
    fetch(BASE + "/chat/help/events?widget=" + encodeURIComponent(KEY), { method: "POST", keepalive: true,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ visit: visit(), kind: kind, article_id: articleId || null }) }).catch(function () {});
  }
  function marked(html) {
    // The server's excerpt is escaped text with <mark> around matches: rebuild it as nodes, no innerHTML.
    var out = document.createDocumentFragment(), parts = String(html || "").split(/<\/?mark>/);
    parts.forEach(function (p, i) {
      var txt = p.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&#34;|&quot;/g, '"').replace(/&#39;|&#x27;/g, "'").replace(/&amp;/g, "&");
      out.appendChild(i % 2 ? el("mark", { text: txt }) : document.createTextNode(txt));
    });
    return out;
  }
  function articleLink(a) {
    return el("a", { href: BASE + a.url, target: "_blank", rel: "noopener", text: a.title,
      onclick: function () { helpEvent("opened", a.id); } });
  }
  function suggest(q, box) {
    q = q.trim();
    if (q.length < 3 || q === state.lastQ || state.deflected) return;
    state.lastQ = q;
    var mine = ++state.suggestSeq;
    fetch(BASE + "/chat/help/suggest?widget=" + encodeURIComponent(KEY) + "&locale=" + encodeURIComponent(lang) +
      "&visit=" + visit() + "&q=" + encodeURIComponent(q.slice(0, 500)))
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (r) {
        if (mine !== state.suggestSeq || !r) return;
        box.textContent = "";
        if (!r.articles.length) return;
        state.shown = true;
        box.appendChild(el("p", { class: "suggest-title", id: "hl-suggest-title", text: t("suggested") }));
        var list = el("ul", { "aria-labelledby": "hl-suggest-title" });
        r.articles.forEach(function (a) {
          var ex = el("p", { class: "excerpt" }); ex.appendChild(marked(a.excerpt));
          list.appendChild(el("li", { "data-article": String(a.id) }, [articleLink(a), ex,
            el("button", { type: "button", class: "solved", text: t("solved"), onclick: function () { solved(a.id); } })]));
        });
        box.appendChild(list);
      }, function () {});
  }
  function solved(articleId) {
    state.deflected = true; state.botOpen = false; helpEvent("solved", articleId);
    form.textContent = ""; form.removeAttribute("data-built"); form.hidden = true;
    status.textContent = t("glad"); status.setAttribute("tabindex", "-1"); status.focus();
  }
  function ask(data, text) {
    // The answer bot goes first; the visitor can always ask for a person instead.
    state.asked = true; state.botOpen = true; form.hidden = true;
    var mineLi = el("li", { class: "msg mine" }, [el("span", { class: "text", text: text })]);
    log.appendChild(mineLi);
    status.textContent = t("thinking");
    fetch(BASE + "/chat/help/answer?widget=" + encodeURIComponent(KEY), { method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ question: text.slice(0, 2000), locale: /^[a-z]{2}$/.test(lang) ? lang : "en", visit: visit() }) })
      .then(function (r) { return r.ok ? r.json() : null; }, function () { return null; })
      .then(function (r) {
        status.textContent = "";
        // Nothing worth saying: straight to a person (the agent is told only when the visitor asked for one).
        if (!r || r.handover) return handoff(data, text, r && r.reason === "asked_for_human" ? { reason: r.reason } : null, mineLi);
        var a = r.article, actions = el("div", { class: "bot-actions" });
        var li = el("li", { class: "msg bot" }, [el("span", { class: "who", text: t("bot") }),
          el("span", { class: "text", text: r.answer }),
          el("a", { class: "cite", href: BASE + a.url, target: "_blank", rel: "noopener", text: t("readMore", { title: a.title }),
            onclick: function () { helpEvent("opened", a.id); } }), actions]);
        actions.appendChild(el("button", { type: "button", class: "solved", text: t("helped"), onclick: function () {
          actions.parentNode && actions.parentNode.removeChild(actions); solved(a.id); } }));
        actions.appendChild(el("button", { type: "button", class: "human", text: t("human"), onclick: function () {
          actions.parentNode && actions.parentNode.removeChild(actions); helpEvent("handover", a.id);
          handoff(data, text, { reason: "not_helpful", article_id: a.id, locale: lang }, mineLi); } }));
        log.appendChild(li); log.scrollTop = log.scrollHeight;
        actions.querySelector("button").focus();
      });
  }
  function handoff(data, text, bot, mineLi) {
    state.botOpen = false;
    if (!state.online) { if (mineLi) mineLi.parentNode.removeChild(mineLi); form.hidden = false; return offlineSend(data, text); }
    begin(data, text, bot, mineLi);
  }
  function begin(data, text, bot, li) {
    var id = cid();
    state.pending.push({ cid: id, start: true, fields: data, body: text, bot: bot }); persist();
    if (li) { li.classList.add("pending"); li.setAttribute("data-cid", id); }
    else log.appendChild(el("li", { class: "msg mine pending", "data-cid": id }, [el("span", { class: "text", text: text })]));
    if (state.shown) helpEvent("submitted");
    form.hidden = true; flush();
  }
  window.addEventListener("pagehide", function () {
    if (state.shown && !state.deflected && !state.chat) { state.shown = false; helpEvent("abandoned"); }
  });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var data = {}, text = "";
    Array.prototype.forEach.call(form.querySelectorAll("input,textarea"), function (f) {
      if (f.name === "__body") text = f.value; else data[f.name] = f.value;
    });
    if (!text.trim()) { status.textContent = t("required", { f: t("message") }); return; }
    clearTimeout(state.suggestTimer); state.suggestSeq++;  // no suggestion lands after this
    if ((state.config || {}).answers && !state.asked) return ask(data, text);
    if (!state.online) return offlineSend(data, text);
    begin(data, text, null, null);
  });
  function offlineSend(data, text) {
    fetch(BASE + "/chat/offline?widget=" + encodeURIComponent(KEY), { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ fields: data, body: text }) }).then(function (r) {
      status.textContent = r.ok ? t("sent") : t("error");
      if (r.ok) { form.textContent = ""; form.removeAttribute("data-built"); }
    }, function () { status.textContent = t("error"); });
  }
  composer.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    var id = cid();
    state.pending.push({ cid: id, body: text }); persist();
    log.appendChild(el("li", { class: "msg mine pending", "data-cid": id }, [el("span", { class: "text", text: text })]));
    log.scrollTop = log.scrollHeight;
    typing(false); flush();
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); composer.requestSubmit ? composer.requestSubmit() : composer.dispatchEvent(new Event("submit")); }
  });
  input.addEventListener("input", function () {
    if (Date.now() - state.typingSent > 2000) { typing(true); }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(function () { typing(false); }, 3000);
  });
  function typing(on) { state.typingSent = on ? Date.now() : 0; send({ t: "typing", on: on }); }
  endBtn.addEventListener("click", function () { send({ t: "end" }); });
  fileIn.addEventListener("change", function () {
    var f = fileIn.files && fileIn.files[0];
    if (!f || !state.token) return;
    var fd = new FormData(); fd.append("file", f);
    status.textContent = t("sending");
    fetch(BASE + "/chat/upload?widget=" + encodeURIComponent(KEY) + "&token=" + encodeURIComponent(state.token), { method: "POST", body: fd })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r); })
      .then(function (up) {
        status.textContent = "";
        var id = cid(), text = input.value.trim() || f.name;
        input.value = "";
        state.pending.push({ cid: id, body: text, files: [up.token] }); persist();
        log.appendChild(el("li", { class: "msg mine pending", "data-cid": id }, [el("span", { class: "text", text: text }), el("span", { class: "file", text: "📎 " + up.name })]));
        flush();
      }, function () { status.textContent = t("error"); });
    fileIn.value = "";
  });

  // --- notifications -------------------------------------------------------------------------------
  var baseTitle = document.title, audio = null;
  function notify() {
    if (!state.open || document.hidden) { state.unread++; badge.textContent = String(state.unread); badge.hidden = false; }
    if (document.hidden) document.title = "(" + Math.max(1, state.unread) + ") " + t("newMessage") + " – " + baseTitle;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = 880; g.gain.value = 0.05; o.connect(g); g.connect(audio.destination);
      o.start(); o.stop(audio.currentTime + 0.15);
    } catch (e) { /* no sound */ }
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { document.title = baseTitle; if (state.open) { state.unread = 0; badge.hidden = true; markRead(); } }
  });
  function markRead() {
    if (!state.open || document.hidden || !state.chat) return;
    var agentMsgs = log.querySelectorAll("li.msg.agent[data-seq]");
    var top = agentMsgs.length ? +agentMsgs[agentMsgs.length - 1].getAttribute("data-seq") : 0;
    if (top > (state.sentRead || 0)) { state.sentRead = top; send({ t: "read", seq: top }); }
  }

  // --- the connection: WebSocket, else long polling ----------------------------------------------
  function handle(f) {
    switch (f.t) {
      case "welcome":
        state.config = f.config; state.online = f.online; theme(f.config);
        if (f.token) state.token = f.token;
        state.chat = f.chat;
        if (f.chat) { state.readSeq = f.chat.read || 0; } else { state.last = 0; }
        status.textContent = ""; joined(f.chat); persist(); render(); flush(); break;
      case "started":
        state.token = f.token; state.chat = f.chat; drop(f.cid); joined(f.chat); persist(); render(); break;
      case "msg":
        if (f.seq <= state.last && log.querySelector('[data-seq="' + f.seq + '"]')) break;
        if (f.seq > state.last) state.last = f.seq;
        if (f.cid) drop(f.cid);
        persist(); add(f);
        if (f.from === "agent") { typingEl.textContent = ""; notify(); markRead(); }
        break;
      case "ack": drop(f.cid); break;
      case "typing": typingEl.textContent = f.on ? (f.name ? f.name + " " + t("typing") : t("agentTyping")) : ""; break;
      case "read": state.readSeq = Math.max(state.readSeq, f.seq || 0); seen(); break;
      case "state":
        if (state.chat) state.chat.state = f.state;
        if (f.state === "active" && f.agent) status.textContent = t("connected", { name: f.agent });
        if (f.state === "ended") { status.textContent = t("ended"); state.chat = null; state.last = 0; persist(); render(); }
        break;
      case "ended": status.textContent = t("ended"); state.chat = null; state.last = 0; log.textContent = ""; persist(); render(); break;
      case "queue":
        status.textContent = t("queue", { n: f.position, m: Math.max(1, Math.round(f.wait / 60)) });
        state.queue = [f.position, f.wait]; state.queueText = status.textContent; break;
      case "avail": state.online = f.online; if (!state.chat) render(); break;
      case "error": status.textContent = f.detail || t("error"); if (f.cid) drop(f.cid, true); break;
    }
  }
  function joined(chat) { if (chat && chat.state === "active" && chat.agent) status.textContent = t("connected", { name: chat.agent }); }
  function drop(id, failed) {
    if (!id) return;
    state.pending = state.pending.filter(function (p) { return p.cid !== id; }); persist();
    if (failed) { var n = log.querySelector('[data-cid="' + id + '"]'); if (n) n.classList.add("failed"); }
  }
  function frameOf(p) {
    return p.start ? { t: "start", cid: p.cid, fields: p.fields, body: p.body, bot: p.bot || null, page: location.href } : { t: "msg", cid: p.cid, body: p.body, files: p.files || [] };
  }
  function flush() { state.pending.forEach(function (p) { if (!p.start || !state.chat) send(frameOf(p)); }); }
  function send(f) {
    if (state.mode === "ws") { if (state.sock && state.sock.readyState === 1) state.sock.send(JSON.stringify(f)); return; }
    post("/chat/frame", { token: state.token, user: user(), frame: f }).then(function (a) { if (a) handle(a); });
  }
  function post(path, payload) {
    return fetch(BASE + path + "?widget=" + encodeURIComponent(KEY), { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(payload) }).then(function (r) { return r.ok ? r.json() : null; }, function () { return null; });
  }
  function connect() {
    if (!window.WebSocket || state.fails >= 3) { state.mode = "poll"; return poll(true); }
    var ws;
    try { ws = new WebSocket(BASE.replace(/^http/, "ws") + "/chat/ws?widget=" + encodeURIComponent(KEY)); } catch (e) { state.fails = 3; return connect(); }
    var opened = false;
    state.sock = ws;
    ws.onopen = function () { opened = true; state.fails = 0; state.retry = 0; ws.send(JSON.stringify({ t: "hello", token: state.token, after: state.last, user: user() })); };
    ws.onmessage = function (ev) { try { handle(JSON.parse(ev.data)); } catch (e) { /* ignore a bad frame */ } };
    ws.onclose = function (ev) {
      state.sock = null;
      if (ev.code === 4403 || ev.code === 4404) { status.textContent = t("error"); return; }
      if (!opened) state.fails++;
      status.textContent = t("reconnecting");
      state.retry = Math.min(state.retry + 1, 6);
      setTimeout(connect, 300 * Math.pow(2, state.retry - 1) + Math.random() * 300);
    };
  }
  function poll(hello) {
    if (state.polling && !hello) return;
    state.polling = true;
    // The place in the queue on screen, if it still is: the server answers at once only when it changed.
    var shown = !hello && state.queue && status.textContent === state.queueText ? state.queue : null;
    post("/chat/poll", { token: state.token, after: state.last, hello: !!hello, user: user(), queue: shown }).then(function (r) {
      if (r && r.events) r.events.forEach(handle);
      setTimeout(function () { state.polling = false; poll(false); }, r ? 50 : 3000);
      if (hello) flush();
    });
  }
  window.HelplineChat = { open: function () { show(true); }, close: function () { show(false); }, _state: state,
    _drop: function () { if (state.sock) state.sock.close(); } };
  function boot() {
    document.body.appendChild(host);
    label();
    if (state.open) show(true);
    connect();
  }
  if (document.body) boot(); else document.addEventListener("DOMContentLoaded", boot);
})();
