// The automation rule form: show only the inputs of each row's chosen action type, and the
// date inputs only for date rules. Without this script every input shows; the server
// reads only those of the chosen type.
(function () {
  "use strict";
  function sync(form) {
    form.querySelectorAll("fieldset.action").forEach(function (row) {
      var select = row.querySelector("select[name$='-type']");
      var kind = select ? select.value : "";
      row.querySelectorAll("[data-action]").forEach(function (part) {
        part.hidden = part.getAttribute("data-action").split(" ").indexOf(kind) < 0;
      });
    });
    var when = form.querySelector("select[name='when']");
    form.querySelectorAll("[data-when]").forEach(function (part) {
      part.hidden = !when || when.value !== part.getAttribute("data-when");
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form.automation-form");
    if (!form) { return; }
    form.addEventListener("change", function () { sync(form); });
    sync(form);
  });
})();
