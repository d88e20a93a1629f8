/* The role page without round trips: the filter box hides the objects it does not find as
   you type, and the "All" buttons tick boxes or set field selects on the page instead of
   posting (without a script they post, and the server does the same). Nothing is saved
   until "Save role" or "Save this object". Rows the filter hides are still posted as they
   are, so nothing typed in them is lost. */
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#grants tbody tr[data-filter]"));
  }

  function filter(input, count) {
    var query = input.value.trim().toLowerCase();
    var all = rows();
    var shown = 0;
    all.forEach(function (row) {
      var match = !query || row.getAttribute("data-filter").indexOf(query) !== -1;
      row.hidden = !match;
      if (match) { shown += 1; }
    });
    if (count && count.dataset.template) {
      count.textContent = count.dataset.template.replace("{shown}", String(shown))
        .replace("{total}", count.dataset.total || String(all.length));
    }
  }

  function tick(boxes) {
    boxes.forEach(function (box) { box.checked = true; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("grants");
    if (!table) { return; }
    var input = document.getElementById("role-filter");
    var count = document.getElementById("role-filter-count");
    if (input) {
      input.addEventListener("input", function () { filter(input, count); });
    }
    table.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) { return; }
      var column = button.getAttribute("data-column");
      var row = button.getAttribute("data-row");
      var fields = button.getAttribute("data-all-fields");
      if (column) {
        event.preventDefault();
        tick(rows().filter(function (r) { return !r.hidden; }).map(function (r) {
          return r.querySelector("input[type=checkbox][value='" + column + "'][name^='ops.']");
        }).filter(Boolean));
      } else if (row) {
        event.preventDefault();
        var tr = document.getElementById("grant-" + row);
        tick(Array.prototype.slice.call(tr.querySelectorAll("input[type=checkbox][name='ops." + row + "']")));
      } else if (fields) {
        event.preventDefault();
        var value = document.getElementById("all-access-" + fields).value;
        document.querySelectorAll("select[data-object='" + fields + "']").forEach(function (select) {
          select.value = value;
        });
      }
    });
  });
}());
