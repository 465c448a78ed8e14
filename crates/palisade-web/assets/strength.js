// Live password feedback: asks the server (same policy as on submit) and shows the verdict next to the field.
(function () {
  "use strict";
  var words = ["very weak", "weak", "fair", "good", "strong"];
  document.querySelectorAll("input[data-strength]").forEach(function (input) {
    var out = document.querySelector('[data-strength-for="' + input.id + '"]');
    if (!out) return;
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (!input.value) { out.textContent = ""; return; }
        var hints = (input.getAttribute("data-hints") || "").split(",").filter(Boolean);
        fetch("/api/v1/auth/password-strength", {
          method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
          body: JSON.stringify({ password: input.value, hints: hints, staff: input.getAttribute("data-strength") === "staff" }),
        }).then(function (r) { return r.json(); }).then(function (j) {
          var text = j.acceptable ? "Strength: " + words[j.score] : "Not accepted: " + j.problem;
          if (j.acceptable && j.warning) text += " — " + j.warning;
          else if (j.acceptable && j.suggestions && j.suggestions.length) text += " — " + j.suggestions[0];
          out.textContent = text;
          out.className = "meter " + (j.acceptable && j.score >= 3 ? "good" : "poor");
        }).catch(function () { out.textContent = ""; });
      }, 250);
    });
  });
})();
