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

  // Where a block may stand: mirrors the server's schema (PLACES).
  var CONTENT = ["divider", "spacer", "header", "text", "image", "button", "link", "hero", "footer", "social", "variable", "conditional", "loop"];
  function accepts(kind, type) {
    if (kind === "section") { return type === "column"; }
    if (kind === "column") { return CONTENT.indexOf(type) >= 0; }
    return type !== "column";
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
    statusEl.dataset.state = kind;
    statusEl.className = "hb-status small " + (kind === "error" ? "text-danger" : kind === "saving" ? "text-secondary" : "text-success");
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
    htmx.ajax("POST", saveUrl, { target: "#hb-canvas", swap: "innerHTML", values: payload() }).then(function () {
      state.saving = false;
      if (state.pending) { state.pending = false; save(); }
    }, function () {
      state.saving = false;
      state.dirty = true;
      setStatus("Not saved: the server could not be reached. Your changes are kept here; they save on the next edit.", "error");
    });
  }

  // Resolve once every change has reached the server (before a preview or a test send).
  function flushed() {
    return new Promise(function (resolve) {
      (function wait() {
        if (!state.saving && !state.dirty) { resolve(); return; }
        if (state.dirty && !state.saving) { clearTimeout(saveTimer); save(); }
        setTimeout(wait, 60);
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

  // A change not yet saved when the page closes is sent on the way out.
  window.addEventListener("beforeunload", function () {
    if (!state.dirty && !state.saving) { return; }
    var form = new FormData();
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
    if (act === "up" || act === "down") {
      var to = hit.index + (act === "up" ? -1 : 1);
      if (to < 0 || to >= hit.list.length) { return; }
      change(function () { hit.list.splice(to, 0, hit.list.splice(hit.index, 1)[0]); });
      state.selected = id;
    } else if (act === "duplicate") {
      var copy = withIds(hit.block);
      if (hit.block.type === "column" && hit.list.length >= 4) { setStatus("A section holds at most 4 columns.", "error"); return; }
      change(function () { hit.list.splice(hit.index + 1, 0, copy); });
      select(copy.id);
    } else if (act === "delete") {
      if (hit.block.type === "column" && hit.list.length <= 1) {
        setStatus("A section needs at least one column: delete the section instead.", "error");
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
      setStatus("A " + refused[0].type + " cannot go there" + (kind === "column" ? " (not inside a column)." : "."), "error");
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

  // Keyboard and click on a palette item: add after the selected block (or at the end).
  function addFromPalette(item) {
    var blocks = newBlocks(item);
    var hit = state.selected && findBlock(state.selected);
    if (hit && hit.block.type !== "column") {
      var kind = hit.parent && hit.parent.type === "column" ? "column" : (hit.parent ? containerKind(hit) : "body");
      insertBlocks(blocks, hit.parent ? hit.parent.id : "", hit.slot, hit.index + 1, kind);
    } else if (hit && hit.block.type === "column") {
      insertBlocks(blocks, hit.block.id, "children", hit.block.children.length, "column");
    } else {
      insertBlocks(blocks, "", "blocks", state.design.blocks.length, "body");
    }
  }

  function containerKind(hit) {
    var el = canvas.querySelector('.hb-list[data-parent="' + hit.parent.id + '"][data-slot="' + hit.slot + '"]');
    return el ? el.dataset.accepts : "body";
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
    var item = e.target.closest && e.target.closest(".hb-palette-item");
    if (item && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); addFromPalette(item); return; }
    var blockEl = e.target.closest && e.target.closest("#hb-canvas .hb-block");
    if (blockEl && e.target === blockEl && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); select(blockEl.dataset.id, true); return; }
    if (typingIn(e.target) || !state.selected) { return; }
    if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      var id = state.selected;
      blockAction(e.key === "ArrowUp" ? "up" : "down", id);
      refocusAfterSave(id);
    } else if (mod && e.key.toLowerCase() === "d") {
      e.preventDefault();
      blockAction("duplicate", state.selected);
      refocusAfterSave(state.selected);
    } else if (e.key === "Delete" || e.key === "Backspace") {
      e.preventDefault();
      blockAction("delete", state.selected);
      refocusAfterSave(state.selected);
    } else if (e.key === "Escape") {
      select(null);
    }
  });

  var refocusId = null;
  function refocusAfterSave(id) { refocusId = id; }

  // After every canvas swap: selection, drag and drop, focus.
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.target === canvas) {
      initSortables();
      markSelected(false);
      if (refocusId) {
        var el = canvas.querySelector('.hb-block[data-id="' + (state.selected || refocusId) + '"]');
        if (el) { el.focus(); }
        refocusId = null;
      }
    }
    if (e.target.id === "hb-saved") { initPalette(); }
    if (e.target === props) { syncColourSwatches(); }
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
    var name = document.getElementById("hb-save-block-name").value;
    if (!hit) { return; }
    htmx.ajax("POST", blockUrl, { target: "#hb-saved", swap: "innerHTML", values: { name: name, block: JSON.stringify(hit.block) } });
  }
  document.body.addEventListener("hb-block-saved", function (e) {
    setStatus("Saved “" + e.detail.name + "” to your blocks.", "saved");
  });

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
  var imageTarget = null;

  function openImagePicker(field) {
    imageTarget = field;
    document.getElementById("hb-upload-error").textContent = uploadUrl ? "" : "Uploads are not available.";
    if (pickerUrl) { htmx.ajax("GET", pickerUrl, { target: "#hb-image-library", swap: "innerHTML" }); }
    imageDialog.showModal();
  }

  function useImage(url, alt) {
    if (!imageTarget) { return; }
    imageTarget.value = url;
    imageTarget.dispatchEvent(new Event("input", { bubbles: true }));
    imageDialog.close();
    var altField = document.getElementById("hb-f-alt");
    if (altField && !altField.value) {
      if (alt) { altField.value = alt; altField.dispatchEvent(new Event("input", { bubbles: true })); }
      altField.focus();
      var slot = props.querySelector('[data-error-for="alt"]');
      if (slot && !alt) { slot.textContent = "Describe the image for people who cannot see it."; }
    }
  }

  imageDialog.addEventListener("click", function (e) {
    var choice = e.target.closest(".hb-image-choice");
    if (choice) { useImage(choice.dataset.url, choice.dataset.alt); }
  });

  document.getElementById("hb-upload").addEventListener("change", function (e) {
    var file = e.target.files[0];
    var err = document.getElementById("hb-upload-error");
    if (!file || !uploadUrl) { return; }
    var form = new FormData();
    form.append("file", file);
    err.textContent = "Uploading…";
    fetch(uploadUrl, { method: "POST", body: form, headers: { "X-CSRFToken": csrf }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        e.target.value = "";
        if (!res.ok) { err.textContent = res.body.error || "The image could not be uploaded."; return; }
        err.textContent = "";
        useImage(res.body.url, "");
      })
      .catch(function () { err.textContent = "The image could not be uploaded (network error)."; });
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

  function refreshPreview() {
    flushed().then(function () {
      htmx.ajax("POST", previewUrl, {
        target: "#hb-preview-body", swap: "innerHTML",
        values: { device: state.view, subscriber_id: document.getElementById("hb-preview-subscriber").value },
      });
    });
  }

  document.querySelectorAll('input[name="hb-view"]').forEach(function (r) {
    r.addEventListener("change", function () { if (r.checked) { showView(r.value); } });
  });
  document.getElementById("hb-preview-subscriber").addEventListener("change", refreshPreview);

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
