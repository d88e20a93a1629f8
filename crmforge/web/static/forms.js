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
