// The list page and its board. Everything here enhances plain forms that work without
// JavaScript: the server does the rest.
// - "Select all" ticks or clears every row's box of the mass-action form (mixed when only
//   some are ticked).
// - The filter form shows the conditions of a field as soon as it is chosen (the page is
//   asked again, as the "Choose field" button would), the second input only for
//   "between" and no input for "is empty".
// - On the board, a card dragged to another column is moved by the same form its
//   "Move" button sends; a refused move puts the card back and shows why.
(function () {
  "use strict";
  function rows() {
    return Array.prototype.slice.call(
      document.querySelectorAll("input[type=checkbox][name=id][form=mass]"));
  }
  document.addEventListener("change", function (event) {
    const box = event.target;
    const all = document.querySelector("[data-select-all]");
    if (!all || !(box instanceof HTMLInputElement)) { return; }
    if (box === all) {
      rows().forEach(function (r) { r.checked = all.checked; });
    } else if (box.name === "id") {
      const ticked = rows().filter(function (r) { return r.checked; }).length;
      all.checked = ticked > 0 && ticked === rows().length;
      all.indeterminate = ticked > 0 && ticked < rows().length;
    }
  });

  function filterForm() {
    const form = document.getElementById("filter-form");
    if (!form) { return; }
    const field = form.querySelector("[data-filter-field]");
    const pick = form.querySelector("[data-pick]");
    const op = form.querySelector("[data-filter-op]");
    if (field && pick) {
      pick.hidden = true;
      field.addEventListener("change", function () {
        if (!field.value) { return; }
        const marker = document.createElement("input");
        marker.type = "hidden";
        marker.name = "pick";
        marker.value = "1";
        form.appendChild(marker);
        ["fo", "fv", "fv2"].forEach(function (name) {
          form.querySelectorAll("[name=" + name + "]").forEach(function (el) {
            el.disabled = true;
          });
        });
        form.submit();
      });
    }
    function fit() {
      if (!op) { return; }
      const between = form.querySelector("[data-between]");
      const value = form.querySelector("[data-filter-value]");
      if (between) { between.hidden = op.value !== "between"; }
      if (value) { value.hidden = op.value === "isnull" || op.value === "notnull"; }
    }
    if (op) { op.addEventListener("change", fit); fit(); }
  }

  function board() {
    const root = document.getElementById("kanban");
    if (!root || !root.hasAttribute("data-movable") || !window.Sortable) { return; }
    const problem = document.getElementById("board-problem");
    function count(list, delta) {
      const badge = list.closest(".kanban-column").querySelector("[data-count]");
      const text = badge.textContent.trim();
      const plus = text.endsWith("+");
      const n = parseInt(text.replace(/[^0-9]/g, ""), 10);
      if (!isNaN(n)) { badge.textContent = (n + delta).toLocaleString("en-US") + (plus ? "+" : ""); }
    }
    function putBack(card, from, index) {
      const ref = from.children[index] || null;
      from.insertBefore(card, ref);
    }
    root.querySelectorAll("[data-kanban-column]").forEach(function (list) {
      window.Sortable.create(list, {
        // The pointer's own events (not the browser's drag and drop): the same on touch
        // screens and mice; the card's form controls stay clickable.
        group: "kanban", animation: 150, draggable: ".kanban-card", forceFallback: true,
        filter: "select, button, input, label", preventOnFilter: false,
        onEnd: function (evt) {
          if (evt.from === evt.to) { return; }
          const card = evt.item;
          const data = new FormData();
          data.append("csrf_token", root.dataset.csrf);
          data.append("field", root.dataset.field);
          data.append("value", evt.to.dataset.value);
          data.append("version", card.dataset.version);
          data.append("back", root.dataset.back);
          card.setAttribute("aria-busy", "true");
          fetch(card.dataset.move, {
            method: "POST", body: data, credentials: "same-origin",
            headers: {"Accept": "application/json", "X-CSRF-Token": root.dataset.csrf}
          }).then(function (response) {
            return response.json().then(function (body) {
              return {ok: response.ok && body.moved === true, body: body};
            });
          }).then(function (answer) {
            card.removeAttribute("aria-busy");
            if (!answer.ok) {
              putBack(card, evt.from, evt.oldIndex);
              problem.textContent = (answer.body && answer.body.error && answer.body.error.message) || "";
              problem.className = "error";
              problem.hidden = false;
              return;
            }
            problem.hidden = true;
            card.dataset.version = String(answer.body.version);
            const form = card.querySelector("form.kanban-move");
            if (form) {
              form.querySelector("[name=version]").value = String(answer.body.version);
              form.querySelector("[name=value]").value = evt.to.dataset.value;
            }
            count(evt.from, -1);
            count(evt.to, 1);
          }).catch(function () {
            card.removeAttribute("aria-busy");
            putBack(card, evt.from, evt.oldIndex);
            problem.textContent = root.dataset.offline || "";
            problem.className = "error";
            problem.hidden = false;
          });
        }
      });
    });
  }

  function start() { filterForm(); board(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
