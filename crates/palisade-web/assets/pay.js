// Palisade payment page helper (inventoried: see /api/v1/platform/payment-page). Formats the card number in
// groups of four as it is typed, moves the focus to the list of refused fields after a refused attempt, and marks
// the form busy on submit so a double click cannot pay twice; solves the card-testing guard's proof of work when
// the page carries one.
// It sends nothing anywhere: the form posts to this site only (CSP form-action 'self', connect-src 'none').
(function () {
  "use strict";
  var number = document.getElementById("f-card_number");
  if (number) {
    number.addEventListener("input", function () {
      var digits = number.value.replace(/\D/g, "").slice(0, 19);
      number.value = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
    });
  }
  // After a refused attempt, keyboard and screen-reader users start at the list of what to fix.
  var summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
  }
  // After several declines here, the card-testing guard asks for the shield's proof of work: find n such that
  // SHA-256(challenge + ":" + n) starts with `bits` zero bits, then post the form with it.
  function zeroBits(buf) {
    var bytes = new Uint8Array(buf), n = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { n += 8; continue; }
      var b = bytes[i];
      while ((b & 0x80) === 0) { n++; b <<= 1; }
      break;
    }
    return n;
  }
  function solve(form, c, out, bits) {
    var enc = new TextEncoder(), n = 0;
    function batch() {
      var tries = [];
      for (var k = 0; k < 256; k++, n++) {
        tries.push((function (m) {
          return crypto.subtle.digest("SHA-256", enc.encode(c + ":" + m)).then(function (h) { return [m, h]; });
        })(n));
      }
      Promise.all(tries).then(function (results) {
        for (var r = 0; r < results.length; r++) {
          if (zeroBits(results[r][1]) >= bits) {
            out.value = String(results[r][0]);
            form.submit();
            return;
          }
        }
        batch();
      });
    }
    batch();
  }
  var form = document.getElementById("pay-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
        button.textContent = "Processing…";
      }
      var c = form.querySelector("input[name=pow_c]");
      var out = form.querySelector("input[name=pow_n]");
      if (c && out && !out.value && window.crypto && window.crypto.subtle) {
        event.preventDefault();
        solve(form, c.value, out, parseInt(out.getAttribute("data-bits"), 10) || 14);
      }
    });
  }
})();
