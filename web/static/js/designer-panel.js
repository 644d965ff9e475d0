// Properties panel of the workflow designer: exactly what Liaison Desk reads from a diagram
// (lane role, user task name / form / time limits, gateway conditions, timer expressions),
// written through bpmn-js's modeling service so every edit can be undone.
(function (ns) {
  "use strict";

  const el = ns.el;

  /** SpiffWorkflow's extension elements, as moddle types (only those this product uses). */
  ns.spiffModdle = {
    name: "SpiffWorkflow",
    prefix: "spiffworkflow",
    uri: "http://spiffworkflow.org/bpmn/schema/1.0/core",
    xml: { tagAlias: "lowerCase" },
    associations: [],
    types: [
      {
        name: "Properties",
        superClass: ["Element"],
        properties: [{ name: "properties", type: "Property", isMany: true }],
      },
      {
        name: "Property",
        superClass: ["Element"],
        properties: [
          { name: "name", type: "String", isAttr: true },
          { name: "value", type: "String", isAttr: true },
        ],
      },
      // Text-bodied elements: the form file, plus SpiffWorkflow's scripts and instructions
      // so that diagrams carrying them keep them when saved from here.
      ...["FormJsonSchemaFilename", "PreScript", "PostScript", "InstructionsForEndUser", "CalledDecisionId"].map((name) => ({
        name,
        superClass: ["Element"],
        properties: [{ name: "value", type: "String", isBody: true }],
      })),
    ],
  };

  const TIME_PROPERTIES = ["due_working_days", "remind_working_days", "supervise_after_working_days"];
  const CONDITIONAL_SOURCES = ["bpmn:ExclusiveGateway", "bpmn:InclusiveGateway", "bpmn:ComplexGateway"];
  const TIMER_KINDS = ["timeDate", "timeDuration", "timeCycle"];

  const is = (object, type) => Boolean(object && object.$instanceOf && object.$instanceOf(type));
  const extensionValues = (bo) => (bo.extensionElements && bo.extensionElements.get("values")) || [];
  const findExtension = (bo, type) => extensionValues(bo).find((value) => is(value, type));
  const timerOf = (bo) => (bo.eventDefinitions || []).find((d) => is(d, "bpmn:TimerEventDefinition"));

  ns.userTaskForm = (bo) => {
    const form = findExtension(bo, "spiffworkflow:FormJsonSchemaFilename");
    return form && form.value ? form.value.trim() : "";
  };

  /** The role a lane name stands for: its key, or its Chinese or English label (engine/roles.py). */
  ns.roleForLane = (name, roles) => {
    const clean = (name || "").trim();
    const role = roles.find((r) => clean && (r.key === clean || r.zh === clean || r.en === clean));
    return role ? role.key : "";
  };

  function Panel(root, modeler, options) {
    const t = options.text;
    const modeling = modeler.get("modeling");
    const moddle = modeler.get("moddle");
    const registry = modeler.get("elementRegistry");
    let selected = null;

    // -- writing the model --------------------------------------------------------------

    function extensionElementsOf(element) {
      const bo = element.businessObject;
      if (!bo.extensionElements) {
        const extensions = moddle.create("bpmn:ExtensionElements", { values: [] });
        extensions.$parent = bo;
        modeling.updateProperties(element, { extensionElements: extensions });
      }
      return bo.extensionElements;
    }

    function addExtension(element, child) {
      const extensions = extensionElementsOf(element);
      child.$parent = extensions;
      modeling.updateModdleProperties(element, extensions, { values: [...extensions.get("values"), child] });
    }

    function removeExtension(element, child) {
      const extensions = element.businessObject.extensionElements;
      modeling.updateModdleProperties(element, extensions, { values: extensions.get("values").filter((v) => v !== child) });
    }

    function setForm(element, filename) {
      const current = findExtension(element.businessObject, "spiffworkflow:FormJsonSchemaFilename");
      if (!filename) {
        if (current) removeExtension(element, current);
      } else if (current) {
        modeling.updateModdleProperties(element, current, { value: filename });
      } else {
        addExtension(element, moddle.create("spiffworkflow:FormJsonSchemaFilename", { value: filename }));
      }
    }

    function setProperty(element, name, value) {
      const properties = findExtension(element.businessObject, "spiffworkflow:Properties");
      const list = properties ? properties.get("properties") : [];
      const existing = list.find((p) => p.name === name);
      if (value === "") {
        if (existing) modeling.updateModdleProperties(element, properties, { properties: list.filter((p) => p !== existing) });
      } else if (existing) {
        modeling.updateModdleProperties(element, existing, { value });
      } else if (properties) {
        const property = moddle.create("spiffworkflow:Property", { name, value });
        property.$parent = properties;
        modeling.updateModdleProperties(element, properties, { properties: [...list, property] });
      } else {
        const property = moddle.create("spiffworkflow:Property", { name, value });
        const created = moddle.create("spiffworkflow:Properties", { properties: [property] });
        property.$parent = created;
        addExtension(element, created);
      }
    }

    function setCondition(element, text) {
      const flow = element.businessObject;
      if (!text.trim()) {
        modeling.updateProperties(element, { conditionExpression: undefined });
      } else if (flow.conditionExpression) {
        modeling.updateModdleProperties(element, flow.conditionExpression, { body: text });
      } else {
        modeling.updateProperties(element, { conditionExpression: moddle.create("bpmn:FormalExpression", { body: text }) });
      }
    }

    function setTimer(element, kind, text) {
      const timer = timerOf(element.businessObject);
      const update = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
      if (text.trim()) {
        const expression = moddle.create("bpmn:FormalExpression", { body: text });
        expression.$parent = timer;
        update[kind] = expression;
      }
      modeling.updateModdleProperties(element, timer, update);
    }

    // -- the panel ----------------------------------------------------------------------

    const field = (label, input, help) =>
      el("div", { class: "mb-2" }, el("label", { class: "form-label small mb-1", for: input.id }, label), input, help ? el("div", { class: "form-text", text: help }) : null);

    /** A text or number input that writes on change (blur, Enter), not on every key. */
    function textInput(id, value, commit, attrs) {
      const input = el("input", Object.assign({ class: "form-control form-control-sm", id, value: value || "" }, attrs || {}));
      input.addEventListener("change", () => commit(input));
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          input.dispatchEvent(new Event("change"));
        }
      });
      return input;
    }

    function laneOf(bo) {
      return registry.filter((e) => e.type === "bpmn:Lane").find((lane) => (lane.businessObject.flowNodeRef || []).includes(bo));
    }

    function roleLabel(key) {
      const role = options.roles.find((r) => r.key === key);
      return role ? `${role.label} (${role.key})` : t.noRole;
    }

    function roleSelect(element) {
      const current = ns.roleForLane(element.businessObject.name, options.roles);
      const choices = options.roles.filter((r) => r.lane || r.key === current);
      const select = el(
        "select",
        { class: "form-select form-select-sm", id: "prop-role", "data-testid": "prop-role" },
        el("option", { value: "", text: t.noRole }),
        choices.map((r) => el("option", { value: r.key, text: `${r.label} (${r.key})` }))
      );
      select.value = current;
      select.addEventListener("change", () => select.value && modeling.updateProperties(element, { name: select.value }));
      return field(t.laneRole, select, t.laneRoleHelp);
    }

    function nameField(element) {
      return field(
        t.name,
        textInput("prop-name", element.businessObject.name, (input) => modeling.updateProperties(element, { name: input.value.trim() || undefined }), { "data-testid": "prop-name" })
      );
    }

    function userTaskFields(element) {
      const bo = element.businessObject;
      const form = ns.userTaskForm(bo);
      const names = options.formNames();
      const select = el(
        "select",
        { class: "form-select form-select-sm", id: "prop-form", "data-testid": "prop-form" },
        el("option", { value: "", text: t.noForm }),
        names.map((name) => el("option", { value: name, text: name })),
        form && !names.includes(form) ? el("option", { value: form, text: `${form} (${t.missing})` }) : null
      );
      select.value = form;
      select.addEventListener("change", () => {
        setForm(element, select.value);
        options.showForm(select.value);
      });
      const lane = laneOf(bo);
      const properties = findExtension(bo, "spiffworkflow:Properties");
      const valueOf = (name) => {
        const property = properties && properties.get("properties").find((p) => p.name === name);
        return property ? property.value : "";
      };
      const timeInputs = TIME_PROPERTIES.map((name) =>
        field(
          t[name],
          textInput(
            `prop-${name}`,
            valueOf(name),
            (input) => {
              const value = input.value.trim();
              if (value && !/^\d+$/.test(value)) {
                input.classList.add("is-invalid");
                return;
              }
              input.classList.remove("is-invalid");
              setProperty(element, name, value);
            },
            { type: "number", min: 0, step: 1, "data-testid": `prop-${name}` }
          )
        )
      );
      const editForm = el("button", { class: "btn btn-link btn-sm p-0", type: "button", text: t.editForm, disabled: !form });
      editForm.addEventListener("click", () => options.showForm(form));
      return [
        nameField(element),
        el("p", { class: "small mb-2" }, `${t.laneRole}: `, el("strong", { "data-testid": "prop-task-role", text: lane ? roleLabel(ns.roleForLane(lane.businessObject.name, options.roles)) : t.noLane })),
        field(t.form, select),
        editForm,
        el("hr", { class: "my-2" }),
        el("div", { class: "small text-muted mb-1", text: t.timeHelp }),
        ...timeInputs,
      ];
    }

    function conditionField(element) {
      const expression = element.businessObject.conditionExpression;
      const textarea = el("textarea", { class: "form-control form-control-sm font-monospace", id: "prop-condition", rows: 3, "data-testid": "prop-condition" });
      textarea.value = expression ? expression.body || "" : "";
      textarea.addEventListener("change", () => setCondition(element, textarea.value));
      return field(t.condition, textarea, t.conditionHelp);
    }

    function timerFields(element) {
      const timer = timerOf(element.businessObject);
      const kind = TIMER_KINDS.find((k) => timer[k]) || "timeDuration";
      const kinds = el(
        "select",
        { class: "form-select form-select-sm", id: "prop-timer-kind", "data-testid": "prop-timer-kind" },
        TIMER_KINDS.filter((k) => k !== "timeCycle" || k === kind).map((k) => el("option", { value: k, text: t[k] }))
      );
      kinds.value = kind;
      const expression = textInput("prop-timer", timer[kind] ? timer[kind].body : "", () => setTimer(element, kinds.value, expression.value), {
        class: "form-control form-control-sm font-monospace",
        "data-testid": "prop-timer",
      });
      kinds.addEventListener("change", () => setTimer(element, kinds.value, expression.value));
      return [field(t.timerKind, kinds), field(t.timerExpression, expression, t.timerHelp)];
    }

    /** With nothing selected: each process's id (the key versions are saved under) and isExecutable. */
    function processFields() {
      const top = modeler.get("canvas").getRootElement();
      const topBo = top && top.businessObject;
      if (!topBo) return [];
      const processes = is(topBo, "bpmn:Collaboration")
        ? (topBo.participants || []).filter((p) => p.processRef).map((p) => [registry.get(p.id) || top, p.processRef])
        : [[top, topBo]];
      return processes.map(([element, process], index) => {
        const id = textInput(
          `prop-process-id-${index}`,
          process.id,
          (input) => {
            const value = input.value.trim();
            if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(value)) {
              input.classList.add("is-invalid");
              return;
            }
            input.classList.remove("is-invalid");
            if (value !== process.id) modeling.updateModdleProperties(element, process, { id: value });
          },
          { "data-testid": "prop-process-id" }
        );
        const executable = el("input", { class: "form-check-input", type: "checkbox", id: `prop-executable-${index}`, checked: Boolean(process.isExecutable) });
        executable.addEventListener("change", () => modeling.updateModdleProperties(element, process, { isExecutable: executable.checked }));
        return el(
          "div",
          { class: "mb-2" },
          field(t.processId, id, t.processIdHelp),
          el("div", { class: "form-check" }, executable, el("label", { class: "form-check-label small", for: executable.id, text: t.executable }))
        );
      });
    }

    function render() {
      const element = selected;
      root.replaceChildren();
      if (!element) {
        root.append(el("p", { class: "text-muted small", text: t.selectHint }), ...processFields());
        root.dataset.element = "";
        return;
      }
      const bo = element.businessObject;
      root.dataset.element = element.id;
      root.append(el("div", { class: "small text-muted mb-2" }, `${t.types[element.type] || element.type.replace("bpmn:", "")} · `, el("code", { text: element.id })));
      if (element.type === "bpmn:Lane") {
        root.append(roleSelect(element));
      } else if (element.type === "bpmn:UserTask") {
        root.append(...userTaskFields(element));
      } else if (element.type === "bpmn:SequenceFlow") {
        root.append(nameField(element));
        if (CONDITIONAL_SOURCES.includes(bo.sourceRef && bo.sourceRef.$type)) root.append(conditionField(element));
      } else if (element.type !== "bpmn:Process" && element.type !== "bpmn:Collaboration") {
        root.append(nameField(element));
        if (timerOf(bo)) root.append(...timerFields(element));
      }
    }

    modeler.get("eventBus").on("selection.changed", (event) => {
      const elements = event.newSelection || [];
      // A selected label stands for its element (the name under an event, a flow's label).
      selected = elements.length === 1 ? elements[0].labelTarget || elements[0] : null;
      render();
    });
    modeler.get("eventBus").on("elements.changed", (event) => {
      if (!selected) {
        if (!root.contains(document.activeElement)) render();
      } else if (event.elements.some((e) => e === selected || e.id === selected.id)) {
        selected = registry.get(selected.id) || null;
        render();
      }
    });

    this.render = render;
    this.clear = () => {
      selected = null;
      render();
    };
  }

  ns.Panel = Panel;
})((window.LiaisonDesigner = window.LiaisonDesigner || {}));
