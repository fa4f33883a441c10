// WhatsApp Flows on the sandbox chat page: the first screen of a Flow drawn as a plain form from its Flow JSON.
// A phone shows native screens; here TextInput, TextArea, Dropdown, RadioButtonsGroup, CheckboxGroup,
// DatePicker and OptIn become plain inputs, text components become text, and the Footer submits. What is
// sent is the Footer's `complete` payload with ${form.x} and ${data.x} filled in (or, without a payload,
// every input), as Meta puts it in the nfm_reply's response_json. Values go on the page as textContent.
"use strict";

window.SandboxFlowForm = (() => {
  const $ = (id) => document.getElementById(id);
  const TEXTS = { TextHeading: "h3", TextSubheading: "h4", TextBody: "p", TextCaption: "small" };
  const INPUTS = new Set(["TextInput", "TextArea", "Dropdown", "RadioButtonsGroup", "CheckboxGroup", "DatePicker", "OptIn"]);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // The name a Flow is fetched by: its flow_name, else the token's prefix (`<flow_json>.<digest>`).
  function flowName(parameters) {
    if (parameters.flow_name) return parameters.flow_name;
    const token = parameters.flow_token || "";
    return token.includes(".") ? token.slice(0, token.indexOf(".")) : null;
  }

  // `${data.name}` in a label or a data-source, from the send's data.
  function fill(value, data) {
    if (typeof value !== "string") return value;
    const whole = /^\$\{data\.([A-Za-z0-9_]+)\}$/.exec(value);
    if (whole) return data[whole[1]];
    return value.replace(/\$\{data\.([A-Za-z0-9_]+)\}/g, (_, key) => (data[key] === undefined ? "" : String(data[key])));
  }

  function components(children) {
    const found = [];
    for (const child of children || []) {
      if (!child || typeof child !== "object") continue;
      found.push(child);
      if (child.type === "Form") found.push(...components(child.children));
    }
    return found;
  }

  function field(component, data) {
    const id = `flow-field-${component.name}`;
    const box = el("div", "flow-field");
    const label = fill(component.label, data) || component.name;
    const required = component.required === true;
    const options = Array.isArray(fill(component["data-source"], data)) ? fill(component["data-source"], data) : [];
    const type = component.type;
    if (type === "RadioButtonsGroup" || type === "CheckboxGroup") {
      const set = el("fieldset", "flow-choices");
      set.append(el("legend", null, label + (required ? " *" : "")));
      for (const option of options) {
        const row = el("label", "flow-choice");
        const input = el("input");
        input.type = type === "CheckboxGroup" ? "checkbox" : "radio";
        input.name = component.name;
        input.value = option.id;
        if (type === "RadioButtonsGroup" && required) input.required = true;
        row.append(input, el("span", null, option.title));
        set.append(row);
      }
      box.append(set);
      return box;
    }
    if (type === "OptIn") {
      const row = el("label", "flow-choice");
      const input = el("input");
      input.type = "checkbox";
      input.name = component.name;
      input.id = id;
      row.append(input, el("span", null, label));
      box.append(row);
      return box;
    }
    box.append(el("label", null, label + (required ? " *" : "")));
    box.lastChild.htmlFor = id;
    let input;
    if (type === "Dropdown") {
      input = el("select");
      input.append(el("option", null, "Choose…"));
      input.firstChild.value = "";
      for (const option of options) {
        const choice = el("option", null, option.title);
        choice.value = option.id;
        input.append(choice);
      }
    } else if (type === "TextArea") {
      input = el("textarea");
      input.rows = 3;
    } else {
      input = el("input");
      input.type = type === "DatePicker" ? "date" : component["input-type"] === "number" ? "number" : "text";
    }
    input.id = id;
    input.name = component.name;
    input.required = required;
    box.append(input);
    return box;
  }

  // What the form holds, by input name: text, a choice's id, a list of ids, or true/false.
  function values(form, inputs) {
    const found = {};
    for (const component of inputs) {
      const name = component.name;
      if (component.type === "CheckboxGroup") {
        found[name] = [...form.querySelectorAll(`input[name="${CSS.escape(name)}"]:checked`)].map((i) => i.value);
      } else if (component.type === "RadioButtonsGroup") {
        const picked = form.querySelector(`input[name="${CSS.escape(name)}"]:checked`);
        found[name] = picked ? picked.value : "";
      } else if (component.type === "OptIn") {
        found[name] = form.elements[name].checked;
      } else {
        found[name] = form.elements[name].value;
      }
    }
    return found;
  }

  function answer(payload, filled, data) {
    if (!payload || typeof payload !== "object") return filled;
    const out = {};
    for (const [key, value] of Object.entries(payload)) {
      const form = typeof value === "string" && /^\$\{form\.([A-Za-z0-9_]+)\}$/.exec(value);
      out[key] = form ? filled[form[1]] : fill(value, data);
    }
    return out;
  }

  async function open(interactive, opener, send) {
    const parameters = (interactive.action && interactive.action.parameters) || {};
    const name = flowName(parameters);
    const dialog = $("flow-dialog");
    const body = $("flow-body");
    body.replaceChildren();
    $("flow-title").textContent = parameters.flow_cta || "Form";
    let flow = null;
    try {
      const response = name ? await fetch(`/sandbox/flows/${encodeURIComponent(name)}`) : null;
      flow = response && response.ok ? await response.json() : null;
    } catch {
      flow = null;
    }
    const payload = parameters.flow_action_payload || {};
    const screens = (flow && flow.screens) || [];
    const screen = screens.find((s) => s.id === payload.screen) || screens[0];
    if (!screen) {
      body.append(el("p", "flow-missing", `This Flow (${name || parameters.flow_id || "?"}) is not in the project's whatsapp_flows folder.`));
      dialog.showModal();
      return;
    }
    const data = payload.data || {};
    const form = el("form", "flow-form");
    form.noValidate = false;
    if (screen.title) $("flow-title").textContent = fill(screen.title, data);
    const all = components((screen.layout && screen.layout.children) || []);
    const inputs = all.filter((c) => INPUTS.has(c.type) && c.name);
    let footer = null;
    for (const component of all) {
      if (TEXTS[component.type]) form.append(el(TEXTS[component.type], "flow-text", fill(component.text, data)));
      else if (INPUTS.has(component.type) && component.name) form.append(field(component, data));
      else if (component.type === "Footer") footer = component;
    }
    const submit = el("button", "flow-submit", (footer && footer.label) || "Send");
    submit.type = "submit";
    form.append(submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      const action = (footer && footer["on-click-action"]) || {};
      const answers = answer(action.payload, values(form, inputs), data);
      if (await send({ flow: { ...answers, flow_token: parameters.flow_token } })) {
        dialog.close();
        opener.focus();
      }
    });
    body.append(form);
    dialog.showModal();
  }

  return { open };
})();
