// Form editor of the workflow designer: a JSON Schema per form file, edited as JSON text,
// with a live preview that mirrors the server's `schema_field` macro (_macros.html).
(function (ns) {
  "use strict";

  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([name, value]) => {
      if (value === false || value === null || value === undefined) return;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    children.flat().forEach((child) => {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    });
    return node;
  };
  ns.el = el;

  /** Where a JSON.parse error happened, as "line L, column C" (V8 names the offset). */
  function describeJsonError(error, text) {
    const match = /position (\d+)/.exec(error.message);
    if (!match) return error.message;
    const offset = Number(match[1]);
    const before = text.slice(0, offset).split("\n");
    return `${error.message.replace(/\s*\(line \d+ column \d+\)/, "")} (line ${before.length}, column ${before[before.length - 1].length + 1})`;
  }

  /** One form field, as the server renders it for a task (schema_field in _macros.html). */
  function renderField(name, field, required, t, departments) {
    const label = field.title || name;
    const star = required ? el("span", { class: "text-danger", text: " *" }) : null;
    const id = `preview-${name}`;
    const labels = field["x-labels"] || {};
    if (field.type === "boolean") {
      const choices = ["true", "false"].map((option) =>
        el(
          "div",
          { class: "form-check form-check-inline" },
          el("input", { class: "form-check-input", type: "radio", name: id, id: `${id}-${option}`, value: option }),
          el("label", { class: "form-check-label", for: `${id}-${option}`, text: labels[option] || (option === "true" ? t.yes : t.no) })
        )
      );
      return el("div", { class: "mb-3", "data-preview-field": name }, el("div", { class: "form-label" }, label, star), choices);
    }
    const head = el("label", { class: "form-label", for: id }, label, star);
    let input;
    if (Array.isArray(field.enum) || field["x-options"]) {
      const options = Array.isArray(field.enum) ? field.enum : field["x-options"] === "departments" ? departments : [];
      input = el(
        "select",
        { class: "form-select", id },
        el("option", { value: "", text: t.choose }),
        options.map((option) => el("option", { value: String(option), text: labels[option] || String(option) }))
      );
    } else if (field["x-widget"] === "textarea") {
      input = el("textarea", { class: "form-control", id, rows: 5 });
    } else {
      input = el("input", { class: "form-control", id, type: ["integer", "number"].includes(field.type) ? "number" : "text" });
    }
    return el("div", { class: "mb-3", "data-preview-field": name }, head, input);
  }

  function renderPreview(target, schema, t, departments) {
    target.replaceChildren();
    if (!schema || typeof schema !== "object" || Array.isArray(schema)) {
      target.append(el("p", { class: "text-danger small", text: t.formNotObject }));
      return;
    }
    if (schema.title) target.append(el("h4", { class: "h6", text: String(schema.title) }));
    const properties = schema.properties && typeof schema.properties === "object" ? schema.properties : {};
    const required = Array.isArray(schema.required) ? schema.required : [];
    const names = Object.keys(properties);
    if (!names.length) target.append(el("p", { class: "text-muted small", text: t.formNoFields }));
    names.forEach((name) => {
      const field = properties[name] && typeof properties[name] === "object" ? properties[name] : {};
      target.append(renderField(name, field, required.includes(name), t, departments));
    });
    target.append(el("button", { class: "btn btn-primary btn-sm", type: "button", disabled: true, text: t.submit }));
  }

  /**
   * The editor inside `root` (elements found by data-role). `onChange()` is called after
   * every edit; `collect()` returns the forms to save or throws with the broken file named.
   */
  function FormEditor(root, options) {
    const t = options.text;
    const departments = options.departments.length ? options.departments : [t.department + " 1", t.department + " 2"];
    const part = (role) => root.querySelector(`[data-role="${role}"]`);
    const select = part("form-select");
    const textarea = part("form-json");
    const error = part("form-error");
    const preview = part("form-preview");
    const newName = part("form-new-name");
    let texts = {}; // filename -> JSON text as edited
    let current = null;

    const parse = (text) => JSON.parse(text);

    function refreshSelect() {
      select.replaceChildren(...Object.keys(texts).sort().map((name) => el("option", { value: name, text: name })));
      if (current) select.value = current;
      root.dataset.empty = Object.keys(texts).length ? "false" : "true";
    }

    function check() {
      if (current === null) return;
      texts[current] = textarea.value;
      try {
        const schema = parse(textarea.value);
        error.textContent = "";
        textarea.classList.remove("is-invalid");
        preview.classList.remove("stale");
        renderPreview(preview, schema, t, departments);
      } catch (exc) {
        error.textContent = `${t.jsonError}: ${describeJsonError(exc, textarea.value)}`;
        textarea.classList.add("is-invalid");
        preview.classList.add("stale"); // keeps the last good rendering, dimmed
      }
    }

    this.load = (forms) => {
      texts = {};
      Object.entries(forms || {}).forEach(([name, schema]) => {
        texts[name] = JSON.stringify(schema, null, 2);
      });
      current = null;
      refreshSelect();
      this.show(Object.keys(texts).sort()[0] || null);
    };

    this.names = () => Object.keys(texts).sort();

    this.show = (name) => {
      current = name && Object.prototype.hasOwnProperty.call(texts, name) ? name : null;
      textarea.disabled = current === null;
      textarea.value = current === null ? "" : texts[current];
      refreshSelect();
      if (current === null) {
        error.textContent = "";
        textarea.classList.remove("is-invalid");
        preview.replaceChildren(el("p", { class: "text-muted small", text: t.formNone }));
      } else {
        check();
      }
    };

    /** Adds a form file (a minimal schema) and shows it; returns false for a bad name. */
    this.create = (name) => {
      const clean = (name || "").trim();
      if (!/^[A-Za-z0-9_.-]+\.json$/.test(clean) || clean.includes("..")) return false;
      if (!(clean in texts)) {
        texts[clean] = JSON.stringify({ title: clean.replace(/\.schema\.json$|\.json$/, ""), type: "object", properties: {}, additionalProperties: false }, null, 2);
        options.onChange();
        options.onFormsChanged();
      }
      this.show(clean);
      return true;
    };

    this.collect = () => {
      const forms = {};
      Object.entries(texts).forEach(([name, text]) => {
        try {
          forms[name] = parse(text);
        } catch (exc) {
          throw new Error(`${name}: ${t.jsonError}: ${describeJsonError(exc, text)}`);
        }
      });
      return forms;
    };

    this.schema = (name) => {
      try {
        return name in texts ? parse(texts[name]) : null;
      } catch (exc) {
        return null;
      }
    };

    select.addEventListener("change", () => this.show(select.value));
    textarea.addEventListener("input", () => {
      check();
      options.onChange();
    });
    part("form-new").addEventListener("click", () => {
      if (!this.create(newName.value)) {
        newName.classList.add("is-invalid");
        return;
      }
      newName.classList.remove("is-invalid");
      newName.value = "";
    });
  }

  ns.FormEditor = FormEditor;
  ns.renderPreview = renderPreview;
})((window.LiaisonDesigner = window.LiaisonDesigner || {}));
