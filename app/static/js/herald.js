// Herald's own script (the CSP allows no inline script): confirmations, toasts, small helpers.
(function () {
  "use strict";
  // Ask before anything destructive or irreversible: <form data-confirm="Send to 1,234 people?">.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Toasts fade after a while; errors stay until dismissed.
  function armToasts(root) {
    (root || document).querySelectorAll("[data-autohide]").forEach(function (el) {
      setTimeout(function () { el.remove(); }, 6000);
    });
  }
  document.addEventListener("click", function (event) {
    var btn = event.target.closest("[data-dismiss]");
    if (btn) { btn.closest(".alert").remove(); }
  });
  document.addEventListener("DOMContentLoaded", function () { armToasts(); });
  document.addEventListener("htmx:afterSwap", function (e) { armToasts(e.target); });

  // Copy-to-clipboard buttons (API keys, webhook URLs).
  document.addEventListener("click", function (event) {
    var btn = event.target.closest("[data-copy]");
    if (!btn) { return; }
    var target = document.querySelector(btn.getAttribute("data-copy"));
    if (target && navigator.clipboard) {
      navigator.clipboard.writeText(target.value || target.textContent.trim());
      btn.textContent = "Copied";
    }
  });
})();
