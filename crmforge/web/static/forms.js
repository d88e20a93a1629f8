// Applies the field states the server computes for a draft (visible, required,
// read-only): the /records/<object>/_state answer sends them in its HX-Trigger header.
// The server is the only evaluator; this file only shows its answer.
(function () {
  "use strict";
  const CHOOSERS = ["SELECT"];
  document.addEventListener("crmforge:states", function (event) {
    const states = event.detail || {};
    Object.keys(states).forEach(function (name) {
      const state = states[name];
      if (!state || typeof state !== "object" || !("visible" in state)) { return; }
      const box = document.getElementById("fld-" + name);
      if (!box) { return; }
      box.hidden = !state.visible;
      box.classList.toggle("is-required", !!state.required);
      if (box.dataset.editable !== "1") { return; }
      const input = box.querySelector("[name='" + name + "']");
      if (!input) { return; }
      input.setAttribute("aria-required", state.required ? "true" : "false");
      if (CHOOSERS.includes(input.tagName) || input.type === "checkbox") {
        input.disabled = !!state.readonly;
      } else {
        input.readOnly = !!state.readonly;
      }
    });
  });
})();

// Dependent picklists: each dependent select offers only the choices that go with its
// controlling field's current value (the page lists them in a JSON block; the server
// refuses any other combination anyway).
(function () {
  "use strict";
  function controllerValue(form, dep) {
    const ctrl = form.querySelector("[name='" + dep.controller + "']");
    if (!ctrl) { return dep.current; }
    if (ctrl.type === "checkbox") { return ctrl.checked ? "true" : "false"; }
    return ctrl.value || null;
  }
  function apply(form) {
    const block = form.querySelector("script.picklist-deps");
    if (!block) { return; }
    const deps = JSON.parse(block.textContent);
    Object.keys(deps).forEach(function (name) {
      const dep = deps[name];
      const select = form.querySelector("select[name='" + name + "']");
      if (!select) { return; }
      const value = controllerValue(form, dep);
      Array.from(select.options).forEach(function (option) {
        if (!option.value) { return; }
        const goesWith = dep.choices[option.value];
        const ok = goesWith === null || goesWith === undefined ||
          (value !== null && goesWith.includes(value));
        option.hidden = !ok;
        option.disabled = !ok;
        if (!ok && option.selected) { option.selected = false; }
      });
    });
  }
  document.addEventListener("change", function (event) {
    const form = event.target.closest && event.target.closest("form.record-form");
    if (form) { apply(form); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.record-form").forEach(apply);
  });
})();

// Input typed before the deferred scripts ran fired no event htmx could hear. Once htmx
// has processed the page, a form that was already edited asks the server once, so the
// live values and field states never wait for the next keystroke.
(function () {
  "use strict";
  function edited(form) {
    return Array.from(form.elements).find(function (el) {
      if (el.type === "checkbox" || el.type === "radio") { return el.checked !== el.defaultChecked; }
      if (el.tagName === "SELECT") {
        return Array.from(el.options).some(function (o) { return o.selected !== o.defaultSelected; });
      }
      return el.type !== "file" && "defaultValue" in el && el.value !== el.defaultValue;
    });
  }
  if (!window.htmx) { return; }
  window.htmx.onLoad(function (elt) {
    if (elt !== document.body) { return; }
    document.querySelectorAll("form").forEach(function (form) {
      const field = edited(form);
      if (field) { field.dispatchEvent(new Event("change", { bubbles: true })); }
    });
  });
})();

// Lookups: the search box beside a lookup's select asks the server as the user types
// (htmx). Without scripts it would only send the form, so it starts hidden and shows
// here; the select alone (current, recent and first records) is the fallback. Enter in
// the box searches instead of saving the form.
(function () {
  "use strict";
  function show() {
    document.querySelectorAll("input[data-lookup-search]").forEach(function (box) {
      box.hidden = false;
    });
  }
  document.addEventListener("keydown", function (event) {
    const box = event.target;
    if (event.key === "Enter" && box && box.matches && box.matches("input[data-lookup-search]")) {
      event.preventDefault();
      box.dispatchEvent(new Event("search", { bubbles: true }));
    }
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", show);
  } else {
    show();
  }
})();
