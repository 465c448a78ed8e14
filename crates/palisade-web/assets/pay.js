// Palisade payment page helper (inventoried: see /api/v1/platform/payment-page). Formats the card number in
// groups of four as it is typed, moves the focus to the list of refused fields after a refused attempt, and marks
// the form busy on submit so a double click cannot pay twice.
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
  var form = document.getElementById("pay-form");
  if (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
        button.textContent = "Processing…";
      }
    });
  }
})();
