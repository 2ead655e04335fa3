// The flow editor (templates/flows/_steps.html). The keyboard and drag-and-drop press the same
// buttons and send the same forms as a mouse, or a page without JavaScript: Alt+ArrowUp/Down moves
// the focused step, Delete removes it (after the confirmation), ArrowUp/Down goes to the step
// before or after; dragging a step by its grip within its list posts its new place. The server
// answers with the steps drawn again and names the step to focus (data-focus).
(function () {
  "use strict";

  function canvas() { return document.getElementById("flow-steps"); }

  function ownControl(node, selector) {
    var card = node.querySelector(":scope > .flow-card");
    return card ? card.querySelector(selector) : null;
  }

  document.addEventListener("keydown", function (event) {
    var node = event.target;
    if (!node.classList || !node.classList.contains("flow-node") || !node.closest("#flow-steps[data-editable]")) {
      return;
    }
    var up = event.key === "ArrowUp", down = event.key === "ArrowDown";
    if (event.altKey && (up || down)) {
      var button = ownControl(node, '[data-move="' + (up ? "up" : "down") + '"]');
      if (button && !button.disabled) { button.click(); }
      event.preventDefault();
    } else if (event.key === "Delete" && !event.altKey && !event.ctrlKey && !event.metaKey) {
      var remove = ownControl(node, "[data-delete]");
      if (remove) { remove.click(); }
      event.preventDefault();
    } else if ((up || down) && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      var all = Array.prototype.slice.call(canvas().querySelectorAll(".flow-node[tabindex]"));
      var next = all[all.indexOf(node) + (up ? -1 : 1)];
      if (next) { next.focus(); event.preventDefault(); }
    }
  });

  function restoreFocus() {
    var root = canvas();
    var id = root && root.getAttribute("data-focus");
    if (!id) { return; }
    root.removeAttribute("data-focus");
    var node = document.getElementById("step-" + id) || document.getElementById("step-new");
    if (!node) { return; }
    var form = node.querySelector("details[open] [data-step-form]");
    var field = form && (form.querySelector(".is-invalid") || form.querySelector("select, input:not([type=hidden]), textarea"));
    (field || node).focus();
    node.scrollIntoView({ block: "nearest" });
  }

  function initDrag() {
    var root = canvas();
    if (!root || !root.hasAttribute("data-editable") || !window.Sortable) { return; }
    root.querySelectorAll(".flow-list").forEach(function (list) {
      if (list._sortable) { return; }
      list._sortable = new window.Sortable(list, {
        // One group per list: a step is reordered among its neighbours, never dropped into a branch.
        group: { name: "flow-" + list.getAttribute("data-list"), pull: false, put: false },
        draggable: ".flow-node",
        handle: ".flow-drag",
        animation: 120,
        onEnd: function (evt) {
          if (evt.oldDraggableIndex === evt.newDraggableIndex) { return; }
          var to = ownControl(evt.item, "[data-move-to]");
          if (!to) { return; }
          to.value = String(evt.newDraggableIndex);
          to.form.requestSubmit();
        },
      });
    });
  }

  // A refused change (422) or a step gone (409) answers with the steps and the error on its step.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var d = event.detail;
    if (d.target && d.target.id === "flow-steps" && (d.xhr.status === 422 || d.xhr.status === 409)) {
      d.shouldSwap = true;
      d.isError = false;
    }
  });
  document.addEventListener("htmx:afterSettle", function () { initDrag(); restoreFocus(); });
  document.addEventListener("DOMContentLoaded", function () { initDrag(); restoreFocus(); });
})();
