// The layout designer (admin/layouts.html): arranges an object's record form (sections of
// fields) and its list columns, for everyone or for one role, and posts the whole layout
// document as JSON (the document PUT /api/v1/meta/objects/<object>/layout takes). The server
// checks it; this file only arranges.
//
// Every move can be made by dragging (SortableJS) or with the buttons beside each field,
// section and column, so keyboard and screen reader users can do all of it; each move is
// announced in a live region. Text from the metadata is always set as text, never as markup.
(function () {
  "use strict";
  const root = document.getElementById("layout-designer");
  if (!root) { return; }
  const data = JSON.parse(document.getElementById("ld-data").textContent);
  const T = JSON.parse(document.getElementById("ld-text").textContent);
  const fieldInfo = new Map(data.fields.map(function (f) { return [f.name, f]; }));
  const systemInfo = new Map(data.system.map(function (s) { return [s.name, s]; }));
  const fieldOrder = data.fields.map(function (f) { return f.name; });
  const role = data.role;
  const doc = data.doc;
  const own = role ? ((doc.roles || {})[role] || {}) : null;

  const sectionsBox = document.getElementById("ld-sections");
  const palette = document.getElementById("ld-palette");
  const columnsBox = document.getElementById("ld-columns");
  const columnChooser = document.getElementById("ld-add-column");
  const sortInput = document.getElementById("ld-sort");
  const statusBox = document.getElementById("ld-status");
  const formEditor = document.getElementById("ld-form-editor");
  const listEditor = document.getElementById("ld-list-editor");
  const ownForm = document.getElementById("ld-own-form");
  const ownList = document.getElementById("ld-own-list");
  const saveForm = document.getElementById("ld-save");
  const layoutInput = document.getElementById("ld-layout");
  // SortableJS's own pointer-driven dragging (not the browser's HTML5 drag and drop): it
  // behaves the same in every browser, with touch, and under test automation.
  const DRAG = { animation: 150, forceFallback: true, fallbackOnBody: true,
                 ghostClass: "ld-ghost", chosenClass: "ld-chosen", filter: "button, input, select",
                 preventOnFilter: false };
  const formSortables = [];
  const listSortables = [];
  let dirty = false;

  function fmt(text, values) {
    return String(text).replace(/%\((\w+)\)s/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function make(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function tool(act, symbol) {
    const b = make("button", { type: "button", "data-act": act, class: "ld-tool" });
    b.append(make("span", { "aria-hidden": "true" }, symbol));
    return b;
  }

  function announce(message) {
    statusBox.textContent = "";
    window.setTimeout(function () { statusBox.textContent = message; }, 50);
  }

  function changed() { dirty = true; }

  function clone(value) { return value === undefined ? undefined : JSON.parse(JSON.stringify(value)); }

  function fieldLabel(name) {
    const f = fieldInfo.get(name);
    return f ? f.label : name;
  }

  function columnLabel(name) {
    if (fieldInfo.has(name)) { return fieldInfo.get(name).label; }
    if (systemInfo.has(name)) { return systemInfo.get(name).label; }
    return name;
  }

  // -- the record form ------------------------------------------------------------------
  function fieldItem(name) {
    const info = fieldInfo.get(name);
    const li = make("li", { class: "ld-field", "data-field": name });
    li.append(make("span", { class: "ld-handle", "aria-hidden": "true" }, "⠿"));
    const text = make("span", { class: "ld-text" });
    text.append(make("span", { class: "ld-label" }, info ? info.label : name), " ",
                make("code", {}, name));
    li.append(text);
    const tags = make("span", { class: "ld-tags" });
    if (!info) {
      tags.append(make("span", { class: "tag ld-unknown" }, T.unknown));
    } else {
      tags.append(make("span", { class: "tag" }, (T.types || {})[info.type] || info.type));
      if (info.required) { tags.append(make("span", { class: "tag ld-required" }, T.required)); }
    }
    li.append(tags);
    const tools = make("span", { class: "ld-tools" });
    tools.append(tool("up", "↑"), tool("down", "↓"), tool("prev", "⇑"), tool("next", "⇓"),
                 tool("off", "✕"), tool("add", "+"));
    li.append(tools);
    return li;
  }

  function fieldLists() {
    return Array.prototype.slice.call(sectionsBox.querySelectorAll(".ld-section > .ld-fields"));
  }

  function sectionsOf() {
    return Array.prototype.slice.call(sectionsBox.children).filter(function (n) {
      return n.classList.contains("ld-section");
    });
  }

  function sortableList(list, group, sortables, onEnd) {
    if (typeof Sortable === "undefined") { return; }
    const options = Object.assign({}, DRAG, { group: group, onEnd: onEnd });
    sortables.push(Sortable.create(list, options));
  }

  function onFieldDrop(event) {
    if (event.to === palette) { sortPalette(); }
    refresh();
    changed();
    say(event.item);
  }

  function makeSection(section) {
    const box = make("div", { class: "ld-section", role: "group" });
    const head = make("div", { class: "ld-section-head" });
    const title = make("h3", { class: "ld-section-title" });
    title.append(make("span", { class: "ld-section-handle", "aria-hidden": "true" }, "⠿"),
                 make("span", { class: "ld-section-name" }));
    head.append(title);
    const label = section.label || {};
    const inputs = make("div", { class: "ld-section-inputs" });
    [["zh", T.labelZh], ["en", T.labelEn]].forEach(function (pair) {
      const wrap = make("label", { class: "ld-input" });
      wrap.append(make("span", {}, pair[1]));
      const input = make("input", { type: "text", maxlength: "200", class: "ld-label-" + pair[0],
                                    lang: pair[0] === "zh" ? "zh" : "en" });
      input.value = label[pair[0]] || "";
      input.addEventListener("input", changed);
      wrap.append(input);
      inputs.append(wrap);
    });
    const colWrap = make("label", { class: "ld-input" });
    colWrap.append(make("span", {}, T.columns));
    const columns = make("select", { class: "ld-columns-count" });
    const current = Number.isInteger(section.columns) ? section.columns : 2;
    const choices = data.columnChoices.slice();
    if (choices.indexOf(current) < 0) { choices.push(current); }
    choices.forEach(function (n) {
      const option = make("option", { value: String(n) }, String(n));
      if (n === current) { option.selected = true; }
      columns.append(option);
    });
    columns.addEventListener("change", function () { changed(); refresh(); });
    colWrap.append(columns);
    inputs.append(colWrap);
    head.append(inputs);
    const tools = make("span", { class: "ld-tools" });
    tools.append(tool("section-up", "↑"), tool("section-down", "↓"), tool("section-remove", "✕"));
    head.append(tools);
    box.append(head);
    const list = make("ul", { class: "ld-fields ld-drop", "data-empty": T.dropHere });
    (section.fields || []).forEach(function (name) { list.append(fieldItem(name)); });
    box.append(list);
    sortableList(list, "ld-fields", formSortables, onFieldDrop);
    return box;
  }

  function sortPalette() {
    const items = Array.prototype.slice.call(palette.children);
    items.sort(function (a, b) {
      return fieldOrder.indexOf(a.dataset.field) - fieldOrder.indexOf(b.dataset.field);
    });
    items.forEach(function (li) { palette.append(li); });
  }

  function drawForm(form) {
    formSortables.splice(0).forEach(function (s) { s.destroy(); });
    sectionsBox.textContent = "";
    palette.textContent = "";
    const placed = new Set();
    ((form && form.sections) || []).forEach(function (s) {
      sectionsBox.append(makeSection(s));
      (s.fields || []).forEach(function (n) { placed.add(n); });
    });
    fieldOrder.forEach(function (name) {
      if (!placed.has(name)) { palette.append(fieldItem(name)); }
    });
    sortableList(palette, "ld-fields", formSortables, onFieldDrop);
    if (typeof Sortable !== "undefined") {
      formSortables.push(Sortable.create(sectionsBox, Object.assign({}, DRAG, {
        group: "ld-sections", handle: ".ld-section-handle", draggable: ".ld-section",
        onEnd: function (event) {
          refresh(); changed();
          announce(fmt(T.sectionMoved, { n: sectionsOf().indexOf(event.item) + 1 }));
        }
      })));
    }
  }

  function readForm() {
    return { sections: sectionsOf().map(function (box) {
      const out = {};
      const label = {};
      ["zh", "en"].forEach(function (lang) {
        const value = box.querySelector(".ld-label-" + lang).value.trim();
        if (value) { label[lang] = value; }
      });
      if (Object.keys(label).length) { out.label = label; }
      out.columns = parseInt(box.querySelector(".ld-columns-count").value, 10);
      out.fields = Array.prototype.map.call(box.querySelector(".ld-fields").children,
                                            function (li) { return li.dataset.field; });
      return out;
    }) };
  }

  // -- the list -------------------------------------------------------------------------
  function columnItem(name) {
    const li = make("li", { class: "ld-column", "data-column": name });
    li.append(make("span", { class: "ld-handle", "aria-hidden": "true" }, "⠿"));
    const text = make("span", { class: "ld-text" });
    text.append(make("span", { class: "ld-label" }, columnLabel(name)), " ", make("code", {}, name));
    li.append(text);
    const tags = make("span", { class: "ld-tags" });
    if (systemInfo.has(name) && !fieldInfo.has(name)) {
      tags.append(make("span", { class: "tag" }, T.system));
    } else if (!fieldInfo.has(name)) {
      tags.append(make("span", { class: "tag ld-unknown" }, T.unknown));
    }
    li.append(tags);
    const tools = make("span", { class: "ld-tools" });
    tools.append(tool("col-up", "↑"), tool("col-down", "↓"), tool("col-remove", "✕"));
    li.append(tools);
    return li;
  }

  function drawList(listing) {
    listSortables.splice(0).forEach(function (s) { s.destroy(); });
    columnsBox.textContent = "";
    ((listing && listing.columns) || []).forEach(function (name) { columnsBox.append(columnItem(name)); });
    sortInput.value = (listing && listing.sort) || "";
    sortableList(columnsBox, "ld-columns", listSortables, function (event) {
      refresh(); changed();
      announce(fmt(T.columnAt, { label: columnLabel(event.item.dataset.column),
                                 pos: Array.prototype.indexOf.call(columnsBox.children, event.item) + 1 }));
    });
  }

  function readList() {
    const out = { columns: Array.prototype.map.call(columnsBox.children,
                                                    function (li) { return li.dataset.column; }) };
    const sort = sortInput.value.trim();
    if (sort) { out.sort = sort; }
    return out;
  }

  function fillColumnChooser() {
    const shown = new Set(Array.prototype.map.call(columnsBox.children,
                                                   function (li) { return li.dataset.column; }));
    const keep = columnChooser.value;
    columnChooser.textContent = "";
    [[T.fieldsGroup, data.fields], [T.systemGroup, data.system]].forEach(function (pair) {
      const group = make("optgroup", { label: pair[0] });
      pair[1].forEach(function (c) {
        if (!shown.has(c.name)) { group.append(make("option", { value: c.name }, c.label + " (" + c.name + ")")); }
      });
      if (group.children.length) { columnChooser.append(group); }
    });
    if (!columnChooser.options.length) {
      columnChooser.append(make("option", { value: "" }, T.noColumn));
    }
    if (keep) { columnChooser.value = keep; }
    if (columnChooser.selectedIndex < 0) { columnChooser.selectedIndex = 0; }
  }

  // -- labels, states and announcements -------------------------------------------------
  function label(button, text, hidden, disabled) {
    button.setAttribute("aria-label", text);
    button.title = text;
    button.hidden = !!hidden;
    button.disabled = !!disabled;
  }

  function refresh() {
    const sections = sectionsOf();
    sections.forEach(function (box, i) {
      const n = i + 1;
      box.querySelector(".ld-section-name").textContent = fmt(T.section, { n: n });
      box.setAttribute("aria-label", fmt(T.section, { n: n }));
      box.querySelector(".ld-section-handle").title = fmt(T.sectionHandle, { n: n });
      const list = box.querySelector(".ld-fields");
      list.setAttribute("aria-label", fmt(T.sectionFields, { n: n }));
      list.style.setProperty("--columns", box.querySelector(".ld-columns-count").value);
      label(box.querySelector("[data-act=section-up]"), fmt(T.sectionUp, { n: n }), false, i === 0);
      label(box.querySelector("[data-act=section-down]"), fmt(T.sectionDown, { n: n }), false,
            i === sections.length - 1);
      label(box.querySelector("[data-act=section-remove]"), fmt(T.sectionRemove, { n: n }), false,
            sections.length < 2);
      Array.prototype.forEach.call(list.children, function (li, j) {
        const values = { label: fieldLabel(li.dataset.field) };
        label(li.querySelector("[data-act=up]"), fmt(T.up, values), false, j === 0);
        label(li.querySelector("[data-act=down]"), fmt(T.down, values), false,
              j === list.children.length - 1);
        label(li.querySelector("[data-act=prev]"), fmt(T.prev, values), false, i === 0);
        label(li.querySelector("[data-act=next]"), fmt(T.next, values), false,
              i === sections.length - 1);
        label(li.querySelector("[data-act=off]"), fmt(T.off, values), false, false);
        label(li.querySelector("[data-act=add]"), fmt(T.add, values), true, false);
      });
    });
    Array.prototype.forEach.call(palette.children, function (li) {
      const values = { label: fieldLabel(li.dataset.field) };
      ["up", "down", "prev", "next", "off"].forEach(function (act) {
        label(li.querySelector("[data-act=" + act + "]"), fmt(T[act], values), true, true);
      });
      label(li.querySelector("[data-act=add]"), fmt(T.add, values), false, sections.length === 0);
    });
    const columns = columnsBox.children;
    Array.prototype.forEach.call(columns, function (li, j) {
      const values = { label: columnLabel(li.dataset.column) };
      label(li.querySelector("[data-act=col-up]"), fmt(T.colUp, values), false, j === 0);
      label(li.querySelector("[data-act=col-down]"), fmt(T.colDown, values), false, j === columns.length - 1);
      label(li.querySelector("[data-act=col-remove]"), fmt(T.colRemove, values), false, false);
    });
    fillColumnChooser();
  }

  function say(item) {
    const list = item.parentElement;
    const name = fieldLabel(item.dataset.field);
    if (list === palette) {
      announce(fmt(T.movedOff, { label: name }));
      return;
    }
    const section = sectionsOf().indexOf(list.parentElement) + 1;
    const pos = Array.prototype.indexOf.call(list.children, item) + 1;
    announce(fmt(T.movedTo, { label: name, n: section, pos: pos }));
  }

  // After a move the pressed button may be disabled or hidden at the item's new place:
  // keep the focus in the item (on the same action when it still applies).
  function focusIn(item, act) {
    const same = item.querySelector("[data-act=" + act + "]");
    if (same && !same.hidden && !same.disabled) { same.focus(); return; }
    const other = Array.prototype.find.call(item.querySelectorAll("button"),
                                            function (b) { return !b.hidden && !b.disabled; });
    if (other) { other.focus(); }
  }

  // -- actions ----------------------------------------------------------------------------
  function moveField(li, act) {
    const list = li.parentElement;
    const lists = fieldLists();
    const index = lists.indexOf(list);
    if (act === "up" && li.previousElementSibling) {
      list.insertBefore(li, li.previousElementSibling);
    } else if (act === "down" && li.nextElementSibling) {
      list.insertBefore(li.nextElementSibling, li);
    } else if (act === "prev" && index > 0) {
      lists[index - 1].append(li);
    } else if (act === "next" && index >= 0 && index < lists.length - 1) {
      lists[index + 1].prepend(li);
    } else if (act === "off") {
      palette.append(li);
      sortPalette();
    } else if (act === "add" && lists.length) {
      lists[lists.length - 1].append(li);
    } else {
      return;
    }
    refresh(); changed(); say(li); focusIn(li, act);
  }

  function moveSection(box, act) {
    if (act === "section-up" && box.previousElementSibling) {
      sectionsBox.insertBefore(box, box.previousElementSibling);
    } else if (act === "section-down" && box.nextElementSibling) {
      sectionsBox.insertBefore(box.nextElementSibling, box);
    } else if (act === "section-remove" && sectionsOf().length > 1) {
      const next = box.nextElementSibling || box.previousElementSibling;
      Array.prototype.slice.call(box.querySelector(".ld-fields").children)
        .forEach(function (li) { palette.append(li); });
      sortPalette();
      box.remove();
      refresh(); changed();
      announce(T.sectionRemoved);
      const target = next && next.querySelector(".ld-label-zh");
      if (target) { target.focus(); }
      return;
    } else {
      return;
    }
    refresh(); changed();
    announce(fmt(T.sectionMoved, { n: sectionsOf().indexOf(box) + 1 }));
    focusIn(box.querySelector(".ld-section-head"), act);
  }

  function moveColumn(li, act) {
    if (act === "col-up" && li.previousElementSibling) {
      columnsBox.insertBefore(li, li.previousElementSibling);
    } else if (act === "col-down" && li.nextElementSibling) {
      columnsBox.insertBefore(li.nextElementSibling, li);
    } else if (act === "col-remove") {
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      refresh(); changed();
      announce(fmt(T.columnRemoved, { label: columnLabel(li.dataset.column) }));
      if (next) { focusIn(next, "col-remove"); } else { columnChooser.focus(); }
      return;
    } else {
      return;
    }
    refresh(); changed();
    announce(fmt(T.columnAt, { label: columnLabel(li.dataset.column),
                               pos: Array.prototype.indexOf.call(columnsBox.children, li) + 1 }));
    focusIn(li, act);
  }

  root.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-act]");
    if (!button || button.disabled) { return; }
    const act = button.dataset.act;
    if (act.indexOf("section-") === 0) {
      moveSection(button.closest(".ld-section"), act);
    } else if (act.indexOf("col-") === 0) {
      moveColumn(button.closest(".ld-column"), act);
    } else {
      moveField(button.closest(".ld-field"), act);
    }
  });

  document.getElementById("ld-add-section").addEventListener("click", function () {
    const box = makeSection({ label: {}, columns: 2, fields: [] });
    sectionsBox.append(box);
    refresh(); changed();
    announce(fmt(T.sectionAdded, { n: sectionsOf().length }));
    box.querySelector(".ld-label-zh").focus();
  });

  document.getElementById("ld-add-column-button").addEventListener("click", function () {
    const name = columnChooser.value;
    if (!name) { return; }
    columnsBox.append(columnItem(name));
    refresh(); changed();
    announce(fmt(T.columnAt, { label: columnLabel(name), pos: columnsBox.children.length }));
    columnChooser.focus();
  });

  sortInput.addEventListener("input", changed);

  // -- a role's own parts ---------------------------------------------------------------
  function enable(editor, sortables, on) {
    editor.disabled = !on;
    editor.classList.toggle("ld-off", !on);
    sortables.forEach(function (s) { s.option("disabled", !on); });
  }

  if (ownForm) {
    ownForm.checked = !!own.form;
    ownForm.addEventListener("change", function () {
      if (!ownForm.checked) { drawForm(doc.form); refresh(); }
      enable(formEditor, formSortables, ownForm.checked);
      changed();
      announce(ownForm.checked ? T.ownOn : T.ownOff);
    });
  }
  if (ownList) {
    ownList.checked = !!own.list;
    ownList.addEventListener("change", function () {
      if (!ownList.checked) { drawList(doc.list); refresh(); }
      enable(listEditor, listSortables, ownList.checked);
      changed();
      announce(ownList.checked ? T.ownOn : T.ownOff);
    });
  }

  // -- the document -----------------------------------------------------------------------
  function serialize() {
    const out = { form: clone(doc.form), list: clone(doc.list), roles: clone(doc.roles) || {} };
    if (!role) {
      out.form = readForm();
      out.list = readList();
    } else {
      const part = {};
      if (ownForm.checked) { part.form = readForm(); }
      if (ownList.checked) { part.list = readList(); }
      if (part.form || part.list) { out.roles[role] = part; } else { delete out.roles[role]; }
    }
    if (!Object.keys(out.roles).length) { delete out.roles; }
    return out;
  }

  saveForm.addEventListener("submit", function () {
    layoutInput.value = JSON.stringify(serialize());
    dirty = false;
  });

  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  drawForm(role && own.form ? own.form : doc.form);
  drawList(role && own.list ? own.list : doc.list);
  refresh();
  if (role) {
    enable(formEditor, formSortables, ownForm.checked);
    enable(listEditor, listSortables, ownList.checked);
  }
  root.classList.add("ld-ready");
})();
