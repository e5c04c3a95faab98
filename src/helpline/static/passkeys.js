/* Passkeys (WebAuthn) on the sign-in page and the profile's passkeys card.
 *
 * The pages carry data-* hooks and no script of their own (the CSP is script-src 'self'). Where the
 * browser has no WebAuthn, nothing here shows: the sign-in button stays hidden and the card says why
 * a passkey cannot be added. The server speaks WebAuthn's JSON forms (binary values as base64url);
 * this file turns them into the ArrayBuffers navigator.credentials wants, and back.
 */
(function () {
  "use strict";
  if (window.helplinePasskeys) return;
  window.helplinePasskeys = true;

  var supported =
    typeof window.PublicKeyCredential === "function" &&
    !!(navigator.credentials && navigator.credentials.create && navigator.credentials.get);

  // --- base64url <-> ArrayBuffer ---------------------------------------------------------------
  function fromB64url(text) {
    var b64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      var out = { type: d.type, id: fromB64url(d.id) };
      if (d.transports) out.transports = d.transports;
      return out;
    });
  }

  function creationOptions(o) {
    var pk = Object.assign({}, o);
    pk.challenge = fromB64url(o.challenge);
    pk.user = Object.assign({}, o.user, { id: fromB64url(o.user.id) });
    pk.excludeCredentials = descriptors(o.excludeCredentials);
    return pk;
  }

  function requestOptions(o) {
    var pk = Object.assign({}, o);
    pk.challenge = fromB64url(o.challenge);
    pk.allowCredentials = descriptors(o.allowCredentials);
    return pk;
  }

  // A PublicKeyCredential as the JSON the server reads (WebAuthn level 3's RegistrationResponseJSON
  // and AuthenticationResponseJSON).
  function credentialJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: { clientDataJSON: toB64url(r.clientDataJSON) },
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) out.response.userHandle = toB64url(r.userHandle);
    }
    return out;
  }

  function explain(err) {
    var name = err && err.name;
    if (name === "NotAllowedError") return "The passkey request was cancelled or timed out. Try again when you are ready.";
    if (name === "InvalidStateError") return "This device already holds a passkey for your account.";
    if (name === "SecurityError") return "Passkeys are not allowed at this address.";
    return (err && err.message) || "Something went wrong with the passkey. Try again.";
  }

  async function postJSON(url, csrf, body) {
    var response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    var data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) throw new Error((data && data.detail) || "The server refused the request (" + response.status + ").");
    return data;
  }

  // The error line is a hidden role=alert until there is something to say: shown, it is read out.
  function say(error, text) {
    if (!error) return;
    error.textContent = text;
    error.hidden = !text;
  }

  function busy(button, on) {
    button.disabled = on;
    if (on) button.setAttribute("aria-busy", "true");
    else button.removeAttribute("aria-busy");
  }

  // --- signing in: "Sign in with a passkey" and "Use a passkey instead" ---------------------------
  function setUpSignIn(box) {
    var form = box.querySelector("[data-passkey-form]");
    var button = box.querySelector("[data-passkey-get]");
    var error = box.querySelector("[data-passkey-error]");
    if (!form || !button) return;
    box.hidden = false;
    button.addEventListener("click", async function () {
      say(error, "");
      busy(button, true);
      try {
        var csrf = form.querySelector("input[name=csrf_token]").value;
        var data = await postJSON(form.dataset.options, csrf, {});
        var cred = await navigator.credentials.get({ publicKey: requestOptions(data.publicKey) });
        form.querySelector("input[name=credential]").value = JSON.stringify(credentialJSON(cred));
        form.submit(); // the server answers like the password form: a redirect, or this page with the error
      } catch (err) {
        say(error, explain(err));
        busy(button, false);
        button.focus();
      }
    });
  }

  // --- the profile's card: adding a passkey ------------------------------------------------------
  function reveal(root) {
    root.querySelectorAll("[data-passkey-add]").forEach(function (f) {
      f.hidden = false;
    });
    root.querySelectorAll("[data-passkey-unsupported]").forEach(function (p) {
      p.hidden = true;
    });
  }

  function refresh(done) {
    var body = document.getElementById("passkeys-body");
    var url = "/profile/passkeys?done=" + encodeURIComponent(done);
    if (window.htmx && body) window.htmx.ajax("GET", url, { target: body, swap: "innerHTML" });
    else window.location.assign(url);
  }

  document.addEventListener("submit", async function (ev) {
    var form = ev.target.closest ? ev.target.closest("[data-passkey-add]") : null;
    if (!form) return;
    ev.preventDefault();
    var scope = form.closest("#passkeys-body") || document;
    var error = scope.querySelector("[data-passkey-error]");
    var button = form.querySelector("button[type=submit]");
    say(error, "");
    busy(button, true);
    try {
      var csrf = document.body.dataset.csrf || "";
      var data = await postJSON("/api/v1/me/passkeys/options", csrf, {});
      var cred = await navigator.credentials.create({ publicKey: creationOptions(data.publicKey) });
      await postJSON("/api/v1/me/passkeys", csrf, { name: form.elements.name.value, credential: credentialJSON(cred) });
      refresh("added");
    } catch (err) {
      say(error, explain(err));
      busy(button, false);
      button.focus();
    }
  });

  // After htmx swaps the card (its first load, a rename, a removal): show what works here, and move
  // focus to the outcome so that a screen reader reads it.
  document.addEventListener("htmx:afterSwap", function (ev) {
    if (!ev.target || ev.target.id !== "passkeys-body") return;
    if (supported) reveal(ev.target);
    var outcome = ev.target.querySelector("[data-passkey-focus]");
    if (outcome) outcome.focus();
  });

  if (!supported) return;
  document.querySelectorAll("[data-passkey-signin]").forEach(setUpSignIn);
  reveal(document);
})();
