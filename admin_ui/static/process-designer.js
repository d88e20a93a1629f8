// The BPMN editor of an approval process: bpmn-js's Modeler plus a small properties
// panel. The panel writes what import_bpmn reads, through the modeler's own API (so
// undo works and the XML stays the modeler's): a user task's step as the
// crmforge:step attribute (JSON), the process settings as crmforge:process, and a
// flow's condition as its bpmn:conditionExpression. Save sends the XML in a plain form.
(function () {
  "use strict";

  const CRMFORGE = {
    name: "CRMForge", prefix: "crmforge", uri: "https://crmforge.dev/schema/bpmn",
    xml: { tagAlias: "lowerCase" }, associations: [],
    types: [
      { name: "Step", extends: ["bpmn:UserTask"],
        properties: [{ name: "step", isAttr: true, type: "String" }] },
      { name: "Settings", extends: ["bpmn:Process"],
        properties: [{ name: "process", isAttr: true, type: "String" }] },
    ],
  };
  const FLAGS = ["manager", "department_head", "chosen_by_previous"];

  const data = JSON.parse(document.getElementById("designer-data").textContent);
  const canvasBox = document.getElementById("canvas");
  const panel = document.getElementById("props");
  const modeler = new window.BpmnJS({ container: canvasBox, moddleExtensions: { crmforge: CRMFORGE } });
  window.crmforgeModeler = modeler;
  const modeling = modeler.get("modeling");
  const canvas = modeler.get("canvas");
  let current = null;  // the element the panel shows (null: the process)

  function parse(text) {
    try { return JSON.parse(text || "{}") || {}; } catch (e) { return {}; }
  }

  function input(section, key) {
    return panel.querySelector(`fieldset[data-for="${section}"] [data-key="${key}"]`);
  }

  function rootBo() {  // none while a diagram is being opened
    const root = canvas.getRootElement();
    return root && root.businessObject && root.businessObject.$type === "bpmn:Process" ? root.businessObject : null;
  }

  function kindOf(element) {
    if (!element || element === canvas.getRootElement()) { return rootBo() ? "process" : "none"; }
    const type = element.businessObject && element.businessObject.$type;
    if (type === "bpmn:UserTask") { return "task"; }
    if (type === "bpmn:SequenceFlow") { return "flow"; }
    return "none";
  }

  function defaultStepName(id) {
    const name = id.toLowerCase().replace(/^task_/, "").replace(/[^a-z0-9_]+/g, "_")
      .replace(/_+/g, "_").replace(/^_|_$/g, "");
    return /^[a-z]/.test(name) ? name.slice(0, 30) : ("step_" + name).slice(0, 30);
  }

  function labelOf(labels) {
    return labels[data.lang] || labels.en || labels.zh || "";
  }

  function show(element) {
    current = element && element !== canvas.getRootElement() ? element : null;
    const kind = kindOf(element);
    panel.querySelectorAll("fieldset[data-for]").forEach((f) => { f.hidden = f.dataset.for !== kind; });
    document.getElementById("props-none").hidden = kind !== "none";
    if (kind === "process") {
      const settings = parse(rootBo().get("crmforge:process"));
      const label = settings.label || {};
      input("process", "label_zh").value = label.zh || "";
      input("process", "label_en").value = label.en || "";
      input("process", "entry_criteria").value = settings.entry_criteria || "";
    } else if (kind === "task") {
      const bo = element.businessObject;
      const step = parse(bo.get("crmforge:step"));
      const approvers = step.approvers || {};
      const label = step.label || (bo.name ? { [data.lang]: bo.name } : {});
      input("task", "name").value = step.name || defaultStepName(bo.id);
      input("task", "label_zh").value = label.zh || "";
      input("task", "label_en").value = label.en || "";
      input("task", "mode").value = step.mode || "single";
      input("task", "pass_rate").value = step.pass_rate === undefined ? "" : step.pass_rate;
      input("task", "users").value = (approvers.users || []).join(", ");
      input("task", "role").value = approvers.role || "";
      input("task", "field").value = approvers.field || "";
      FLAGS.forEach((flag) => { input("task", flag).checked = Boolean(approvers[flag]); });
    } else if (kind === "flow") {
      const cond = element.businessObject.conditionExpression;
      input("flow", "condition").value = cond ? cond.body || "" : "";
    }
  }

  function text(section, key) {
    return input(section, key).value.trim();
  }

  function labels(section) {
    const out = {};
    ["zh", "en"].forEach((lang) => { if (text(section, "label_" + lang)) { out[lang] = text(section, "label_" + lang); } });
    return out;
  }

  function writeProcess() {
    const root = canvas.getRootElement();
    const settings = parse(rootBo().get("crmforge:process"));
    const label = labels("process");
    if (Object.keys(label).length) { settings.label = label; } else { delete settings.label; }
    if (text("process", "entry_criteria")) { settings.entry_criteria = text("process", "entry_criteria"); } else { delete settings.entry_criteria; }
    modeling.updateProperties(root, { "crmforge:process": JSON.stringify(settings) });
  }

  function writeTask(element) {
    const step = parse(element.businessObject.get("crmforge:step"));
    step.name = text("task", "name") || defaultStepName(element.businessObject.id);
    const label = labels("task");
    if (Object.keys(label).length) { step.label = label; } else { delete step.label; }
    step.mode = text("task", "mode") || "single";
    const rate = text("task", "pass_rate");
    if (rate) { step.pass_rate = Number(rate); } else { delete step.pass_rate; }
    const approvers = {};
    const users = text("task", "users").split(",").map((u) => u.trim()).filter(Boolean);
    if (users.length) { approvers.users = Array.from(new Set(users)); }
    if (text("task", "role")) { approvers.role = text("task", "role"); }
    if (text("task", "field")) { approvers.field = text("task", "field"); }
    FLAGS.forEach((flag) => { if (input("task", flag).checked) { approvers[flag] = true; } });
    step.approvers = approvers;
    modeling.updateProperties(element, { "crmforge:step": JSON.stringify(step), name: labelOf(label) || undefined });
  }

  function writeFlow(element) {
    const body = text("flow", "condition");
    const expression = body ? modeler.get("moddle").create("bpmn:FormalExpression", { body }) : undefined;
    modeling.updateProperties(element, { conditionExpression: expression });
  }

  function write() {
    const kind = kindOf(current);
    if (kind === "process") { writeProcess(); } else if (kind === "task") { writeTask(current); } else if (kind === "flow") { writeFlow(current); }
  }

  panel.addEventListener("input", write);
  panel.addEventListener("change", write);
  panel.addEventListener("submit", (event) => { event.preventDefault(); });

  modeler.on("selection.changed", (event) => { show(event.newSelection.length === 1 ? event.newSelection[0] : null); });

  const save = document.getElementById("save-diagram");
  if (save) {
    save.addEventListener("submit", (event) => {
      event.preventDefault();
      modeler.saveXML({ format: true }).then(({ xml }) => {
        save.elements.bpmn.value = xml;
        save.submit();
      });
    });
  }

  const opened = data.xml ? modeler.importXML(data.xml) : modeler.createDiagram();
  opened.then(() => {
    canvas.zoom("fit-viewport");
    show(null);
    canvasBox.dataset.ready = "1";
  }).catch((error) => {
    canvasBox.dataset.failed = String(error && error.message);
  });
})();
