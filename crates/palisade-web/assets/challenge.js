// Palisade "under attack" check: find a number whose SHA-256 with the challenge starts with enough zero bits,
// then post it back. It costs a browser well under a second and a flood of bots a great deal. No third party.
(function () {
  "use strict";
  var form = document.getElementById("challenge-form");
  if (!form || !window.crypto || !window.crypto.subtle) { return; }
  var challenge = form.querySelector("input[name=c]").value;
  var bits = parseInt(form.getAttribute("data-bits"), 10);
  var status = document.getElementById("challenge-status");
  var enc = new TextEncoder();
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
  var n = 0;
  function batch() {
    var tries = [];
    for (var k = 0; k < 256; k++, n++) {
      tries.push((function (m) {
        return crypto.subtle.digest("SHA-256", enc.encode(challenge + ":" + m)).then(function (h) { return [m, h]; });
      })(n));
    }
    Promise.all(tries).then(function (results) {
      for (var r = 0; r < results.length; r++) {
        if (zeroBits(results[r][1]) >= bits) {
          form.querySelector("input[name=n]").value = String(results[r][0]);
          if (status) { status.textContent = "Done — taking you to the shop…"; }
          form.submit();
          return;
        }
      }
      batch();
    });
  }
  batch();
})();
