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

  // Parts of a form that matter for one choice only: <div data-show-if="field_name=value">. Shown
  // without JavaScript; hidden (still submitted) while the field has another value.
  function fieldValue(form, name) {
    var field = form.elements[name];
    if (!field) { return null; }
    if (field.type === "checkbox") { return field.checked ? field.value : ""; }
    return field.value;
  }
  function applyShowIf(root) {
    (root || document).querySelectorAll("[data-show-if]").forEach(function (el) {
      var form = el.closest("form");
      var rule = el.getAttribute("data-show-if").split("=");
      if (form) { el.hidden = fieldValue(form, rule[0]) !== rule.slice(1).join("="); }
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.form) { applyShowIf(event.target.form); }
  });
  document.addEventListener("DOMContentLoaded", function () { applyShowIf(); });
  document.addEventListener("htmx:afterSwap", function (e) { applyShowIf(e.target); });

  // A select whose options carry values for other fields (a sending identity's From): choosing one
  // fills them, so switching back to typing starts from what was chosen. <select data-fill-from>,
  // <option data-from_name="…">.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.hasAttribute || !select.hasAttribute("data-fill-from") || !select.form) { return; }
    var option = select.options[select.selectedIndex];
    if (!option || !option.value) { return; }
    Array.prototype.forEach.call(option.attributes, function (attr) {
      var field = attr.name.indexOf("data-") === 0 ? select.form.elements[attr.name.slice(5)] : null;
      if (field && field.value !== undefined) { field.value = attr.value; }
    });
  });

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
