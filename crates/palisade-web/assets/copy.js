// Progressive enhancement: a "Copy link" button next to a link the page already shows. Without this script (or
// without the clipboard API) the button stays hidden and the link works as it is.
(function () {
  if (!navigator.clipboard) return;
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var id = button.getAttribute("data-copy");
    var link = document.getElementById(id);
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    if (!link) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(link.href).then(
        function () { if (status) status.textContent = "Copied."; },
        function () { if (status) status.textContent = "Could not copy: select the link and copy it."; }
      );
    });
  });
})();
