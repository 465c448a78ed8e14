// Passkey ceremonies for Palisade's account and sign-in pages. No dependencies; served from our origin so the
// strict Content-Security-Policy allows it.
(function () {
  "use strict";
  function enc(buf) {
    var s = String.fromCharCode.apply(null, new Uint8Array(buf));
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function dec(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); });
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: body === undefined ? "{}" : JSON.stringify(body),
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error((j.error && j.error.message) || "request failed");
        return j;
      });
    });
  }
  function say(el, text) { var out = document.getElementById(el.getAttribute("data-status") || ""); if (out) out.textContent = text; }

  function register(button) {
    var name = window.prompt("Name this passkey (e.g. \"Work laptop\")", "Passkey") || "Passkey";
    post("/api/v1/auth/passkeys/register/start").then(function (start) {
      var pk = start.options.publicKey;
      pk.challenge = dec(pk.challenge);
      pk.user.id = dec(pk.user.id);
      (pk.excludeCredentials || []).forEach(function (c) { c.id = dec(c.id); });
      return navigator.credentials.create({ publicKey: pk }).then(function (cred) {
        return post("/api/v1/auth/passkeys/register/finish", {
          challenge: start.challenge,
          name: name,
          credential: {
            id: cred.id, rawId: enc(cred.rawId), type: cred.type,
            extensions: cred.getClientExtensionResults(),
            response: { attestationObject: enc(cred.response.attestationObject), clientDataJSON: enc(cred.response.clientDataJSON) },
          },
        });
      });
    }).then(function () { window.location.reload(); }, function (e) { say(button, "Passkey not added: " + e.message); });
  }

  function signIn(button) {
    post("/api/v1/auth/passkeys/login/start").then(function (start) {
      var pk = start.options.publicKey;
      pk.challenge = dec(pk.challenge);
      (pk.allowCredentials || []).forEach(function (c) { c.id = dec(c.id); });
      return navigator.credentials.get({ publicKey: pk }).then(function (cred) {
        return post("/api/v1/auth/passkeys/login/finish", {
          challenge: start.challenge,
          next: button.getAttribute("data-next") || null,
          credential: {
            id: cred.id, rawId: enc(cred.rawId), type: cred.type,
            extensions: cred.getClientExtensionResults(),
            response: {
              authenticatorData: enc(cred.response.authenticatorData),
              clientDataJSON: enc(cred.response.clientDataJSON),
              signature: enc(cred.response.signature),
              userHandle: cred.response.userHandle ? enc(cred.response.userHandle) : null,
            },
          },
        });
      });
    }).then(function (done) { window.location.assign(done.next || "/account"); }, function (e) { say(button, "Passkey sign-in failed: " + e.message); });
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (!(t instanceof Element)) return;
    if (!window.PublicKeyCredential) { say(t, "This browser does not support passkeys."); return; }
    if (t.hasAttribute("data-passkey-register")) { ev.preventDefault(); register(t); }
    if (t.hasAttribute("data-passkey-signin")) { ev.preventDefault(); signIn(t); }
  });
})();
