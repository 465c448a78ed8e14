// The phishing-simulation landing page (/learn/{token}): confirms that a person, not a mail scanner or a link
// preview, opened the page. It posts one beacon after a trusted interaction (pointer, touch, scroll, key) or after
// the page has been visible for 2 s, with the page's nonce and CSRF token (see palisade_awareness::phish::classify).
(function () {
  "use strict";
  var form = document.getElementById("learn-confirm");
  if (!form) { return; }
  var nonce = form.querySelector("input[name=nonce]").value;
  var csrf = form.querySelector("input[name=csrf]").value;
  var action = form.getAttribute("action");
  var started = Date.now();
  var visibleMs = 0;
  var visibleSince = document.visibilityState === "visible" ? Date.now() : null;
  var sent = false;
  var trusted = false;

  function dwell() {
    return visibleMs + (visibleSince === null ? 0 : Date.now() - visibleSince);
  }

  function send() {
    if (sent) { return; }
    sent = true;
    var body = new URLSearchParams();
    body.set("nonce", nonce);
    body.set("kind", "beacon");
    body.set("trusted", trusted ? "1" : "0");
    body.set("visible", document.visibilityState === "visible" ? "1" : "0");
    body.set("focused", document.hasFocus() ? "1" : "0");
    body.set("dwell", String(Math.min(dwell(), 3600000)));
    body.set("webdriver", navigator.webdriver ? "1" : "0");
    fetch(action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrf-token": csrf, "content-type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).catch(function () { sent = false; });
  }

  function onInteraction(e) {
    if (!e.isTrusted || document.visibilityState !== "visible") { return; }
    // Give the reader a moment: a confirmation within 250 ms of the hit is judged a script.
    if (Date.now() - started < 400) { return; }
    trusted = true;
    send();
  }

  ["pointermove", "touchstart", "scroll", "keydown"].forEach(function (name) {
    window.addEventListener(name, onInteraction, { passive: true });
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      visibleSince = Date.now();
    } else if (visibleSince !== null) {
      visibleMs += Date.now() - visibleSince;
      visibleSince = null;
    }
  });
  var timer = setInterval(function () {
    if (sent) { clearInterval(timer); return; }
    if (document.visibilityState === "visible" && dwell() >= 2000) { send(); }
  }, 500);
})();
