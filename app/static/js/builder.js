// The visual builder. The browser holds the design JSON while a person works; every change
// is posted whole (through htmx) and the server validates, saves and answers with the canvas
// rendered from what it stored. Undo and redo are stacks of designs, so they are instant.
(function () {
  "use strict";

  var root = document.getElementById("hb-builder");
  if (!root) { return; }

  var saveUrl = root.dataset.saveUrl;
  var panelUrl = root.dataset.panelUrl;
  var previewUrl = root.dataset.previewUrl;
  var blockUrl = root.dataset.blockUrl;
  var uploadUrl = root.dataset.uploadUrl;
  var pickerUrl = root.dataset.pickerUrl;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  var state = {
    design: readJSON("hb-design"),
    meta: readJSON("hb-meta"),
    defaults: readJSON("hb-defaults"),
    selected: null,
    undo: [],
    redo: [],
    lastTyping: null,   // {key, at}: keystrokes in one field fold into one undo step
    saving: false,
    pending: false,
    dirty: false,
    view: "canvas",
  };
  var saveTimer = null;
  var sortables = [];
  var canvas = document.getElementById("hb-canvas");
  var props = document.getElementById("hb-props");
  var statusEl = document.getElementById("hb-status");

  // Each block type's label ("Columns", "Condition") and the places it may stand in ("body",
  // "section", "column"), from the server's block registry (app/services/designs/blocks/).
  var BLOCKS = readJSON("hb-blocks");
  function label(type) { return BLOCKS[type] ? BLOCKS[type].label : type; }

  function readJSON(id) { return JSON.parse(document.getElementById(id).textContent); }
  function clone(x) { return JSON.parse(JSON.stringify(x)); }
  function snapshot() { return JSON.stringify({ design: state.design, meta: state.meta }); }

  // -- The design tree ---------------------------------------------------------------------

  function newId(type) {
    var id;
    do { id = (type || "b").slice(0, 3) + "-" + Math.random().toString(36).slice(2, 8); } while (findBlock(id));
    return id;
  }

  function withIds(block) {
    block = clone(block);
    (function walk(b) {
      b.id = newId(b.type);
      (b.children || []).forEach(walk);
      (b["else"] || []).forEach(walk);
    })(block);
    return block;
  }

  function findBlock(id, blocks, parent, slot) {
    blocks = blocks || state.design.blocks;
    for (var i = 0; i < blocks.length; i++) {
      var b = blocks[i];
      if (b.id === id) { return { block: b, list: blocks, index: i, parent: parent || null, slot: slot || "blocks" }; }
      var hit = (b.children && findBlock(id, b.children, b, "children")) || (b["else"] && findBlock(id, b["else"], b, "else"));
      if (hit) { return hit; }
    }
    return null;
  }

  function listOf(parentId, slot) {
    if (!parentId) { return state.design.blocks; }
    var hit = findBlock(parentId);
    if (!hit) { return null; }
    if (!hit.block[slot]) { hit.block[slot] = []; }
    return hit.block[slot];
  }

  // Whether a list of this kind (its data-accepts) may hold a block of this type.
  function accepts(kind, type) {
    return BLOCKS[type] ? BLOCKS[type].places.indexOf(kind) >= 0 : kind === "body";
  }

  // -- Changes, undo, redo --------------------------------------------------------------------

  function change(mutate, opts) {
    opts = opts || {};
    var before = snapshot();
    var now = Date.now();
    var fold = opts.typingKey && state.lastTyping && state.lastTyping.key === opts.typingKey && now - state.lastTyping.at < 1500;
    mutate();
    if (snapshot() === before) { return; }
    if (!fold) { state.undo.push(before); if (state.undo.length > 200) { state.undo.shift(); } }
    state.lastTyping = opts.typingKey ? { key: opts.typingKey, at: now } : null;
    state.redo = [];
    updateHistoryButtons();
    scheduleSave(opts.typingKey ? 400 : 0);
  }

  function restore(from, to) {
    if (!from.length) { return; }
    to.push(snapshot());
    var snap = JSON.parse(from.pop());
    state.design = snap.design;
    state.meta = snap.meta;
    state.lastTyping = null;
    if (state.selected && !findBlock(state.selected)) { state.selected = null; }
    updateHistoryButtons();
    scheduleSave(0);
    loadPanel();
  }

  function updateHistoryButtons() {
    document.getElementById("hb-undo").disabled = !state.undo.length;
    document.getElementById("hb-redo").disabled = !state.redo.length;
  }

  // -- Saving ---------------------------------------------------------------------------------

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.title = text;  // the toolbar may cut a long message short
    statusEl.dataset.state = kind;
    var colour = { error: "text-danger", saving: "text-secondary", info: "text-secondary" }[kind] || "text-success";
    statusEl.className = "hb-status small " + colour;
  }

  // A passing remark ("Text is already first"): shown for a few seconds, then the save state
  // comes back, so a refused move never hides whether the email is saved.
  function note(text, kind) {
    var before = { text: statusEl.textContent, kind: statusEl.dataset.state };
    setStatus(text, kind || "info");
    setTimeout(function () {
      if (statusEl.textContent === text) { setStatus(before.text, before.kind); }
    }, 5000);
  }

  function scheduleSave(delay) {
    state.dirty = true;
    setStatus("Saving…", "saving");
    clearTimeout(saveTimer);
    saveTimer = setTimeout(save, delay);
  }

  function payload() {
    return {
      design: JSON.stringify(state.design),
      name: state.meta.name,
      subject: state.meta.subject,
      preview_text: state.meta.preview_text,
      category: state.meta.category,
    };
  }

  function save() {
    if (state.saving) { state.pending = true; return; }
    state.saving = true;
    state.dirty = false;
    htmx.ajax("POST", saveUrl, { target: "#hb-canvas", swap: "innerHTML", values: payload() }).then(saveDone, function () {
      saveFailed({ why: "the server could not be reached", then: KEPT });
      saveDone();
    });
  }

  function saveDone() {
    state.saving = false;
    if (state.pending) { state.pending = false; save(); }
  }

  // htmx resolves its promise for any answer, a 500 or the sign-in page included: the
  // beforeSwap check below calls this, so the status never stays at "Saving…".
  function saveFailed(p) {
    state.dirty = true;
    setStatus("Not saved: " + p.why + ". " + p.then, "error");
  }

  // Resolve once the changes made so far have been sent (before a preview or a test send).
  // One attempt only: when the server refuses or fails, the status says so and the preview
  // shows what is stored, instead of retrying in a loop.
  function flushed() {
    var tried = false;
    return new Promise(function (resolve) {
      (function wait() {
        if (state.saving) { setTimeout(wait, 60); return; }
        if (state.dirty && !tried) {
          tried = true;
          clearTimeout(saveTimer);
          save();
          setTimeout(wait, 60);
          return;
        }
        resolve();
      })();
    });
  }

  document.body.addEventListener("hb-saved", function (e) {
    var d = e.detail;
    clearErrors();
    if (state.dirty || state.saving && state.pending) { return; }
    setStatus("Saved · version " + d.version + " · " + d.sizeLabel, "saved");
    var warn = document.getElementById("hb-warnings");
    var lines = (d.warnings || []).slice();
    warn.replaceChildren.apply(warn, lines.map(function (w) {
      var div = document.createElement("div");
      div.textContent = "⚠ " + w;
      return div;
    }));
    warn.hidden = !lines.length;
    document.getElementById("hb-title").textContent = state.meta.name;
    // The preview (and its inbox row) follows edits made while it is shown.
    if (state.view !== "canvas") { refreshPreview(); }
  });

  document.body.addEventListener("hb-invalid", function (e) {
    var d = e.detail;
    setStatus("Not saved: " + d.message, "error");
    showErrors(d.fields || {});
  });

  function clearErrors() {
    document.querySelectorAll("[data-error-for]").forEach(function (el) { el.textContent = ""; });
    document.querySelectorAll(".hb-has-error").forEach(function (el) { el.classList.remove("hb-has-error"); });
    document.querySelectorAll("#hb-props .is-invalid").forEach(function (el) { el.classList.remove("is-invalid"); });
  }

  function showErrors(fields) {
    clearErrors();
    Object.keys(fields).forEach(function (key) {
      var m = /^blocks\.([A-Za-z0-9_-]+)\.props\.(\w+)$/.exec(key);
      var slot = null;
      if (m) {
        var el = canvas.querySelector('.hb-block[data-id="' + m[1] + '"]');
        if (el) { el.classList.add("hb-has-error"); }
        if (m[1] === state.selected) { slot = props.querySelector('[data-error-for="' + m[2] + '"]'); }
      } else {
        slot = props.querySelector('[data-error-for="' + key + '"]');
      }
      if (slot) {
        slot.textContent = fields[key];
        var input = slot.parentElement.querySelector("[data-prop],[data-meta],[data-setting]");
        if (input) { input.classList.add("is-invalid"); }
      }
    });
  }

  // -- Answers that are not what was asked for -------------------------------------------------
  // A 4xx/5xx, or a 200 that is really the sign-in page (the session ended and the request was
  // redirected), must not be swapped into the builder: say what happened where it was asked.

  function redirected(detail) {
    var asked = new URL(detail.requestConfig.path, location.href).pathname;
    return Boolean(detail.xhr.responseURL) && new URL(detail.xhr.responseURL).pathname !== asked;
  }

  // Why a request failed, and what the person can do about it.
  var KEPT = "Your changes are kept here and save with your next edit.";
  function problem(detail) {
    var code = detail.xhr.status;
    if (redirected(detail)) {
      return { why: "you were signed out", then: "Sign in again in another tab; your changes here save with your next edit." };
    }
    if (code === 0) { return { why: "the server could not be reached", then: KEPT }; }
    if (code === 400) { return { why: "the page expired", then: "Copy any text you have not saved, then reload the page." }; }
    if (code === 403 || code === 404) { return { why: "this template is no longer available to you (error " + code + ")", then: "" }; }
    if (code === 413) { return { why: "the email is too large to save", then: "" }; }
    return { why: "the server had a problem (error " + code + ")", then: KEPT };
  }

  document.body.addEventListener("htmx:beforeSwap", function (e) {
    var d = e.detail;
    var failed = d.xhr.status >= 400 || redirected(d);
    if (d.target === canvas) {
      // A save answers with the canvas and an hb-saved or hb-invalid trigger, nothing else.
      if (!failed && d.xhr.getResponseHeader("HX-Trigger")) { rememberFocus(); return; }
      d.shouldSwap = false;
      d.isError = false;  // handled here: no console noise from htmx
      saveFailed(problem(d));
      return;
    }
    if (!failed) { return; }
    d.shouldSwap = false;
    d.isError = false;
    var p = problem(d);
    var what = {
      "hb-props": "The properties could not be loaded",
      "hb-preview-body": "The preview could not be made",
      "hb-test-result": "The test was not sent",
      "hb-saved": "The saved blocks could not be updated",
      "hb-image-library": "Your images could not be loaded",
    }[d.target.id] || "That did not work";
    showAlert(d.target, what + ": " + p.why + "." + (p.then && p.then !== KEPT ? " " + p.then : ""));
  });

  // A request that never got an answer (network down, server stopped).
  document.body.addEventListener("htmx:sendError", function (e) {
    var target = e.detail.target;
    if (target && target !== canvas) { showAlert(target, "Could not reach the server. Check your connection and try again."); }
  });

  function showAlert(target, message) {
    var alert = document.createElement("div");
    alert.className = "alert alert-danger";
    alert.setAttribute("role", "alert");
    alert.textContent = message;
    if (target.id === "hb-saved") { target.prepend(alert); } else { target.replaceChildren(alert); }
  }

  // A change not yet saved when the page closes is sent on the way out.
  window.addEventListener("beforeunload", function () {
    if (!state.dirty && !state.saving) { return; }
    // URL-encoded, not multipart: Flask caps a multipart field at 500 KB, and a big design would be lost.
    var form = new URLSearchParams();
    var p = payload();
    Object.keys(p).forEach(function (k) { form.append(k, p[k]); });
    form.append("csrf_token", csrf);
    navigator.sendBeacon(saveUrl, form);
  });

  // -- Canvas: selection, toolbar buttons, drag and drop ----------------------------------------

  function select(id, focus) {
    state.selected = id && findBlock(id) ? id : null;
    markSelected(focus);
    loadPanel();
  }

  function markSelected(focus) {
    canvas.querySelectorAll(".hb-selected").forEach(function (el) { el.classList.remove("hb-selected"); });
    if (!state.selected) { return; }
    var el = canvas.querySelector('.hb-block[data-id="' + state.selected + '"]');
    if (el) {
      el.classList.add("hb-selected");
      if (focus) { el.focus({ preventScroll: false }); }
    }
  }

  function loadPanel() {
    htmx.ajax("POST", panelUrl, {
      target: "#hb-props", swap: "innerHTML",
      values: { design: JSON.stringify(state.design), block: state.selected || "" },
    });
  }

  canvas.addEventListener("click", function (e) {
    var act = e.target.closest(".hb-act");
    var blockEl = e.target.closest(".hb-block");
    e.preventDefault();
    if (!blockEl) { select(null); return; }
    if (act) { blockAction(act.dataset.act, blockEl.dataset.id); return; }
    e.stopPropagation();
    if (blockEl.dataset.id !== state.selected) { select(blockEl.dataset.id); }
  });

  function blockAction(act, id) {
    var hit = findBlock(id);
    if (!hit) { return; }
    var what = label(hit.block.type);
    if (act === "up" || act === "down") {
      var to = hit.index + (act === "up" ? -1 : 1);
      if (to < 0 || to >= hit.list.length) {
        note(what + " is already " + (act === "up" ? "first" : "last") + " where it stands.");
        return;
      }
      change(function () { hit.list.splice(to, 0, hit.list.splice(hit.index, 1)[0]); });
      state.selected = id;
    } else if (act === "duplicate") {
      var copy = withIds(hit.block);
      if (hit.block.type === "column" && hit.list.length >= 4) { note("Columns hold at most 4 columns.", "error"); return; }
      change(function () { hit.list.splice(hit.index + 1, 0, copy); });
      select(copy.id);
    } else if (act === "delete") {
      if (hit.block.type === "column" && hit.list.length <= 1) {
        note("Columns need at least one column: delete the whole Columns block instead.", "error");
        return;
      }
      change(function () { hit.list.splice(hit.index, 1); });
      var next = hit.list[Math.min(hit.index, hit.list.length - 1)];
      select(next ? next.id : (hit.parent ? hit.parent.id : null), true);
    }
  }

  function initSortables() {
    sortables.forEach(function (s) { s.destroy(); });
    sortables = [];
    canvas.querySelectorAll(".hb-list").forEach(function (el) {
      sortables.push(new Sortable(el, {
        group: { name: "hb", pull: true, put: function (to, from, dragEl) {
          // Columns stay in their own section (a section needs 1 to 4 of them).
          return dragEl.dataset.type !== "column" && accepts(to.el.dataset.accepts, dragEl.dataset.type);
        } },
        draggable: ".hb-block",
        filter: ".hb-act",
        preventOnFilter: false,
        animation: 120,
        forceFallback: true,
        fallbackOnBody: true,
        fallbackTolerance: 3,
        swapThreshold: 0.65,
        emptyInsertThreshold: 24,
        onEnd: moved,
      }));
    });
  }

  function moved(evt) {
    var id = evt.item.dataset.id;
    var from = evt.from.dataset, to = evt.to.dataset;
    if (evt.from === evt.to && evt.oldDraggableIndex === evt.newDraggableIndex) { return; }
    change(function () {
      var src = listOf(from.parent, from.slot), dst = listOf(to.parent, to.slot);
      var hit = findBlock(id);
      if (!src || !dst || !hit) { return; }
      var block = hit.list.splice(hit.index, 1)[0];
      dst.splice(Math.min(evt.newDraggableIndex, dst.length), 0, block);
    });
    state.selected = id;
  }

  function initPalette() {
    document.querySelectorAll("[data-palette]").forEach(function (el) {
      if (el._sortable) { return; }
      el._sortable = new Sortable(el, {
        group: { name: "hb", pull: "clone", put: false },
        sort: false,
        draggable: ".hb-palette-item",
        filter: ".hb-saved-delete",
        preventOnFilter: false,
        forceFallback: true,
        fallbackOnBody: true,
        fallbackTolerance: 3,
        onEnd: function (evt) {
          if (evt.to === evt.from || !evt.to.classList.contains("hb-list")) { return; }
          var to = evt.to.dataset;
          var blocks = newBlocks(evt.item);
          evt.item.remove();
          // newIndex: the palette item is not a ".hb-block", so the draggable index would not count it.
          insertBlocks(blocks, to.parent, to.slot, evt.newIndex, to.accepts);
        },
      });
    });
  }

  function newBlocks(item) {
    var source = item.dataset.blocks ? JSON.parse(item.dataset.blocks) : [state.defaults[item.dataset.type]];
    return source.map(withIds);
  }

  function insertBlocks(blocks, parentId, slot, index, kind) {
    var refused = blocks.filter(function (b) { return !accepts(kind, b.type); });
    if (refused.length) {
      note(label(refused[0].type) + " cannot go there" + (kind === "column" ? " (not inside a column)." : "."), "error");
      initSortables();
      return;
    }
    change(function () {
      var dst = listOf(parentId, slot);
      if (!dst) { return; }
      Array.prototype.splice.apply(dst, [Math.min(index, dst.length), 0].concat(blocks));
    });
    select(blocks[0].id);
  }

  // Keyboard and click on a palette item: add the block where the selection says.
  function addFromPalette(item) {
    var blocks = newBlocks(item);
    var at = placeFor(blocks);
    insertBlocks(blocks, at.parent, at.slot, at.index, at.kind);
  }

  // After the selected block, or at the end of the selected column. When that place cannot
  // hold the new blocks (Columns inside a column), after the nearest enclosing block that can.
  // With nothing selected: at the end of the email, but above a closing footer.
  function placeFor(blocks) {
    function fits(kind) { return blocks.every(function (b) { return accepts(kind, b.type); }); }
    var hit = state.selected && findBlock(state.selected);
    if (hit && hit.block.type === "column" && fits("column")) {
      return { parent: hit.block.id, slot: "children", index: hit.block.children.length, kind: "column" };
    }
    for (; hit; hit = hit.parent && findBlock(hit.parent.id)) {
      var kind = placeKind(hit);
      if (hit.block.type !== "column" && fits(kind)) {
        return { parent: hit.parent ? hit.parent.id : "", slot: hit.slot, index: hit.index + 1, kind: kind };
      }
    }
    var top = state.design.blocks, end = top.length;
    if (end && top[end - 1].type === "footer") { end -= 1; }
    return { parent: "", slot: "blocks", index: end, kind: "body" };
  }

  // What the list a block stands in accepts (as the canvas's data-accepts says): a condition
  // or a loop holds what its own place holds.
  function placeKind(hit) {
    if (!hit.parent) { return "body"; }
    var t = hit.parent.type;
    if (t === "column" || t === "section") { return t; }
    if (t === "container") { return "body"; }
    return placeKind(findBlock(hit.parent.id));
  }

  document.addEventListener("click", function (e) {
    var del = e.target.closest(".hb-saved-delete");
    if (del) { return; }
    var item = e.target.closest(".hb-palette-item");
    if (item) { addFromPalette(item); }
  });

  // -- Keyboard -------------------------------------------------------------------------------

  function typingIn(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }

  document.addEventListener("keydown", function (e) {
    var mod = e.ctrlKey || e.metaKey;
    if (mod && e.key.toLowerCase() === "z" && !typingIn(e.target)) {
      e.preventDefault();
      if (e.shiftKey) { restore(state.redo, state.undo); } else { restore(state.undo, state.redo); }
      return;
    }
    if (mod && e.key.toLowerCase() === "y" && !typingIn(e.target)) { e.preventDefault(); restore(state.redo, state.undo); return; }
    // Enter on a palette item adds it; not on the saved block's own delete button inside it.
    var item = e.target.closest && e.target.closest(".hb-palette-item");
    if (item && e.target === item && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); addFromPalette(item); return; }
    var blockEl = e.target.closest && e.target.closest("#hb-canvas .hb-block");
    if (blockEl && e.target === blockEl && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); select(blockEl.dataset.id, true); return; }
    // Esc leaves a block for the email's settings from anywhere but a field or a dialog (where it
    // belongs to them).
    if (e.key === "Escape" && state.selected && !typingIn(e.target) && !e.target.closest("dialog")) { select(null); return; }
    var id = shortcutTarget(e.target);
    if (!id) { return; }
    if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      blockAction(e.key === "ArrowUp" ? "up" : "down", id);
    } else if (mod && e.key.toLowerCase() === "d") {
      e.preventDefault();
      focusFollowsSelection = true;
      blockAction("duplicate", id);
    } else if (e.key === "Delete" || e.key === "Backspace") {
      e.preventDefault();
      focusFollowsSelection = true;
      blockAction("delete", id);
    }
  });

  // The block a shortcut acts on: the one that has focus on the canvas (or holds the focused
  // toolbar button), else the selected one when nothing in particular has focus. Never while
  // focus is in a field, a dialog, the palette or the toolbar: Delete there is not "delete a block".
  function shortcutTarget(el) {
    var blockEl = el.closest && el.closest("#hb-canvas .hb-block");
    if (blockEl) { return blockEl.dataset.id; }
    if (el === document.body && state.selected) { return state.selected; }
    return null;
  }

  // The canvas is replaced after every save. What had focus there (a block, or one of its
  // toolbar buttons) gets it back, so keyboard work carries on where it was; after Ctrl+D or
  // Delete, and when the block is gone, focus goes to the newly selected block.
  var focusMemo = null;
  var focusFollowsSelection = false;
  function rememberFocus() {
    var el = document.activeElement;
    var blockEl = el && canvas.contains(el) && el.closest(".hb-block");
    focusMemo = null;
    if (blockEl && focusFollowsSelection) { focusMemo = { id: state.selected, act: null }; }
    else if (blockEl) { focusMemo = { id: blockEl.dataset.id, act: el.classList.contains("hb-act") ? el.dataset.act : null }; }
    focusFollowsSelection = false;
  }

  function restoreFocus() {
    if (!focusMemo) { return; }
    var memo = focusMemo;
    focusMemo = null;
    var blockEl = blockElement(memo.id);
    var target = blockEl && memo.act ? blockEl.querySelector(':scope > .hb-bar [data-act="' + memo.act + '"]') : blockEl;
    if (!blockEl) { target = blockElement(state.selected); }
    if (target) { target.focus({ preventScroll: true }); }
  }

  function blockElement(id) { return id ? canvas.querySelector('.hb-block[data-id="' + id + '"]') : null; }

  // After every swap: selection, drag and drop and focus on the canvas; the panel's extras.
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.target === canvas) {
      initSortables();
      markSelected(false);
      restoreFocus();
    }
    if (e.target.id === "hb-saved") { initPalette(); }
    if (e.target === props) { panelLoaded(); }
  });

  // -- Properties panel --------------------------------------------------------------------------

  function readProp(input) {
    var kind = input.dataset.kind;
    if (kind === "bool") { return input.checked; }
    if (kind === "social") {
      return Array.prototype.map.call(input.querySelectorAll(".hb-social-row"), function (row) {
        return { network: row.querySelector('[data-social="network"]').value, href: row.querySelector('[data-social="href"]').value.trim() };
      });
    }
    var v = input.value;
    if (kind === "int") { return v === "" ? null : Number(v); }
    return v;
  }

  function propInput(e) {
    var input = e.target.closest("[data-prop],[data-meta],[data-setting]");
    if (!input) { return; }
    if (input.closest("[data-kind=social]")) { input = input.closest("[data-kind=social]"); }
    var value = readProp(input);
    var form = input.closest("form");
    if (input.dataset.meta) {
      change(function () { state.meta[input.dataset.meta] = value; }, { typingKey: "meta:" + input.dataset.meta });
    } else if (input.dataset.setting) {
      change(function () {
        if (value === null || value === "") { delete state.design.settings[input.dataset.setting]; }
        else { state.design.settings[input.dataset.setting] = value; }
      }, { typingKey: "setting:" + input.dataset.setting });
    } else if (form && form.dataset.block) {
      var hit = findBlock(form.dataset.block);
      if (!hit) { return; }
      var name = input.dataset.prop;
      change(function () {
        if (value === null || value === "") { delete hit.block.props[name]; } else { hit.block.props[name] = value; }
      }, { typingKey: form.dataset.block + ":" + name });
    }
  }
  props.addEventListener("input", propInput);
  props.addEventListener("change", function (e) { if (e.target.tagName === "SELECT" || e.target.type === "checkbox") { propInput(e); } });
  props.addEventListener("submit", function (e) { e.preventDefault(); });

  // Colour swatches write into their text field.
  props.addEventListener("input", function (e) {
    var target = e.target.dataset && e.target.dataset.colourFor;
    if (!target) { return; }
    var field = document.getElementById(target);
    field.value = e.target.value;
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });
  function syncColourSwatches() {
    props.querySelectorAll("[data-colour-for]").forEach(function (sw) {
      var field = document.getElementById(sw.dataset.colourFor);
      if (field && /^#[0-9a-fA-F]{6}$/.test(field.value)) { sw.value = field.value; }
    });
  }

  props.addEventListener("click", function (e) {
    var t = e.target.closest("button");
    if (!t) { return; }
    var form = t.closest("form");
    var blockId = form && form.dataset.block;
    if (t.hasAttribute("data-deselect")) { select(null); }
    else if (t.hasAttribute("data-select")) { select(t.dataset.select || null); }
    else if (t.dataset.blockAct) { blockAction(t.dataset.blockAct, blockId); }
    else if (t.hasAttribute("data-add-column")) { addColumn(blockId); }
    else if (t.hasAttribute("data-save-block")) { saveBlock(blockId); }
    else if (t.dataset.wrap) { wrapSelection(document.getElementById(t.dataset.target), t.dataset.wrap); }
    else if (t.dataset.insert) { insertText(document.getElementById(t.dataset.target), t.dataset.insert); }
    else if (t.dataset.socialAdd) { addSocialRow(document.getElementById(t.dataset.socialAdd)); }
    else if (t.hasAttribute("data-social-remove")) {
      var rows = t.closest("[data-kind=social]");
      if (rows.querySelectorAll(".hb-social-row").length > 1) {
        t.closest(".hb-social-row").remove();
        rows.dispatchEvent(new Event("input", { bubbles: true }));
      }
    } else if (t.dataset.pickImage) { openImagePicker(document.getElementById(t.dataset.pickImage)); }
  });

  function addColumn(sectionId) {
    var hit = findBlock(sectionId);
    if (!hit || hit.block.children.length >= 4) { return; }
    var col = withIds({ type: "column", props: {}, children: [clone(state.defaults.text)] });
    change(function () {
      hit.block.children.forEach(function (c) { delete c.props.width; });  // share the row equally again
      hit.block.children.push(col);
    });
    loadPanel();
  }

  function saveBlock(blockId) {
    var hit = findBlock(blockId);
    var input = document.getElementById("hb-save-block-name");
    var error = props.querySelector('[data-error-for="saved-name"]');
    if (!hit) { return; }
    if (!input.value.trim()) {
      error.textContent = "Give the block a name, e.g. Brand footer.";
      input.classList.add("is-invalid");
      input.focus();
      return;
    }
    error.textContent = "";
    input.classList.remove("is-invalid");
    htmx.ajax("POST", blockUrl, { target: "#hb-saved", swap: "innerHTML", values: { name: input.value, block: JSON.stringify(hit.block) } });
  }
  document.body.addEventListener("hb-block-saved", function (e) {
    note("Saved “" + e.detail.name + "” to your blocks: it is in the palette of every template.", "saved");
    var input = document.getElementById("hb-save-block-name");
    if (input) { input.value = ""; }
  });

  // A freshly loaded panel: colour swatches, where the block stands, whether its image is described.
  function panelLoaded() {
    syncColourSwatches();
    var form = document.getElementById("hb-panel-form");
    if (form) {
      fillMoveTargets(form.querySelector("[data-move-to]"), form.dataset.block);
      form.querySelector("h2").parentElement.before(breadcrumb(form.dataset.block));
      props.querySelectorAll("[data-alt-ask]").forEach(function (ask) { updateAltAsk(ask.previousElementSibling); });
    }
  }

  // "Email › Columns › Column 2 › Text": each enclosing block is one click (or Enter) away,
  // the only way to reach a Columns block whose single column fills it.
  function breadcrumb(id) {
    var nav = document.createElement("nav");
    nav.className = "hb-crumbs";
    nav.setAttribute("aria-label", "Where this block stands");
    var chain = [];
    for (var hit = findBlock(id); hit && hit.parent; hit = findBlock(hit.parent.id)) { chain.unshift(hit.parent); }
    crumb(nav, "", "Email");
    chain.forEach(function (b) { crumb(nav, b.id, crumbLabel(b)); });
    var here = document.createElement("span");
    here.setAttribute("aria-current", "location");
    here.textContent = crumbLabel(findBlock(id).block);
    nav.append(here);
    return nav;
  }

  function crumb(nav, id, text) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "hb-crumb";
    button.dataset.select = id;
    button.textContent = text;
    nav.append(button, " › ");
  }

  // Every place the block may go (as drag allows it), named by its path: "Columns 2 › Column 1".
  function moveTargets(blockId) {
    var moving = findBlock(blockId).block;
    var out = [{ parent: "", slot: "blocks", kind: "body", label: "The email itself (top level)" }];
    (function walk(blocks, path, kind) {
      blocks.forEach(function (b, i) {
        if (b.id === blockId) { return; }  // never into itself
        var name = path + label(b.type) + " " + (i + 1);
        if (b.type === "section") {
          b.children.forEach(function (col, j) {
            var colName = name + " › Column " + (j + 1);
            out.push({ parent: col.id, slot: "children", kind: "column", label: colName });
            walk(col.children, colName + " › ", "column");
          });
        } else if (b.type === "container" || b.type === "loop") {
          var inner = b.type === "container" ? "body" : kind;
          out.push({ parent: b.id, slot: "children", kind: inner, label: name });
          walk(b.children, name + " › ", inner);
        } else if (b.type === "conditional") {
          out.push({ parent: b.id, slot: "children", kind: kind, label: name + " › If" });
          walk(b.children, name + " › If › ", kind);
          out.push({ parent: b.id, slot: "else", kind: kind, label: name + " › Otherwise" });
          walk(b["else"], name + " › Otherwise › ", kind);
        }
      });
    })(state.design.blocks, "", "body");
    return out.filter(function (t) { return accepts(t.kind, moving.type); });
  }

  function fillMoveTargets(select, blockId) {
    if (!select) { return; }
    var hit = findBlock(blockId);
    moveTargets(blockId).forEach(function (t) {
      var here = (hit.parent ? hit.parent.id : "") === t.parent && hit.slot === t.slot;
      var opt = new Option(t.label + (here ? " (where it is)" : ""), JSON.stringify([t.parent, t.slot]));
      opt.disabled = here;
      select.add(opt);
    });
  }

  function moveTo(blockId, target) {
    var hit = findBlock(blockId);
    if (!hit) { return; }
    change(function () {
      var dst = listOf(target[0], target[1]);
      var block = hit.list.splice(hit.index, 1)[0];
      dst.push(block);
    });
    select(blockId, true);
  }

  props.addEventListener("change", function (e) {
    if (!e.target.matches("[data-move-to]") || !e.target.value) { return; }
    moveTo(e.target.closest("form").dataset.block, JSON.parse(e.target.value));
  });

  function crumbLabel(block) {
    if (block.type !== "column") { return label(block.type); }
    var hit = findBlock(block.id);
    return "Column " + (hit.index + 1);
  }

  function wrapSelection(area, tag) {
    var start = area.selectionStart, end = area.selectionEnd, text = area.value;
    var inner = text.slice(start, end) || (tag === "a" ? "link text" : "text");
    var open = "<" + tag + ">";
    if (tag === "a") {
      var href = window.prompt("Link address (https://…)", "https://");
      if (!href) { return; }
      open = '<a href="' + href.replace(/"/g, "&quot;") + '">';
    }
    area.value = text.slice(0, start) + open + inner + "</" + tag + ">" + text.slice(end);
    area.focus();
    area.setSelectionRange(start + open.length, start + open.length + inner.length);
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function insertText(area, snippet) {
    var start = area.selectionStart;
    area.value = area.value.slice(0, start) + snippet + area.value.slice(area.selectionEnd);
    area.focus();
    area.setSelectionRange(start + snippet.length, start + snippet.length);
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function addSocialRow(rows) {
    if (rows.querySelectorAll(".hb-social-row").length >= 12) { return; }
    var tpl = rows.querySelector("template[data-social-template]");
    rows.insertBefore(tpl.content.cloneNode(true), tpl);
    rows.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // -- Images -----------------------------------------------------------------------------------

  var imageDialog = document.getElementById("hb-image-dialog");
  var imageTarget = null;  // the panel field the chosen image's address goes into
  var uploadInput = document.getElementById("hb-upload");
  var uploadError = document.getElementById("hb-upload-error");
  var uploadStatus = document.getElementById("hb-upload-status");

  function openImagePicker(field) {
    imageTarget = field;
    uploadError.textContent = uploadUrl ? "" : "Uploads are not available here: paste the image's address instead.";
    uploadStatus.textContent = "";
    if (pickerUrl) { htmx.ajax("GET", pickerUrl, { target: "#hb-image-library", swap: "innerHTML" }); }
    imageDialog.showModal();
  }

  // The image's alternative text field: "alt" on an image block, "imageAlt" on a hero.
  var ALT_FOR = { src: "hb-f-alt", imageUrl: "hb-f-imageAlt" };

  // A new image block's alt is a placeholder ("Describe the image"), not a description.
  function undescribed(value) {
    return !value || value.trim() === state.defaults.image.props.alt;
  }

  // The note under an alternative text field shows while the image is not described.
  function updateAltAsk(field) {
    var ask = field && field.nextElementSibling;
    if (ask && ask.hasAttribute("data-alt-ask")) { ask.hidden = !undescribed(field.value); }
  }
  props.addEventListener("input", function (e) { updateAltAsk(e.target); });

  // Put the chosen image in, then ask for its description: the library's suggestion (from the
  // file name) is filled in and selected, so typing replaces it.
  function useImage(url, alt) {
    if (!imageTarget) { return; }
    imageTarget.value = url;
    imageTarget.dispatchEvent(new Event("input", { bubbles: true }));
    imageDialog.close();
    var altField = document.getElementById(ALT_FOR[imageTarget.dataset.prop]);
    if (!altField || !undescribed(altField.value)) { return; }
    altField.value = alt || "";
    altField.dispatchEvent(new Event("input", { bubbles: true }));
    altField.focus();
    altField.select();
    updateAltAsk(altField);
  }

  imageDialog.addEventListener("click", function (e) {
    var choice = e.target.closest(".hb-image-choice");
    if (choice) { useImage(choice.dataset.url, choice.dataset.alt); }
  });

  // The server checks every upload; checking type and size here first saves sending a
  // 30 MB photo only to hear it is too large.
  function uploadProblem(file) {
    var types = uploadInput.accept.split(",");
    var limit = Number(uploadInput.dataset.maxBytes);
    if (types.indexOf(file.type) < 0) {
      return "“" + file.name + "” is not a PNG, JPEG, GIF or WebP image. Choose an image file.";
    }
    if (limit && file.size > limit) {
      return "“" + file.name + "” is " + megabytes(file.size) + "; an image may be at most " + megabytes(limit) + ".";
    }
    return null;
  }
  function megabytes(n) { return (n / 1048576).toFixed(1) + " MB"; }

  uploadInput.addEventListener("change", function () {
    var file = uploadInput.files[0];
    if (!file || !uploadUrl) { return; }
    uploadError.textContent = uploadProblem(file) || "";
    if (uploadError.textContent) { uploadInput.value = ""; return; }
    var form = new FormData();
    form.append("file", file);
    uploadStatus.textContent = "Uploading “" + file.name + "”…";
    fetch(uploadUrl, { method: "POST", body: form, headers: { "X-CSRFToken": csrf }, credentials: "same-origin" })
      .then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; }, function () {
          return { ok: false, body: { error: "The image could not be uploaded (error " + r.status + ")." } };
        });
      })
      .then(function (res) {
        uploadInput.value = "";
        uploadStatus.textContent = "";
        if (!res.ok) { uploadError.textContent = res.body.error || "The image could not be uploaded."; return; }
        useImage(res.body.url, "");
      })
      .catch(function () {
        uploadStatus.textContent = "";
        uploadError.textContent = "The image could not be uploaded: the server could not be reached.";
      });
  });

  document.addEventListener("click", function (e) {
    var closer = e.target.closest("[data-close-dialog]");
    if (closer) { closer.closest("dialog").close(); }
  });

  // -- Views: edit, desktop and mobile preview ----------------------------------------------------

  function showView(view) {
    state.view = view;
    var preview = document.getElementById("hb-preview");
    canvas.hidden = view !== "canvas";
    preview.hidden = view === "canvas";
    if (view !== "canvas") { refreshPreview(); }
  }

  // Saves, view switches and the subscriber choice all ask for a preview: one request
  // answers a burst of them.
  var previewTimer = null;
  function refreshPreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(function () {
      flushed().then(function () {
        if (state.view === "canvas") { return; }
        htmx.ajax("POST", previewUrl, {
          target: "#hb-preview-body", swap: "innerHTML",
          values: { device: state.view, subscriber_id: previewSubscriber.value },
        });
      });
    }, 50);
  }

  document.querySelectorAll('input[name="hb-view"]').forEach(function (r) {
    r.addEventListener("change", function () { if (r.checked) { showView(r.value); } });
  });
  // The test is personalized as the subscriber being previewed, unless changed there.
  var previewSubscriber = document.getElementById("hb-preview-subscriber");
  previewSubscriber.addEventListener("change", function () {
    document.getElementById("hb-test-subscriber").value = previewSubscriber.value;
    refreshPreview();
  });

  // -- Test send ----------------------------------------------------------------------------------

  var testDialog = document.getElementById("hb-test-dialog");
  document.getElementById("hb-open-test").addEventListener("click", function () {
    document.getElementById("hb-test-result").textContent = "";
    testDialog.showModal();
  });
  // The test is of what is on screen: wait until the last change is saved.
  document.getElementById("hb-test-form").addEventListener("htmx:confirm", function (e) {
    if (!state.dirty && !state.saving) { return; }
    e.preventDefault();
    flushed().then(function () { e.detail.issueRequest(); });
  });

  document.getElementById("hb-undo").addEventListener("click", function () { restore(state.undo, state.redo); });
  document.getElementById("hb-redo").addEventListener("click", function () { restore(state.redo, state.undo); });

  initSortables();
  initPalette();
  syncColourSwatches();
  root.dataset.ready = "true";
})();
