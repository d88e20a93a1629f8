// The import wizard (/imports): upload, map the columns, run, watch, read the errors,
// download the error file, undo. Everything goes through the JSON API with the session and
// its CSRF token; the server checks every choice again. Texts come from the page (a JSON
// block in the page's language); values from files are shown as text, never as markup.
(function () {
  "use strict";
  const root = document.getElementById("import-wizard");
  if (!root) { return; }
  const T = JSON.parse(document.getElementById("import-texts").textContent);
  const lang = root.dataset.lang || "en";
  const csrf = (document.querySelector("meta[name=csrf-token]") || {}).content || "";
  const upload = document.getElementById("import-upload");
  const map = document.getElementById("import-map");
  const result = document.getElementById("import-result");
  const problem = document.getElementById("import-problem");
  const FINISHED = ["done", "failed", "cancelled"];
  let preview = null;

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, name) {
      return values[name] === undefined ? "" : String(values[name]);
    });
  }
  function label(item) {
    const labels = item.label || {};
    return labels[lang] || labels.en || labels.zh || item.name;
  }
  function el(tag, text) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function showProblem(message) {
    problem.textContent = message || "";
    problem.hidden = !message;
  }
  async function api(method, path, body) {
    const sep = path.indexOf("?") < 0 ? "?" : "&";
    const response = await fetch(path + sep + "lang=" + lang, {
      method: method, body: body, credentials: "same-origin",
      headers: {"X-CSRF-Token": csrf, "Accept": "application/json"}});
    const data = await response.json().catch(function () { return null; });
    if (!response.ok) {
      const error = (data && data.error) || {};
      const fields = error.fields || {};
      const details = Object.keys(fields).map(function (k) {
        return k + ": " + fields[k].join("; ");
      });
      throw new Error(details.length ? details.join(" · ") : (error.message || response.status));
    }
    return data;
  }
  function uploadForm(withMapping) {
    const form = new FormData();
    const file = document.getElementById("import-file").files[0];
    form.append("file", file);
    form.append("object", document.getElementById("import-object").value);
    form.append("encoding", document.getElementById("import-encoding").value);
    const sheet = document.getElementById("import-sheet");
    if (sheet.value) { form.append("sheet", sheet.value); }
    const mode = map.querySelector("input[name=mode]:checked").value;
    form.append("mode", mode);
    const key = document.getElementById("import-key");
    if (mode !== "create" && key.value) { form.append("key", key.value); }
    if (withMapping) {
      const mapping = {};
      map.querySelectorAll("select[data-column]").forEach(function (select) {
        mapping[select.dataset.column] = select.value || null;
      });
      form.append("mapping", JSON.stringify(mapping));
      form.append("dry_run", document.getElementById("import-dry-run").checked ? "true" : "false");
      form.append("all_or_none",
        document.getElementById("import-all-or-none").checked ? "true" : "false");
      form.append("date_order", document.getElementById("import-date-order").value);
    }
    return form;
  }

  // -- step 2: the mapping ---------------------------------------------------------------
  function options(select, chosen) {
    select.appendChild(el("option", T.ignore)).value = "";
    preview.fields.forEach(function (f) {
      const base = label(f) + (f.required ? " *" : "");
      const choices = [[f.name, base]];
      if (f.type === "lookup" || f.type === "master_detail") {
        choices[0][1] = base + " (" + T.by_title + ")";
        choices.push([f.name + ".id", base + " (" + T.by_id + ")"]);
        (f.matches || []).forEach(function (m) {
          choices.push([f.name + "." + m, base + " (" + fill(T.by, {field: m}) + ")"]);
        });
      }
      choices.forEach(function (c) {
        const option = el("option", c[1]);
        option.value = c[0];
        option.selected = c[0] === chosen;
        select.appendChild(option);
      });
    });
  }
  function keys() {
    const key = document.getElementById("import-key");
    const mode = map.querySelector("input[name=mode]:checked").value;
    const current = key.value;
    key.textContent = "";
    const names = (mode === "update" ? ["id"] : []).concat(
      preview.keys.filter(function (k) { return k !== "id"; }));
    names.forEach(function (name) {
      const f = preview.fields.filter(function (x) { return x.name === name; })[0];
      const option = el("option", name === "id" ? "ID" : (f ? label(f) : name));
      option.value = name;
      option.selected = name === current;
      key.appendChild(option);
    });
    key.disabled = mode === "create";
  }
  function missing() {
    const mapped = {};
    map.querySelectorAll("select[data-column]").forEach(function (s) {
      if (s.value) { mapped[s.value.split(".")[0]] = true; }
    });
    const absent = preview.fields.filter(function (f) { return f.required && !mapped[f.name]; });
    const note = document.getElementById("import-missing");
    note.textContent = absent.length ?
      fill(T.missing, {fields: absent.map(label).join(", ")}) : "";
    note.hidden = !absent.length;
  }
  function showMapping() {
    const body = map.querySelector("#import-mapping tbody");
    body.textContent = "";
    preview.headers.forEach(function (header, i) {
      const row = el("tr");
      row.appendChild(el("th", header)).scope = "row";
      const samples = preview.rows.slice(0, 3).map(function (r) {
        return r[i] === null || r[i] === undefined ? "" : String(r[i]);
      }).filter(Boolean);
      row.appendChild(el("td", samples.join(" · ")));
      const cell = el("td");
      const select = el("select");
      select.dataset.column = header;
      select.setAttribute("aria-label", header);
      options(select, preview.mapping[header]);
      cell.appendChild(select);
      row.appendChild(cell);
      body.appendChild(row);
    });
    const info = [preview.format.toUpperCase(), preview.encoding, preview.sheet]
      .filter(Boolean).join(" · ");
    document.getElementById("import-file-info").textContent = info;
    const sheets = document.getElementById("import-sheet");
    sheets.textContent = "";
    (preview.sheets || []).forEach(function (name) {
      const option = el("option", name);
      option.value = name;
      option.selected = name === preview.sheet;
      sheets.appendChild(option);
    });
    document.getElementById("import-sheet-box").hidden = (preview.sheets || []).length < 2;
    keys();
    missing();
    upload.hidden = true;
    map.hidden = false;
    const first = map.querySelector("select[data-column]");
    if (first) { first.focus(); }
  }
  // The button stays disabled until this script listens: a click before that would have
  // sent the form natively, with the file's name in the address and nothing uploaded.
  const next = document.getElementById("import-next");
  if (next) { next.disabled = false; }
  upload.addEventListener("submit", async function (event) {
    event.preventDefault();
    showProblem("");
    if (!document.getElementById("import-file").files.length) {
      showProblem(T.choose_file);
      return;
    }
    try {
      preview = await api("POST", "/api/v1/imports/preview", uploadForm(false));
      showMapping();
    } catch (error) { showProblem(error.message); }
  });
  map.addEventListener("change", async function (event) {
    if (event.target.id === "import-sheet") {  // another sheet: its own columns
      try {
        preview = await api("POST", "/api/v1/imports/preview", uploadForm(false));
        showMapping();
      } catch (error) { showProblem(error.message); }
      return;
    }
    if (event.target.name === "mode") { keys(); }
    if (event.target.dataset && event.target.dataset.column !== undefined) { missing(); }
  });
  document.getElementById("import-back").addEventListener("click", function () {
    map.hidden = true;
    upload.hidden = false;
    document.getElementById("import-sheet").textContent = "";  // a new file: its first sheet
  });
  map.addEventListener("submit", async function (event) {
    event.preventDefault();
    showProblem("");
    try {
      const started = await api("POST", "/api/v1/imports", uploadForm(true));
      map.hidden = true;
      watch(started.id);
    } catch (error) { showProblem(error.message); }
  });

  // -- step 3: progress and result ---------------------------------------------------------
  function showStatus(s) {
    result.hidden = false;
    const bar = document.getElementById("import-progress");
    if (s.total) {
      bar.max = s.total;
      bar.value = FINISHED.indexOf(s.status) >= 0 ? s.total : s.processed;
    } else if (FINISHED.indexOf(s.status) < 0) {
      bar.removeAttribute("value");  // not known yet: an indeterminate bar
    }
    document.getElementById("import-progress-text").textContent =
      s.total ? fill(T.progress, {processed: s.processed, total: s.total}) : "";
    let state = T[s.status] || s.status;
    if (s.status === "running" && s.all_or_none && !s.processed) { state = T.checking; }
    if (s.status === "done" && s.dry_run) { state = T.dry_done; }
    document.getElementById("import-state").textContent = state;
    ["total", "created", "updated", "failed"].forEach(function (k) {
      result.querySelector("[data-count=" + k + "]").textContent = s[k] === null ? "" : s[k];
    });
    const table = document.getElementById("import-errors");
    const body = table.querySelector("tbody");
    body.textContent = "";
    (s.errors || []).forEach(function (e) {
      const row = el("tr");
      row.appendChild(el("td", e.row === null ? T.file_problem : e.row));
      const f = preview && preview.fields.filter(function (x) { return x.name === e.field; })[0];
      row.appendChild(el("td", f ? label(f) : (e.field || "")));
      row.appendChild(el("td", e.message));
      body.appendChild(row);
    });
    table.hidden = !(s.errors || []).length;
    const truncated = document.getElementById("import-truncated");
    truncated.textContent = s.errors_truncated ? T.truncated : "";
    truncated.hidden = !s.errors_truncated;
    const finished = FINISHED.indexOf(s.status) >= 0;
    const hasErrors = finished && s.failed > 0;
    ["xlsx", "csv"].forEach(function (fmt) {
      const link = document.getElementById("import-errors-" + fmt);
      link.href = "/api/v1/imports/" + s.id + "/errors?format=" + fmt + "&lang=" + lang;
      link.hidden = !hasErrors;
    });
    const undo = document.getElementById("import-undo");
    undo.hidden = !(finished && s.status === "done" && !s.dry_run && s.created > 0 && !s.undo);
    undo.dataset.id = s.id;
    undo.dataset.created = s.created;
    const undone = document.getElementById("import-undo-state");
    if (s.undo) {
      undone.textContent = s.undo.status === "done" ?
        fill(T.undo_done, {n: s.undo.deleted}) : T.undo_running;
    } else { undone.textContent = ""; }
    return finished && !(s.undo && FINISHED.indexOf(s.undo.status) < 0);
  }
  async function watch(id) {
    result.hidden = false;
    for (;;) {
      let s;
      try {
        s = await api("GET", "/api/v1/imports/" + id);
      } catch (error) {
        showProblem(error.message);
        return;
      }
      if (showStatus(s)) { return; }
      await new Promise(function (done) { setTimeout(done, 700); });
    }
  }
  // Undo asks first, on the page (no browser dialog): how many records will go.
  const undoBox = document.getElementById("import-undo-confirm");
  document.getElementById("import-undo").addEventListener("click", function (event) {
    const button = event.currentTarget;
    document.getElementById("import-undo-question").textContent =
      fill(T.undo_confirm, {n: button.dataset.created});
    undoBox.hidden = false;
    document.getElementById("import-undo-yes").focus();
  });
  document.getElementById("import-undo-no").addEventListener("click", function () {
    undoBox.hidden = true;
    document.getElementById("import-undo").focus();
  });
  document.getElementById("import-undo-yes").addEventListener("click", async function () {
    const id = document.getElementById("import-undo").dataset.id;
    undoBox.hidden = true;
    try {
      await api("POST", "/api/v1/imports/" + id + "/undo");
      watch(id);
    } catch (error) { showProblem(error.message); }
  });
  if (root.dataset.opened) {
    upload.hidden = true;
    watch(root.dataset.opened);
  }
})();
