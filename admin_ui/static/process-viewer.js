// The saved version's diagram beside the process form: bpmn-js's NavigatedViewer (pan
// and zoom) over the BPMN the server compiles; the form works without it.
(function () {
  "use strict";
  const box = document.getElementById("process-diagram");
  if (!box || !window.BpmnJS) { return; }
  const viewer = new window.BpmnJS({ container: box });
  fetch(box.dataset.src, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(String(r.status)))))
    .then((xml) => viewer.importXML(xml))
    .then(() => {
      viewer.get("canvas").zoom("fit-viewport");
      box.dataset.ready = "1";
    })
    .catch(() => {
      box.dataset.failed = "1";
      document.getElementById("diagram-failed").hidden = false;
    });
})();
