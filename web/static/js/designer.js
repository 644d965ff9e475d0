// The workflow designer page: bpmn-js modeler, toolbar (validate, save draft, deploy,
// download, upload), version history with diffs, dry run and migration of running items.
// Talks to /api/v1/designer with the session cookie and the page's CSRF token.
(function (ns) {
  "use strict";

  const el = ns.el;
  const root = document.getElementById("designer");
  if (!root || !window.BpmnJS) return;

  const config = JSON.parse(document.getElementById("designer-config").textContent);
  const t = config.text;
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  const modeler = new window.BpmnJS({
    container: $("canvas"),
    moddleExtensions: { spiffworkflow: ns.spiffModdle },
  });
  const canvas = modeler.get("canvas");
  const registry = modeler.get("elementRegistry");
  const selection = modeler.get("selection");

  const state = {
    versions: [],
    version: null, // the saved version loaded in the editor (API record)
    dirty: false,
    importing: false,
    markers: [], // [elementId, class] currently on the editor canvas
  };

  // -- helpers ----------------------------------------------------------------------------

  /** fetch() against the designer API; resolves to the JSON body, rejects with a readable Error. */
  async function api(method, path, body) {
    const response = await fetch(config.api + path, {
      method,
      credentials: "same-origin",
      headers: Object.assign(
        { Accept: "application/json" },
        method === "GET" ? {} : { "X-CSRFToken": csrf },
        body === undefined ? {} : { "Content-Type": "application/json" }
      ),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (exc) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error((data && data.error && data.error.message) || `${response.status} ${response.statusText}`);
      error.status = response.status;
      error.fields = (data && data.error && data.error.fields) || null;
      throw error;
    }
    return data;
  }

  const MIGRATION_PAGE = 100; // the API's largest page

  function say(message, kind) {
    const box = $("designer-message");
    box.className = `alert alert-${kind || "info"} py-2 mb-2`;
    box.dataset.kind = kind || "info";
    box.textContent = message;
    box.hidden = !message;
  }

  /** Runs an async action with its button disabled; errors become a red message. */
  async function busy(button, action) {
    if (button) button.disabled = true;
    try {
      await action();
    } catch (exc) {
      say(exc.message, "danger");
    } finally {
      if (button) button.disabled = false;
      updateButtons();
    }
  }

  const formatTime = (value) => {
    if (!value) return "";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
  };
  const statusLabel = (status) => t.status[status] || status;
  const roleName = (key) => (config.roles.find((r) => r.key === key) || { label: key }).label;

  function setMarkers(list) {
    state.markers.forEach(([id, cls]) => registry.get(id) && canvas.removeMarker(id, cls));
    state.markers = [];
    list.forEach(([id, cls]) => {
      if (id && registry.get(id)) {
        canvas.addMarker(id, cls);
        state.markers.push([id, cls]);
      }
    });
  }

  function focusElement(id) {
    const element = id && registry.get(id);
    if (!element) return false;
    selection.select(element);
    canvas.scrollToElement(element);
    return true;
  }

  function setDirty(dirty) {
    state.dirty = dirty;
    $("dirty-flag").hidden = !dirty;
  }

  function showVersionHeader() {
    const version = state.version;
    $("version-label").textContent = version ? `v${version.version}` : "—";
    const badge = $("version-status");
    badge.textContent = version ? statusLabel(version.status) : "";
    badge.className = `badge ms-1 status-${version ? version.status : "none"}`;
    root.dataset.versionId = version ? version.id : "";
    root.dataset.versionStatus = version ? version.status : "";
    updateButtons();
  }

  function updateButtons() {
    $("btn-deploy").disabled = !state.version || state.version.status === "deployed";
    $("btn-dry-run").disabled = !state.version;
  }

  // -- loading ----------------------------------------------------------------------------

  async function importDiagram(xml) {
    state.importing = true;
    try {
      const result = await modeler.importXML(xml);
      canvas.zoom("fit-viewport");
      state.markers = [];
      const warnings = (result && result.warnings) || [];
      if (warnings.length) say(`${t.importWarnings}: ${warnings.map((w) => w.message).join("; ")}`, "warning");
      return warnings;
    } finally {
      state.importing = false;
    }
  }

  async function loadVersions() {
    state.versions = (await api("GET", `/processes/${encodeURIComponent(config.key)}/versions?per_page=100`)).items;
    renderHistory();
    renderMigrationTargets();
  }

  async function openVersion(id) {
    const version = await api("GET", `/versions/${id}`);
    state.version = version;
    await importDiagram(version.bpmn_xml);
    forms.load(version.forms || {});
    panel.clear();
    setDirty(false);
    showVersionHeader();
    renderHistory();
    showProblems(version.problems || [], version.deployable);
    const url = new URL(window.location.href);
    url.searchParams.set("version", version.id);
    window.history.replaceState(null, "", url);
    root.dataset.ready = "true";
  }

  // -- problems ---------------------------------------------------------------------------

  function showProblems(problems, deployable) {
    const list = $("problem-list");
    list.replaceChildren();
    const summary = $("problem-summary");
    summary.dataset.deployable = deployable ? "true" : "false";
    summary.className = `small mb-2 ${problems.length ? "text-danger" : "text-success"}`;
    summary.textContent = problems.length ? t.problemCount.replace("%(n)s", problems.length) : t.noProblems;
    problems.forEach((problem) => {
      const item = el(
        "button",
        { type: "button", class: "list-group-item list-group-item-action py-1", "data-element-id": problem.element_id || "" },
        problem.element_id ? el("code", { class: "me-2", text: problem.element_id }) : null,
        problem.message
      );
      item.addEventListener("click", () => focusElement(problem.element_id) || say(t.noSuchElement, "warning"));
      list.append(item);
    });
    setMarkers(problems.map((p) => [p.element_id, "has-problem"]));
    $("tab-problems-count").textContent = problems.length ? String(problems.length) : "";
  }

  const problemsFromFields = (fields) => Object.entries(fields || {}).map(([id, message]) => ({ element_id: id === "bpmn" ? null : id, message }));

  function showTab(name) {
    window.bootstrap.Tab.getOrCreateInstance($(`tab-${name}`)).show();
  }

  // -- toolbar ----------------------------------------------------------------------------

  async function currentXml() {
    const { xml } = await modeler.saveXML({ format: true });
    return xml;
  }

  function collectForms() {
    return forms.collect(); // throws with the file and position of a JSON error
  }

  async function validate() {
    const result = await api("POST", "/validate", { bpmn_xml: await currentXml(), forms: collectForms() });
    showProblems(result.problems || [], result.deployable);
    showTab("problems");
    say(result.problems && result.problems.length ? t.validateProblems : t.validateOk, result.problems && result.problems.length ? "warning" : "success");
  }

  async function saveDraft() {
    const note = $("save-note").value.trim();
    const body = { bpmn_xml: await currentXml(), forms: collectForms() };
    if (note) body.note = note;
    const created = await api("POST", `/processes/${encodeURIComponent(config.key)}/versions`, body);
    $("save-note").value = "";
    await loadVersions();
    await openVersion(created.id);
    showTab("problems");
    say(t.saved.replace("%(version)s", created.version), created.problems && created.problems.length ? "warning" : "success");
  }

  async function deploy() {
    if (state.dirty) {
      say(t.saveFirst, "warning");
      return;
    }
    if (!window.confirm(t.confirmDeploy.replace("%(version)s", state.version.version))) return;
    let deployed;
    try {
      deployed = await api("POST", `/versions/${state.version.id}/deploy`);
    } catch (exc) {
      if (exc.fields) {
        showProblems(problemsFromFields(exc.fields), false);
        showTab("problems");
      }
      throw exc;
    }
    Object.assign(state.version, deployed);
    await loadVersions();
    showVersionHeader();
    say(t.deployed.replace("%(version)s", state.version.version), "success");
  }

  async function download() {
    const xml = await currentXml();
    const name = `${config.key}-v${state.version ? state.version.version : 0}${state.dirty ? "-edited" : ""}.bpmn`;
    const link = el("a", { href: URL.createObjectURL(new Blob([xml], { type: "application/xml" })), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  /** An uploaded .bpmn is checked by the server first; a refused file never reaches the modeler. */
  async function upload(file) {
    if (file.size > config.maxUploadBytes) {
      say(t.tooLarge, "danger");
      return;
    }
    const xml = await file.text();
    let result;
    try {
      result = await api("POST", "/validate", { bpmn_xml: xml, forms: collectForms() });
    } catch (exc) {
      // Not well-formed BPMN, a DTD (XXE, entity bombs), too large: the server's reason.
      showProblems([{ element_id: null, message: exc.message }], false);
      say(`${t.uploadRefused}: ${exc.message}`, "danger");
      return;
    }
    const problems = result.problems || [];
    try {
      await importDiagram(xml);
    } catch (exc) {
      showProblems(problems, false);
      say(`${t.uploadRefused}: ${exc.message}`, "danger");
      return;
    }
    panel.clear();
    setDirty(true);
    showProblems(problems, result.deployable);
    showTab("problems");
    if (result.key && result.key !== config.key) say(t.otherKey.replace("%(found)s", result.key).replace("%(key)s", config.key), "warning");
    else say(t.uploaded.replace("%(name)s", file.name), problems.length ? "warning" : "success");
  }

  // -- history and diff -------------------------------------------------------------------

  const deployedVersion = () => state.versions.find((v) => v.status === "deployed");

  function renderHistory() {
    const body = $("history-rows");
    body.replaceChildren();
    const deployed = deployedVersion();
    state.versions.forEach((version) => {
      const open = el("a", { class: "btn btn-sm btn-outline-primary", href: `?version=${version.id}`, text: t.open });
      open.addEventListener("click", (event) => {
        event.preventDefault();
        if (state.dirty && !window.confirm(t.discard)) return;
        busy(null, () => openVersion(version.id));
      });
      const compare = el("button", { class: "btn btn-sm btn-outline-secondary", type: "button", text: t.compare, "data-testid": "compare", disabled: !deployed || deployed.id === version.id });
      // Always older → newer, so "added" means "new in the later version".
      compare.addEventListener("click", () => busy(compare, () => (version.version > deployed.version ? showDiff(version, deployed) : showDiff(deployed, version))));
      const bpmn = el("a", { class: "btn btn-sm btn-outline-secondary", href: `${config.api}/versions/${version.id}/bpmn`, text: ".bpmn" });
      body.append(
        el(
          "tr",
          { "data-version-id": version.id, "data-version": version.version, class: state.version && state.version.id === version.id ? "table-active" : "" },
          el("td", { text: `v${version.version}` }),
          el("td", {}, el("span", { class: `badge status-${version.status}`, text: statusLabel(version.status) })),
          el("td", { text: version.note || "" }),
          el("td", { text: version.author || "" }),
          el("td", { class: "text-nowrap", text: formatTime(version.created_at) }),
          el("td", { class: "text-nowrap", text: formatTime(version.deployed_at) }),
          el("td", { class: "text-nowrap" }, open, " ", compare, " ", bpmn)
        )
      );
    });
  }

  const diffViewers = {};
  let viewerClass = null;

  /** The read-only viewer bundle, loaded on first use; it too defines window.BpmnJS. */
  function loadViewerClass() {
    if (!viewerClass) {
      const Modeler = window.BpmnJS;
      viewerClass = new Promise((resolve, reject) => {
        const script = el("script", { src: config.viewerScript });
        script.addEventListener("load", () => {
          const Viewer = window.BpmnJS;
          window.BpmnJS = Modeler;
          resolve(Viewer);
        });
        script.addEventListener("error", () => reject(new Error(config.viewerScript)));
        document.head.append(script);
      });
    }
    return viewerClass;
  }

  async function diffViewer(slot, id, marks) {
    const container = $(slot);
    if (!diffViewers[slot]) {
      const Viewer = await loadViewerClass();
      diffViewers[slot] = new Viewer({ container, moddleExtensions: { spiffworkflow: ns.spiffModdle } });
    }
    const viewer = diffViewers[slot];
    const version = await api("GET", `/versions/${id}`);
    await viewer.importXML(version.bpmn_xml);
    const viewerCanvas = viewer.get("canvas");
    const viewerRegistry = viewer.get("elementRegistry");
    viewerCanvas.zoom("fit-viewport");
    marks.forEach(([elementId, cls]) => viewerRegistry.get(elementId) && viewerCanvas.addMarker(elementId, cls));
    container.dataset.rendered = "true";
  }

  /** The differences from `older` to `newer`: lists, both diagrams marked, and the editor's
   *  canvas too when it shows `newer` unchanged. */
  async function showDiff(newer, older) {
    const diff = await api("GET", `/versions/${newer.id}/diff?against=${older.id}`);
    const marks = (entries, cls) => entries.map((entry) => [entry.id, cls]);
    $("diff-title").textContent = t.diffTitle.replace("%(new)s", newer.version).replace("%(old)s", older.version);
    const section = (kind, entries) =>
      el(
        "div",
        { class: "col-md-4", "data-diff": kind },
        el("h4", { class: `h6 diff-head-${kind}`, text: `${t[kind]} (${entries.length})` }),
        el(
          "ul",
          { class: "small ps-3" },
          entries.map((entry) =>
            el(
              "li",
              { "data-element-id": entry.id },
              entry.name ? `${entry.name} ` : "",
              el("code", { text: entry.id }),
              el("span", { class: "text-muted", text: ` ${t.types[entry.type] || entry.type}` }),
              entry.changes && entry.changes.length ? el("ul", {}, entry.changes.map((change) => el("li", { text: change }))) : null
            )
          )
        )
      );
    $("diff-lists").replaceChildren(section("added", diff.added), section("removed", diff.removed), section("changed", diff.changed));
    const formKinds = ["added", "removed", "changed"].filter((kind) => diff.forms[kind].length);
    $("diff-forms").replaceChildren(
      ...(formKinds.length
        ? formKinds.map((kind) => el("div", { class: "small" }, el("strong", { text: `${t.formsLabel} · ${t[kind]}: ` }), diff.forms[kind].join(", ")))
        : [el("div", { class: "small text-muted", text: t.formsUnchanged })])
    );
    $("diff-section").hidden = false;
    $("diff-empty").hidden = true;
    showTab("diff");
    $("diff-old-label").textContent = `v${older.version} · ${statusLabel(older.status)}`;
    $("diff-new-label").textContent = `v${newer.version} · ${statusLabel(newer.status)}`;
    await Promise.all([
      diffViewer("diff-old", older.id, [...marks(diff.removed, "diff-removed"), ...marks(diff.changed, "diff-changed")]),
      diffViewer("diff-new", newer.id, [...marks(diff.added, "diff-added"), ...marks(diff.changed, "diff-changed")]),
    ]);
    if (state.version && state.version.id === newer.id && !state.dirty) {
      setMarkers([...marks(diff.added, "diff-added"), ...marks(diff.changed, "diff-changed")]);
    }
  }

  // -- dry run ----------------------------------------------------------------------------

  /** Sample steps: the user tasks in the order a walk from the start reaches them. */
  function sampleSteps() {
    const starts = registry.filter((e) => e.type === "bpmn:StartEvent" && e.parent && e.parent.type !== "bpmn:SubProcess");
    const seen = new Set();
    const queue = starts.map((e) => e.businessObject);
    const steps = [];
    while (queue.length) {
      const node = queue.shift();
      if (!node || seen.has(node.id)) continue;
      seen.add(node.id);
      if (node.$type === "bpmn:UserTask") steps.push({ task: node.id, data: sampleData(forms.schema(ns.userTaskForm(node))) });
      (node.outgoing || []).forEach((flow) => queue.push(flow.targetRef));
    }
    return steps;
  }

  function sampleData(schema) {
    const data = {};
    if (!schema || !schema.properties) return data;
    // Required fields, and those the form requires when its `if` does not hold (a draft
    // that is submitted rather than sent back): sample values take every field's first choice.
    const required = [...(schema.required || []), ...((schema.else || {}).required || [])];
    Object.entries(schema.properties).forEach(([name, field]) => {
      if (!required.includes(name) || !field || typeof field !== "object") return;
      if (field.type === "boolean") data[name] = true;
      else if (field.format === "date") data[name] = new Date().toISOString().slice(0, 10);
      else if (Array.isArray(field.enum)) data[name] = field.enum[0];
      else if (field["x-options"] === "departments") data[name] = config.departments[0] || "";
      else if (field.type === "integer" || field.type === "number") data[name] = field.minimum || 1;
      else data[name] = t.sampleText.repeat(Math.max(1, Math.ceil((field.minLength || 1) / t.sampleText.length)));
    });
    return data;
  }

  async function dryRun() {
    let steps;
    try {
      steps = JSON.parse($("dry-steps").value || "[]");
    } catch (exc) {
      $("dry-steps").classList.add("is-invalid");
      $("dry-error").textContent = `${t.jsonError}: ${exc.message}`;
      return;
    }
    $("dry-steps").classList.remove("is-invalid");
    $("dry-error").textContent = "";
    if (state.dirty) say(t.dryRunSaved.replace("%(version)s", state.version.version), "warning");
    const result = await api("POST", `/versions/${state.version.id}/dry-run`, { steps });
    const step = (entry) =>
      el(
        "li",
        { "data-element-id": entry.task, "data-ok": entry.ok === false ? "false" : "true", class: entry.ok === false ? "text-danger" : "" },
        `${entry.title || entry.task}`,
        entry.title ? el("code", { class: "ms-1", text: entry.task }) : null,
        entry.role ? el("span", { class: "text-muted", text: ` · ${roleName(entry.role)}` }) : null,
        entry.error ? el("div", { class: "small", text: entry.error }) : null,
        entry.fields ? el("div", { class: "small", text: Object.entries(entry.fields).map(([k, v]) => `${k}: ${v}`).join("; ") }) : null
      );
    const waiting = result.waiting || [];
    const timers = result.timers || [];
    $("dry-result").replaceChildren(
      el("div", { class: "small mb-1" }, el("strong", { text: `${t.path}: ` })),
      el("ol", { class: "small dry-path", "data-testid": "dry-path" }, (result.path || []).map(step)),
      el("div", { class: "small" }, el("strong", { text: `${t.waiting}: ` }), waiting.length ? waiting.map((w) => `${w.title || w.task} (${w.task})`).join(", ") : "—"),
      timers.length ? el("div", { class: "small" }, el("strong", { text: `${t.timers}: ` }), timers.map((x) => `${x.task} → ${formatTime(x.due_at)}`).join(", ")) : "",
      el("div", { class: "small", "data-testid": "dry-ended", "data-ended": result.ended ? "true" : "false" }, el("strong", { text: `${t.ended}: ` }), result.ended ? t.yes : t.no),
      el("div", { class: "small text-danger", "data-testid": "dry-error", text: result.error ? result.error.message : "" })
    );
    if (!state.dirty) {
      setMarkers([
        ...(result.visited || []).map((id) => [id, "dry-path"]),
        ...(result.error && result.error.task ? [[result.error.task, "has-problem"]] : []),
      ]);
    }
  }

  // -- migration --------------------------------------------------------------------------

  function renderMigrationTargets() {
    const select = $("migrate-to");
    const previous = select.value;
    select.replaceChildren(...state.versions.map((v) => el("option", { value: v.id, text: `v${v.version} · ${statusLabel(v.status)}` })));
    const deployed = deployedVersion();
    // The deployed version, unless the designer picked another one that still exists.
    const keep = select.dataset.chosen === "true" && state.versions.some((v) => String(v.id) === previous);
    select.value = keep ? previous : deployed ? String(deployed.id) : select.value;
  }

  async function findMigrations() {
    const data = await api("GET", `/migrations?to=${encodeURIComponent($("migrate-to").value)}&per_page=${MIGRATION_PAGE}`);
    const rows = data.items;
    const body = $("migration-rows");
    body.replaceChildren();
    rows.forEach((row) => {
      const box = el("input", { class: "form-check-input", type: "checkbox", value: row.item_id, disabled: !row.can_migrate, "aria-label": row.number });
      body.append(
        el(
          "tr",
          { "data-item-id": row.item_id, "data-number": row.number },
          el("td", {}, box),
          el("td", { text: row.number }),
          el("td", { text: row.title }),
          el("td", { text: `v${row.from_version}` }),
          el("td", { text: row.current_steps.join(", ") }),
          el("td", {}, el("span", { class: `badge ${row.can_migrate ? "text-bg-success" : "text-bg-secondary"}`, text: row.can_migrate ? t.canMigrate : t.cannotMigrate })),
          el("td", { class: "small", text: row.reason || "" })
        )
      );
    });
    $("migration-more").textContent = data.total > rows.length ? t.migrationMore.replace("%(total)s", data.total).replace("%(n)s", rows.length) : "";
    $("migration-empty").hidden = rows.length > 0;
    $("migration-table").hidden = rows.length === 0;
    $("migration-results").replaceChildren();
  }

  async function migrate() {
    const chosen = [...document.querySelectorAll("#migration-rows input:checked")].map((box) => Number(box.value));
    if (!chosen.length) {
      say(t.chooseItems, "warning");
      return;
    }
    const result = await api("POST", "/migrations", { to: Number($("migrate-to").value), item_ids: chosen });
    const numbers = Object.fromEntries([...document.querySelectorAll("#migration-rows tr")].map((row) => [row.dataset.itemId, row.dataset.number]));
    const results = result.results;
    await findMigrations(); // migrated items leave the list
    $("migration-results").replaceChildren(
      el("h4", { class: "h6 mt-3", text: t.results }),
      el(
        "ul",
        { class: "list-unstyled small", "data-testid": "migration-results" },
        results.map((r) =>
          el(
            "li",
            { "data-item-id": r.item_id, "data-migrated": r.migrated ? "true" : "false" },
            el("span", { class: `badge me-1 ${r.migrated ? "text-bg-success" : "text-bg-danger"}`, text: r.migrated ? t.migrated : t.notMigrated }),
            numbers[r.item_id] || `#${r.item_id}`,
            r.reason ? ` — ${r.reason}` : ""
          )
        )
      )
    );
    const done = results.filter((r) => r.migrated).length;
    say(t.migratedCount.replace("%(n)s", done).replace("%(total)s", results.length), done === results.length ? "success" : "warning");
  }

  // -- wiring -----------------------------------------------------------------------------

  const forms = new ns.FormEditor($("form-editor"), {
    text: t,
    departments: config.departments,
    onChange: () => setDirty(true),
    onFormsChanged: () => panel.render(),
  });
  const panel = new ns.Panel($("properties"), modeler, {
    text: t,
    roles: config.roles,
    formNames: () => forms.names(),
    showForm: (name) => name && forms.names().includes(name) && forms.show(name),
  });

  modeler.get("eventBus").on("commandStack.changed", () => {
    if (!state.importing) setDirty(true);
  });
  window.addEventListener("beforeunload", (event) => {
    if (state.dirty) event.preventDefault();
  });

  const click = (id, action) => $(id).addEventListener("click", () => busy($(id), action));
  click("btn-validate", validate);
  click("btn-save", saveDraft);
  click("btn-deploy", deploy);
  click("btn-download", download);
  click("btn-dry-run", dryRun);
  click("btn-dry-sample", async () => {
    $("dry-steps").value = JSON.stringify(sampleSteps(), null, 2);
  });
  click("btn-migrate-find", findMigrations);
  click("btn-migrate", migrate);
  $("migrate-to").addEventListener("change", (event) => {
    event.target.dataset.chosen = "true";
  });
  $("migrate-all").addEventListener("change", (event) => {
    document.querySelectorAll("#migration-rows input:not(:disabled)").forEach((box) => {
      box.checked = event.target.checked;
    });
  });
  $("btn-upload").addEventListener("click", () => $("upload-file").click());
  $("upload-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (file) busy($("btn-upload"), () => upload(file));
  });
  $("btn-zoom-fit").addEventListener("click", () => canvas.zoom("fit-viewport"));

  busy(null, async () => {
    await loadVersions();
    await openVersion(config.versionId || (deployedVersion() || state.versions[0]).id);
  });
})(window.LiaisonDesigner);
