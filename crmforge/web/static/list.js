// The list page's "Select all" box: ticks or clears every row's box of the mass-action
// form, and shows mixed when only some are ticked. Without JavaScript each row is ticked
// on its own; the server does the rest.
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
})();
