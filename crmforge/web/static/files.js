// Files on the record page: a drop zone that attaches the files dropped on it, and file
// inputs that upload as soon as files are chosen. Without this script the same forms work
// with their Upload buttons. A file above the size limit is refused here, before it is
// sent (the server refuses it anyway); the message comes from the page, in its language.
(function () {
  "use strict";

  function tooLarge(zone, files) {
    const max = parseInt((zone && zone.dataset.maxBytes) || "0", 10);
    if (!max) { return null; }
    for (let i = 0; i < files.length; i += 1) {
      if (files[i].size > max) { return files[i].name; }
    }
    return null;
  }

  function send(input, files) {
    const form = input.form;
    if (!form) { return; }
    const zone = input.closest("[data-dropzone]");
    const big = tooLarge(zone, files);
    if (big !== null) {
      const status = zone.querySelector(".drop-status");
      if (status) { status.textContent = zone.dataset.tooLarge.replace("{name}", big); }
      input.value = "";
      return;
    }
    if (files !== input.files) { input.files = files; }
    form.requestSubmit();
  }

  function setUp(zone) {
    const input = zone.querySelector("input[type=file]");
    if (!input) { return; }
    zone.classList.add("is-ready");
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("is-over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.remove("is-over");
      });
    });
    zone.addEventListener("drop", function (event) {
      const files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) { send(input, files); }
    });
  }

  document.addEventListener("change", function (event) {
    const input = event.target;
    if (input instanceof HTMLInputElement && input.type === "file" &&
        input.hasAttribute("data-autosubmit") && input.files && input.files.length) {
      send(input, input.files);
    }
  });

  function start() {
    document.querySelectorAll("[data-dropzone]").forEach(setUp);
    // Files chosen before this script ran (their change event found nobody listening) are
    // sent now, as they would have been then.
    document.querySelectorAll("input[type=file][data-autosubmit]").forEach(function (input) {
      if (input.files && input.files.length) { send(input, input.files); }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
