// task-runner studio: the page. Plain modern JavaScript, no framework, no build step.
// Data from the server is only ever put in the page as text (textContent), never as HTML.
"use strict";

const TOKEN = document.querySelector('meta[name="studio-token"]').content;
const POLL_MS = 2500;
const state = { info: null, workflows: [], shas: {}, view: null, timers: [] };

// -- small helpers ------------------------------------------------------------------------
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
const $ = (sel, root = document) => root.querySelector(sel);
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }
function toast(text, ms = 3200) {
  const el = $("#toast"); el.textContent = text; el.hidden = false;
  clearTimeout(toast.t); toast.t = setTimeout(() => { el.hidden = true; }, ms);
}
function methodTag(method) { return h("span", { class: `method m-${(method || "GET").toUpperCase()}`, text: (method || "GET").toUpperCase() }); }
function pill(text, kind) { return h("span", { class: `pill${kind ? " pill-" + kind : ""}`, text }); }
function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso); if (isNaN(d)) return iso;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
function loc(e) { return e.line ? `${e.file}:${e.line}:${e.column || 1}` : (e.file || ""); }

async function api(path, { method = "GET", body } = {}) {
  const opts = { method, headers: { "X-Studio-Token": TOKEN }, credentials: "same-origin" };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const response = await fetch(path, opts);
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { ok: response.ok, status: response.status, data };
}
function errorText(data) {
  if (!data) return "the studio did not answer";
  if (data.errors && data.errors.length) return data.errors.map((e) => (loc(e) ? loc(e) + ": " : "") + e.message).join("\n");
  return data.message || data.error || "failed";
}
const q = (params) => "?" + new URLSearchParams(params).toString();

// -- the workflow list (left), watched --------------------------------------------------------
async function loadWorkflows() {
  const { ok, data } = await api("/api/workflows");
  if (!ok) return;
  const changed = [];
  for (const wf of data.workflows) {
    if (state.shas[wf.path] && state.shas[wf.path] !== wf.sha256) changed.push(wf.path);
    state.shas[wf.path] = wf.sha256;
  }
  state.workflows = data.workflows;
  renderSidebar();
  if (changed.length && state.view && state.view.onFileChanged) state.view.onFileChanged(changed);
}

function renderSidebar() {
  const list = clear($("#workflow-list"));
  const route = location.hash;
  if (!state.workflows.length) list.append(h("div", { class: "faint small u-pad-sm" }, "No workflow files yet."));
  for (const wf of state.workflows) {
    const active = route.includes(encodeURIComponent(wf.path));
    const tasks = wf.tasks.map((t) => h("div", {}, `${t.name}`));
    list.append(h("a", { class: `wf-item${active ? " active" : ""}`, href: `#/wf/${encodeURIComponent(wf.path)}` },
      h("div", { class: "file" }, h("span", { class: `dot ${wf.valid ? "ok" : "bad"}`, title: wf.valid ? "valid" : `${wf.errors.length} error(s)` }), h("span", { class: "name", title: wf.path }, wf.path)),
      h("div", { class: "tasks" }, tasks)));
  }
  $("#nav-runs").classList.toggle("active", route.startsWith("#/run"));
  $("#nav-schedules").classList.toggle("active", route.startsWith("#/schedules"));
}

// -- router -------------------------------------------------------------------------------------
function route() {
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
  state.view = null;
  const main = clear($("#main"));
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  renderSidebar();
  const [name, a, b] = parts;
  if (name === "wf" && a) return workflowView(main, a);
  if (name === "add" && a) return addView(main, a);
  if (name === "test" && a && b) return testView(main, a, b);
  if (name === "edit" && a && b) return editView(main, a, b);
  if (name === "rec" && a && b) return recordingsView(main, a, b);
  if (name === "runs") return runsView(main);
  if (name === "run" && a) return runView(main, a);
  if (name === "schedules") return schedulesView(main);
  if (state.workflows.length) { location.hash = `#/wf/${encodeURIComponent(state.workflows[0].path)}`; return; }
  main.append(h("div", { class: "empty" }, h("p", {}, "No workflow files in this folder yet."),
    h("button", { class: "btn btn-primary", onclick: newWorkflow }, "Create a workflow")));
}

function newWorkflow() {
  const box = $("#new-workflow-form");
  if (!box.hidden) { box.hidden = true; return; }
  box.hidden = false;
  const input = $("#new-workflow-name");
  input.value = ""; input.focus();
}

function createWorkflow(event) {
  event.preventDefault();
  const name = $("#new-workflow-name").value.trim();
  if (!name) return;
  const file = /\.ya?ml$/.test(name) ? name : `${name}.yaml`;
  $("#new-workflow-form").hidden = true;
  location.hash = `#/add/${encodeURIComponent(file)}`;
}

// -- a workflow file ------------------------------------------------------------------------------
async function workflowView(main, path) {
  const { ok, data } = await api("/api/workflow" + q({ path }));
  if (!ok) { main.append(h("div", { class: "banner banner-bad" }, errorText(data))); return; }
  state.view = { onFileChanged: (paths) => { if (paths.includes(path)) { toast(`${path} changed on disk: reloaded`); route(); } } };
  const add = h("button", { class: "btn btn-primary", id: "add-task", onclick: () => { location.hash = `#/add/${encodeURIComponent(path)}`; } }, "+ Add HTTP task");
  main.append(h("div", { class: "page-head" },
    h("h1", {}, data.name || path), h("span", { class: "sub" }, path),
    data.valid ? pill("valid", "ok") : pill(`${data.errors.length} error${data.errors.length === 1 ? "" : "s"}`, "bad"),
    h("div", { class: "spacer" }), add));
  if (!data.exists) { main.append(h("div", { class: "empty" }, "This file does not exist yet; add a task to create it.")); return; }
  if (data.errors.length) main.append(errorBanner(data.errors));
  const rows = data.tasks.map((t) => {
    const last = t.last_test;
    const status = last ? pill(`${last.http_status || last.status}`, last.status === "succeeded" ? "ok" : "bad") : h("span", { class: "faint" }, "not tested");
    return h("tr", {},
      h("td", {}, t.operation ? h("a", { class: "task-link", href: editHref(path, t.name), title: "edit this task's params in a form" }, h("b", {}, t.name)) : h("b", {}, t.name), h("div", { class: "small muted" }, `line ${t.line}`)),
      h("td", {}, methodTag(t.method), " ", h("span", { class: "mono" }, t.path), h("div", { class: "small muted mono" }, t.operation || "raw request")),
      h("td", {}, status, last ? h("div", { class: "small muted" }, fmtTime(last.recorded_at)) : null),
      h("td", {}, h("div", { class: "actions" },
        t.operation ? h("a", { class: "btn btn-sm", id: `edit-${t.name}`, href: editHref(path, t.name) }, "Edit") : null,
        h("a", { class: "btn btn-sm", href: `#/test/${encodeURIComponent(path)}/${encodeURIComponent(t.name)}` }, "Test request"),
        h("a", { class: "btn btn-sm btn-ghost", href: `#/rec/${encodeURIComponent(path)}/${encodeURIComponent(t.name)}` }, "Recordings"))));
  });
  main.append(h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Tasks")),
    rows.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Task"), h("th", {}, "Request"), h("th", {}, "Last test"), h("th", {}, ""))), h("tbody", {}, rows))
      : h("div", { class: "empty" }, "No tasks yet. ", h("a", { href: `#/add/${encodeURIComponent(path)}` }, "Add an HTTP task"), ".")));
  const facts = [];
  if (data.schedule) facts.push(h("dt", {}, "schedule"), h("dd", {}, `${data.schedule.describe}; next ${fmtTime(data.schedule.next[0])}`));
  if (data.inputs.length) facts.push(h("dt", {}, "inputs"), h("dd", {}, data.inputs.map((i) => `${i.name} (${i.type || "any"})`).join(", ")));
  if (data.connections.length) facts.push(h("dt", {}, "connections"), h("dd", {}, data.connections.map((c) => `${c.name} (${c.api || "raw"})`).join(", ")));
  if (data.secrets.length) facts.push(h("dt", {}, "secrets"), h("dd", { class: "secret-list" }, data.secrets.map((s) => pill(`${s.name}${s.set ? "" : " (not set)"}`, s.set ? "ok" : "warn"))));
  main.append(h("div", { class: "grid-2" },
    h("div", { class: "card" }, h("h2", {}, "About"), h("dl", { class: "kv" }, facts)),
    h("div", { class: "card" }, h("h2", {}, "YAML"), codeBlock(data.text, data.errors.map((e) => e.line)))));
}

function errorBanner(errors) {
  return h("div", { class: "banner banner-bad u-block" },
    h("b", {}, `${errors.length} error${errors.length === 1 ? "" : "s"} (the same as task-runner validate)`),
    h("ul", { class: "errors" }, errors.map((e) => h("li", {}, h("span", { class: "loc" }, loc(e)), e.path ? h("b", {}, e.path + ": ") : null, e.message))));
}

function codeBlock(text, errorLines = [], addedLines = []) {
  const lines = (text || "").replace(/\n$/, "").split("\n");
  return h("div", { class: "code" }, lines.map((line, i) => h("div", {
    class: `ln${errorLines.includes(i + 1) ? " err" : ""}${addedLines.includes(i + 1) ? " added" : ""}`, dataset: { line: i + 1 } },
  h("span", { class: "n" }, i + 1), line || " ")));
}

// -- add an HTTP task: search, reference, form, test ----------------------------------------------
async function addView(main, path) {
  const wf = (await api("/api/workflow" + q({ path }))).data || {};
  const view = { path, wf, operation: null, values: {}, task: "", connection: "", inputs: loadInputs(path), draft: null, job: null, base: wf.sha256 || null };
  state.view = view;
  view.onFileChanged = async (paths) => {
    if (!paths.includes(path)) return;
    const fresh = (await api("/api/workflow" + q({ path }))).data || {};
    view.wf = fresh;
    showNotice(view, "warn", `${path} changed on disk. The preview now builds on the new version; nothing of yours was lost.`);
    if (view.operation) refreshDraft(view);
  };
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Add an HTTP task"), h("span", { class: "sub" }, `to ${path}`),
    h("div", { class: "spacer" }), h("a", { class: "btn btn-ghost", href: `#/wf/${encodeURIComponent(path)}` }, "Back to the workflow")));
  view.steps = h("ol", { class: "steps" }, h("li", { class: "current" }, "Find the API"), h("li", {}, "Prepare the request"), h("li", {}, "Test request"));
  view.notice = h("div", {});
  main.append(view.steps, view.notice);
  const input = h("input", { type: "search", id: "api-search", placeholder: "Search the API catalogue: images, photos, projects…", autocomplete: "off", "aria-label": "Search the API catalogue" });
  const results = h("div", { class: "results", id: "search-results" });
  const count = h("div", { class: "small muted u-mt8" });
  const left = h("div", { class: "card sticky" }, h("h2", {}, "Find the API"), h("div", { class: "search" }, input), count, results);
  view.right = h("div", {}, h("div", { class: "card empty" }, "Search, then click an operation: its reference appears here and the request is prepared from it."));
  main.append(h("div", { class: "grid-2" }, left, view.right));
  let seq = 0;
  const run = async () => {
    const mine = ++seq;
    const { data } = await api("/api/search" + q({ q: input.value }));
    if (mine !== seq || !data) return;
    renderResults(view, results, data, input.value);
    count.textContent = data.total > data.results.length ? `${data.total} operations; showing the first ${data.results.length}` : `${data.total} operation${data.total === 1 ? "" : "s"}`;
  };
  input.addEventListener("input", debounce(run, 120));
  input.focus();
  run();
}

function highlightText(text, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length || !text) return [text || ""];
  const re = new RegExp("(" + words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|") + ")", "ig");
  return text.split(re).map((part, i) => (i % 2 ? h("mark", {}, part) : part));
}

function renderResults(view, box, data, query) {
  clear(box);
  if (!data.results.length) { box.append(h("div", { class: "empty" }, `No operation matches “${query}”.`)); return; }
  let api = null;
  for (const r of data.results) {
    if (r.api !== api) { api = r.api; box.append(h("div", { class: "api-group" }, api)); }
    const button = h("button", { class: `result${view.operation && view.operation.operation.id === r.id ? " active" : ""}`, dataset: { op: r.id },
      onclick: () => { for (const b of box.querySelectorAll(".result")) b.classList.remove("active"); button.classList.add("active"); chooseOperation(view, r.id); } },
    h("div", { class: "line1" }, methodTag(r.method), h("span", { class: "opid" }, highlightText(r.id, query))),
    h("div", { class: "path" }, highlightText(r.path, query)),
    r.summary ? h("div", { class: "summary" }, highlightText(r.summary.split("\n")[0], query)) : null);
    box.append(button);
  }
}

function setStep(view, n) {
  [...view.steps.children].forEach((li, i) => { li.className = i < n ? "done" : i === n ? "current" : ""; });
}
function showNotice(view, kind, text, ...extra) { clear(view.notice).append(h("div", { class: `banner banner-${kind}` }, h("span", {}, text), ...extra)); }

async function chooseOperation(view, id) {
  const { ok, data } = await api("/api/operation" + q({ id }));
  if (!ok) { toast(errorText(data)); return; }
  view.operation = data;
  view.values = {};
  view.task = "";
  const conns = (view.wf.connections || []).filter((c) => c.api === data.operation.api);
  view.connection = conns.length ? conns[0].name : "";
  setStep(view, 1);
  renderOperation(view);
  refreshDraft(view);
}

function paramsOf(op) {
  const params = op.operation.parameters || [];
  return [...params.filter((p) => p.required), ...params.filter((p) => !p.required)];
}

function renderOperation(view) {
  const data = view.operation;
  const op = data.operation;
  const right = clear(view.right);
  const reference = h("div", { class: "card", id: "reference" },
    h("div", { class: "ref-head" }, methodTag(op.method), h("span", {}, op.path)),
    h("div", { class: "ref-summary" }, op.summary || op.id),
    op.description ? h("p", { class: "ref-desc" }, op.description) : null,
    h("div", { class: "ref-params" }, paramsOf(data).filter((p) => p.required).map((p) => h("span", { class: "pill" }, `${p.name} · ${p.in} · required`)),
      h("span", { class: "small muted" }, `${(op.parameters || []).filter((p) => !p.required).length} optional`)),
    h("div", { class: "small muted" }, h("span", { class: "mono" }, op.id),
      data.profile ? ` · ${data.profile.title} · auth ${data.profile.auth.join(", ") || "none"} · ${data.profile.pagination || "no"} pagination` : ""),
    h("details", { id: "reference-params" }, h("summary", { class: "small u-summary-sm u-mt10" }, `All ${(op.parameters || []).length} parameters: where, type, enum, default`),
      h("table", { class: "params-table u-mt6" },
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "In"), h("th", {}, "Type"), h("th", {}, "Description"))),
        h("tbody", {}, paramsOf(data).map((p) => h("tr", {},
          h("td", {}, p.name, p.required ? h("span", { class: "u-bad" }, " *") : null),
          h("td", { class: "small" }, p.in),
          h("td", { class: "small mono" }, typeLabel(p.schema || {})),
          h("td", { class: "small" }, h("div", { class: "desc", title: p.description || "" }, p.description || ""),
            p.schema && p.schema.enum ? h("div", { class: "enum" }, p.schema.enum.map((v) => h("code", {}, String(v)))) : null,
            p.schema && "default" in p.schema ? h("div", { class: "muted" }, `default ${JSON.stringify(p.schema.default)}`) : null)))))));
  const form = h("div", { class: "form", id: "request-form" });
  view.fields = {};
  const conns = (view.wf.connections || []).filter((c) => c.api === op.api || (view.edit && c.name === view.connection));
  const connSelect = h("select", { id: "connection", onchange: (e) => { view.connection = e.target.value; refreshDraft(view); } },
    conns.map((c) => h("option", { value: c.name, selected: c.name === view.connection }, `${c.name} (existing)`)),
    view.edit ? null : h("option", { value: conns.length ? `${op.api}_new` : "", selected: !conns.length }, conns.length ? `new ${op.api} connection` : `new connection from the ${op.api} API profile`));
  const nameInput = view.edit
    ? h("input", { type: "text", id: "task-name", value: view.edit, disabled: true, title: "rename a task in the YAML: other tasks may refer to it" })
    : h("input", { type: "text", id: "task-name", placeholder: "from the operation (e.g. list_images)", oninput: debounce((e) => { view.task = e.target.value.trim(); refreshDraft(view); }, 250) });
  form.append(h("div", { class: "field" }, h("label", { for: "task-name" }, "Task name"), h("div", { class: "control" }, nameInput)));
  form.append(h("div", { class: "field" }, h("label", { for: "connection" }, "Connection"), h("div", { class: "control" }, connSelect),
    h("div", { class: "help" }, "Credentials stay in secrets (environment variables or .env); the studio shows only their names.")));
  const params = paramsOf(data);
  const req = params.filter((p) => p.required), opt = params.filter((p) => !p.required);
  if (req.length) form.append(h("div", { class: "section-label" }, "Required"));
  for (const p of req) form.append(paramField(view, p));
  if (opt.length) {
    const group = h("div", { class: "form" });
    for (const p of opt) group.append(paramField(view, p));
    form.append(h("details", { class: "optional-group", id: "optional-params" }, h("summary", {}, `Optional parameters (${opt.length})`), group));
  }
  view.inputsBox = h("div", { class: "form", id: "test-inputs" });
  view.errorsBox = h("div", {});
  view.yamlBox = h("div", {});
  view.response = h("div", { id: "response" });
  const testButton = h("button", { class: "btn btn-primary", id: "test-request", onclick: () => startTest(view) }, "▶ Test request");
  const saveButton = h("button", { class: "btn", id: "save-task", onclick: () => saveTask(view) }, view.edit ? `Save changes to ${view.path}` : `Save to ${view.path}`);
  right.append(reference,
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Request"), h("div", { class: "spacer" }), h("span", { class: "small muted" }, "from the params JSON Schema · any field may hold a {{ template }}")), form),
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Test inputs"), h("div", { class: "spacer" }), h("span", { class: "small muted" }, "values for this test only, like --input")), view.inputsBox,
      view.errorsBox, h("div", { class: "actions u-mt14" }, testButton, saveButton, h("span", { class: "small muted", id: "draft-state" }))),
    view.response,
    h("div", { class: "card" }, h("details", {}, h("summary", { class: "u-summary" }, view.edit ? "The file with your changes, changed lines marked (written only when you save)" : "YAML the task adds (the file is written only when you save)"), h("div", { class: "u-mt10" }, view.yamlBox))));
  renderInputs(view);
}

function typeLabel(schema) {
  let t = Array.isArray(schema.type) ? schema.type.join("|") : schema.type || "any";
  if (t === "array" && schema.items) t = `array of ${Array.isArray(schema.items.type) ? schema.items.type.join("|") : schema.items.type || "any"}`;
  return schema.format ? `${t} (${schema.format})` : t;
}

const RANGE_FORMATS = new Set(["iso8601-range", "date-or-date-range", "date-range"]);
function isTemplate(v) { return typeof v === "string" && v.includes("{{"); }

function paramField(view, p) {
  const schema = { ...((view.operation.params_schema.properties || {})[p.name] || {}), ...(p.schema || {}) };
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  const initial = view.edit ? (view.values[p.name] ?? "") : p.required ? `{{ inputs.${inputName(p, view.operation.operation.api)} }}` : "";
  if (p.required && !view.edit) view.values[p.name] = initial;
  const id = "param-" + p.name.replace(/[^A-Za-z0-9_-]/g, "_");
  const control = h("div", { class: "control" });
  const err = h("div", { class: "err", hidden: true });
  const field = h("div", { class: `field${p.required ? "" : " optional"}`, dataset: { param: p.name } },
    h("label", { for: id }, p.name, p.required ? h("span", { class: "req" }, "*") : null, h("span", { class: "where" }, `${p.in} · ${typeLabel(schema)}`)),
    control, p.description ? h("div", { class: "help" }, p.description.split(/(?<=\.)\s/)[0]) : null, err);
  view.fields[p.name] = { field, err };
  const set = (value) => { if (value === "" || value === null || value === undefined || (Array.isArray(value) && !value.length)) delete view.values[p.name]; else view.values[p.name] = value; refreshDraftSoon(view); };
  let templateMode = isTemplate(initial);
  const toggle = h("button", { class: "btn btn-sm tmpl-toggle", type: "button", title: "write a template instead, e.g. {{ inputs.project_id }}", text: "{{ }}" });
  const render = () => {
    clear(control);
    toggle.classList.toggle("on", templateMode);
    const current = view.values[p.name];
    if (templateMode || (!schema.enum && type !== "boolean" && type !== "array" && !RANGE_FORMATS.has(schema.format))) {
      const input = h("input", { type: "text", id, value: typeof current === "string" ? current : current === undefined ? "" : JSON.stringify(current),
        placeholder: schema.default !== undefined ? `default ${JSON.stringify(schema.default)}` : typeLabel(schema), autocomplete: "off", spellcheck: false });
      input.addEventListener("input", () => set(coerce(input.value, type)));
      attachCompletion(view, input, control);
      control.append(input);
    } else if (schema.enum) {
      const options = [...schema.enum.map(String)];
      if (schema["x-descending-prefix"]) for (const v of schema.enum) options.push(schema["x-descending-prefix"] + v);
      const select = h("select", { id, onchange: (e) => set(e.target.value) }, h("option", { value: "" }, schema.default !== undefined ? `default (${schema.default})` : "—"),
        options.map((v) => h("option", { value: v, selected: current === v }, v)));
      control.append(select);
    } else if (type === "boolean") {
      const box = h("input", { type: "checkbox", class: "switch", id, checked: current === true, onchange: (e) => set(e.target.checked ? true : undefined) });
      control.append(box, h("span", { class: "small muted" }, "true when on; not sent when off"));
    } else if (type === "array") {
      const items = Array.isArray(current) ? [...current] : [];
      const itemType = schema.items && (Array.isArray(schema.items.type) ? schema.items.type[0] : schema.items.type);
      const rows = h("div", { class: "list-rows" });
      const redraw = () => {
        clear(rows);
        items.forEach((v, i) => {
          const input = h("input", { type: "text", value: String(v), "aria-label": `${p.name} item ${i + 1}` });
          input.addEventListener("input", () => { items[i] = coerce(input.value, itemType); set(items.filter((x) => x !== "")); });
          rows.append(h("div", { class: "row" }, input, h("button", { class: "btn btn-sm btn-ghost", type: "button", title: "remove", onclick: () => { items.splice(i, 1); set([...items]); redraw(); } }, "✕")));
        });
        rows.append(h("div", {}, h("button", { class: "btn btn-sm", type: "button", id, onclick: () => { items.push(""); redraw(); rows.querySelector("input:last-of-type")?.focus(); } }, "+ Add item")));
      };
      redraw();
      control.append(rows);
    } else {
      const [from, to] = typeof current === "string" && current.includes("...") ? current.split("...") : ["", ""];
      const a = h("input", { type: "date", id, value: from.slice(0, 10), "aria-label": `${p.name} from` });
      const b = h("input", { type: "date", value: to.slice(0, 10), "aria-label": `${p.name} to` });
      const update = () => set(a.value && b.value ? `${a.value}...${b.value}` : a.value || "");
      a.addEventListener("change", update); b.addEventListener("change", update);
      control.append(h("div", { class: "range" }, a, h("span", { class: "muted" }, "to"), b));
    }
    control.append(toggle);
  };
  toggle.addEventListener("click", () => { templateMode = !templateMode; render(); });
  render();
  return field;
}

function inputName(p, api) {
  let name = p.name;
  if (p.in === "header" && name.toLowerCase().startsWith(api.toLowerCase() + "-")) name = name.slice(api.length + 1);
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "") || "value";
}

function coerce(text, type) {
  const t = text.trim();
  if (t === "") return "";
  if (isTemplate(t)) return text;
  if ((type === "integer") && /^-?\d+$/.test(t)) return Number(t);
  if ((type === "number") && t !== "" && !isNaN(Number(t))) return Number(t);
  if (type === "boolean" && (t === "true" || t === "false")) return t === "true";
  return text;
}

// template completion: {{ inputs. / env. / secrets. / tasks. / run. }}
function completions(view) {
  const list = ["inputs.", "env.", "secrets.", "tasks.", "run."];
  for (const i of view.wf.inputs || []) list.push(`inputs.${i.name}`);
  for (const name of Object.keys((view.draft && view.draft.new_inputs) || {})) list.push(`inputs.${name}`);
  for (const e of view.wf.env || []) list.push(`env.${e}`);
  for (const s of view.wf.secrets || []) list.push(`secrets.${s.name}`);
  for (const t of view.wf.tasks || []) list.push(`tasks.${t.name}.output`);
  for (const f of (state.info && state.info.run_fields) || []) list.push(`run.${f}`);
  return [...new Set(list)];
}

function attachCompletion(view, input, control) {
  let box = null, sel = 0, matches = [];
  const close = () => { if (box) { box.remove(); box = null; } };
  const apply = (choice) => {
    const before = input.value.slice(0, input.selectionStart), after = input.value.slice(input.selectionStart);
    const m = before.match(/\{\{\s*([\w.]*)$/);
    const head = before.slice(0, before.length - m[1].length) + choice;
    const tail = choice.endsWith(".") ? after : (after.trimStart().startsWith("}}") ? after : " }}" + after);
    input.value = head + tail;
    input.setSelectionRange(head.length, head.length);
    input.dispatchEvent(new Event("input"));
    close();
    if (choice.endsWith(".")) show();
  };
  const show = () => {
    const before = input.value.slice(0, input.selectionStart);
    const m = before.match(/\{\{\s*([\w.]*)$/);
    if (!m) return close();
    matches = completions(view).filter((c) => c.startsWith(m[1]) && c !== m[1]).slice(0, 30);
    if (!matches.length) return close();
    sel = Math.min(sel, matches.length - 1);
    if (!box) { box = h("div", { class: "complete", role: "listbox" }); control.append(box); }
    clear(box).append(...matches.map((c, i) => h("div", { class: i === sel ? "sel" : "", role: "option", onmousedown: (e) => { e.preventDefault(); apply(c); } }, c)));
  };
  input.addEventListener("input", show);
  input.addEventListener("click", show);
  input.addEventListener("blur", () => setTimeout(close, 100));
  input.addEventListener("keydown", (e) => {
    if (!box) return;
    if (e.key === "ArrowDown") { sel = (sel + 1) % matches.length; show(); e.preventDefault(); }
    else if (e.key === "ArrowUp") { sel = (sel - 1 + matches.length) % matches.length; show(); e.preventDefault(); }
    else if (e.key === "Enter" || e.key === "Tab") { apply(matches[sel]); e.preventDefault(); }
    else if (e.key === "Escape") close();
  });
}

// -- inputs for the test ------------------------------------------------------------------------
function loadInputs(path) { try { return JSON.parse(localStorage.getItem("inputs:" + path) || "{}"); } catch { return {}; } }
function saveInputs(path, values) { try { localStorage.setItem("inputs:" + path, JSON.stringify(values)); } catch { /* private mode */ } }

function neededInputs(view) {
  const needed = new Map();
  for (const i of view.wf.inputs || []) needed.set(i.name, i);
  for (const [name, type] of Object.entries((view.draft && view.draft.new_inputs) || {})) if (!needed.has(name)) needed.set(name, { name, type, required: true, description: "new input the task reads" });
  return [...needed.values()];
}

function renderInputs(view) {
  const box = view.inputsBox; if (!box) return;
  const have = new Set([...box.querySelectorAll("input")].map((i) => i.name));
  const wanted = neededInputs(view);
  if (wanted.length === have.size && wanted.every((i) => have.has(i.name))) return;
  clear(box);
  if (!wanted.length) { box.append(h("div", { class: "small muted" }, "The task reads no inputs.")); return; }
  for (const i of wanted) {
    const input = h("input", { type: "text", name: i.name, id: `input-${i.name}`, value: view.inputs[i.name] ?? "", placeholder: i.default !== undefined && i.default !== null ? `default ${JSON.stringify(i.default)}` : i.type || "", autocomplete: "off" });
    input.addEventListener("input", () => { view.inputs[i.name] = input.value; saveInputs(view.path, view.inputs); refreshDraftSoon(view); });
    const err = h("div", { class: "err", hidden: true });
    view.fields["inputs." + i.name] = { field: null, err, input };
    box.append(h("div", { class: "field" }, h("label", { for: `input-${i.name}` }, i.name, h("span", { class: "where" }, `input · ${i.type || "any"}`)), h("div", { class: "control" }, input),
      i.description ? h("div", { class: "help" }, i.description) : null, err));
  }
}

// -- draft: validation as you type ------------------------------------------------------------------
function draftBody(view) {
  if (view.edit) return { path: view.path, task: view.edit, edit: true, connection: view.connection, params: view.values, inputs: cleanInputs(view) };
  return { path: view.path, operation: view.operation.operation.id, task: view.task, connection: view.connection, params: view.values, inputs: cleanInputs(view) };
}
function cleanInputs(view) {
  const out = {};
  for (const i of neededInputs(view)) if (view.inputs[i.name] !== undefined && view.inputs[i.name] !== "") out[i.name] = view.inputs[i.name];
  return out;
}
function refreshDraftSoon(view) { clearTimeout(view.draftTimer); view.draftTimer = setTimeout(() => refreshDraft(view), 300); }

async function refreshDraft(view) {
  if (!view.operation) return;
  const mine = (view.draftSeq = (view.draftSeq || 0) + 1);
  const { ok, data } = await api(view.edit ? "/api/task/draft" : "/api/draft", { method: "POST", body: draftBody(view) });
  if (mine !== view.draftSeq) return;
  if (!ok) { view.draft = null; showDraftErrors(view, data && data.errors ? data.errors : [{ message: errorText(data) }], null); return; }
  view.draft = data;
  renderInputs(view);
  showDraftErrors(view, data.errors, data);
}

function fieldFor(view, error) {
  const path = error.path || "";
  const task = view.draft ? view.draft.task : "";
  if (path.startsWith("inputs.")) return view.fields[path.split(".").slice(0, 2).join(".")];
  const prefix = `${task}.params.`;
  if (!path.startsWith(prefix)) return null;
  const rest = path.slice(prefix.length);
  const names = Object.keys(view.fields).filter((n) => rest === n || rest.startsWith(n + "[") || rest.startsWith(n + ".")).sort((a, b) => b.length - a.length);
  return names.length ? view.fields[names[0]] : null;
}

function showDraftErrors(view, errors, draft) {
  for (const f of Object.values(view.fields)) { f.err.hidden = true; f.field?.classList.remove("invalid"); f.input?.classList.remove("invalid"); }
  const loose = [];
  for (const e of errors) {
    const f = fieldFor(view, e);
    if (f) { const group = f.field?.closest("details"); if (group) group.open = true; f.err.hidden = false; f.err.textContent = `${e.message}  (${e.file}:${e.line})`; f.field?.classList.add("invalid"); f.input?.classList.add("invalid"); }
    else loose.push(e);
  }
  clear(view.errorsBox);
  if (loose.length) view.errorsBox.append(h("div", { class: "u-mt12" }, errorBanner(loose)));
  const status = $("#draft-state");
  if (status) status.textContent = errors.length ? `${errors.length} problem${errors.length === 1 ? "" : "s"} to fix` : "valid: the same checks as task-runner validate";
  const save = $("#save-task");  // a file that would not pass validate is never written
  if (save) { save.disabled = errors.length > 0; save.title = errors.length ? "Fix the problems shown first: the saved file must pass task-runner validate" : ""; }
  if (draft) {
    const lines = draft.text.split("\n");
    const added = [];
    if (view.edit) {
      const before = new Map();
      for (const l of (view.wf.text || "").split("\n")) before.set(l, (before.get(l) || 0) + 1);
      lines.forEach((l, i) => { const n = before.get(l) || 0; if (n) before.set(l, n - 1); else added.push(i + 1); });
    } else {
      const start = lines.findIndex((l) => l.trim() === `${draft.task}:`);
      if (start >= 0) for (let i = start; i < lines.length && (i === start || /^\s{4,}|^\s*$/.test(lines[i])); i++) added.push(i + 1);
    }
    clear(view.yamlBox).append(codeBlock(draft.text, errors.map((e) => e.line), added));
  }
}

// -- save --------------------------------------------------------------------------------------------
async function saveTask(view, base) {
  if (view.edit) return saveEdit(view);
  const body = { ...draftBody(view), base_sha256: base !== undefined ? base : (view.draft ? view.draft.base_sha256 : view.base) };
  const { ok, status, data } = await api("/api/save", { method: "POST", body });
  if (status === 422) { showDraftErrors(view, data.errors || [], null); toast(data.message || errorText(data), 6000); return false; }
  if (status === 409) {
    showNotice(view, "bad", `${view.path} changed on disk since the preview was made; your task was NOT saved, and the file was not touched.`,
      h("button", { class: "btn btn-sm", onclick: async () => { await refreshDraft(view); clear(view.notice); toast("The preview now shows your task in the new version; review it, then save."); } }, "Rebuild the preview on the new version"));
    return false;
  }
  if (!ok) { toast(errorText(data), 6000); return false; }
  state.shas[view.path] = data.sha256;
  showNotice(view, "ok", `Saved task ${data.task} to ${data.path} (comments and layout kept).`,
    h("a", { class: "btn btn-sm", href: `#/wf/${encodeURIComponent(data.path)}` }, "Open the workflow"));
  await loadWorkflows();
  const fresh = (await api("/api/workflow" + q({ path: view.path }))).data || {};
  view.wf = fresh;
  view.saved = data.task;
  asEditOf(view, data.task, data.sha256);
  return true;
}

// After its first save, the new task is edited in place: the next Save changes it in the
// file just written, on the digest that save returned (not the preview's older one).
function asEditOf(view, task, sha256) {
  const saved = (view.wf.tasks || []).find((t) => t.name === task);
  view.edit = task; view.task = task; view.base = sha256;
  if (saved) view.connection = saved.connection || "";
  const name = $("#task-name"); if (name) { name.value = task; name.disabled = true; }
  const conn = $("#connection"); if (conn) conn.disabled = true;
  const save = $("#save-task"); if (save) save.textContent = `Save changes to ${view.path}`;
  refreshDraft(view);
}

// -- test request --------------------------------------------------------------------------------------
async function startTest(view, extra = {}) {
  const body = view.operation ? { ...draftBody(view), ...extra } : { path: view.path, task: view.taskName, inputs: cleanInputs(view), ...extra };
  if (view.operation && view.saved) { body.operation = undefined; body.task = view.saved; }
  const box = clear(view.response);
  const { ok, data } = await api("/api/test", { method: "POST", body });
  if (!ok) {
    if (data && data.errors && data.errors.some((e) => /changes data on the server/.test(e.message))) {
      if (confirm(errorText(data) + "\n\nSend it anyway?")) return startTest(view, { confirm_write: true });
      return;
    }
    box.append(h("div", { class: "card" }, errorBanner(data && data.errors ? data.errors : [{ message: errorText(data) }]))); return;
  }
  if (view.steps) setStep(view, 2);
  const since = Date.now();
  const clock = h("span", { class: "mono" }, "0.0 s");
  const cancel = h("button", { class: "btn btn-danger btn-sm", id: "cancel-test", title: CANCEL_HELP,
    onclick: () => { cancel.disabled = true; cancel.textContent = "Cancelling…"; api(`/api/test/${data.id}/cancel`, { method: "POST" }); } }, "Cancel");
  const notes = h("div", { class: "small muted" });
  box.append(h("div", { class: "card", id: "running" }, h("div", { class: "status-line" }, h("div", { class: "spinner" }), h("b", {}, `Sending ${data.task}…`), clock, cancel), notes));
  const tick = setInterval(() => { clock.textContent = ((Date.now() - since) / 1000).toFixed(1) + " s"; }, 100);
  state.timers.push(tick);
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const poll = await api(`/api/test/${data.id}`);
    if (!poll.ok) break;
    notes.textContent = poll.data.notes.join(" · ");
    if (poll.data.state !== "running") { clearInterval(tick); renderOutcome(clear(view.response), poll.data); break; }
  }
  loadWorkflows();
}

function renderOutcome(box, job) {
  const r = job.result || {};
  if (job.state === "cancelled") {
    box.append(h("div", { class: "banner banner-warn u-block", id: "cancelled" }, "Cancelled: the test request was stopped; nothing more is sent.",
      r.attempts && r.attempts.length ? " What it got before the cancel is below, and in its recording." : ""));
    if (!r.attempts || !r.attempts.length) return;
  }
  if (job.state === "invalid" || (job.state === "failed" && !r.request)) { box.append(h("div", { class: "card", id: "outcome" }, errorBanner(r.errors || [{ message: r.error || "failed" }]))); return; }
  const responses = r.responses || [];
  const first = responses[0] || {};
  const okStatus = r.status === "succeeded";
  const card = h("div", { class: "card", id: "outcome" });
  const total = Object.entries(r.shown_headers || {}).find(([k]) => k.toLowerCase() === "total");
  card.append(h("div", { class: "status-line" },
    h("span", { class: `status-big ${okStatus ? "ok" : "bad"}`, id: "http-status" }, `${r.http_status ?? "–"} ${first.reason || ""}`),
    pill(r.status, okStatus ? "ok" : "bad"),
    h("span", { class: "muted" }, `${responses.reduce((s, x) => s + (x.elapsed || 0), 0).toFixed(3)} s on the wire`),
    h("span", { class: "muted" }, `${r.items ?? 0} item(s) · ${r.pages ?? responses.length} page(s)`),
    total ? h("span", { class: "muted" }, `API reports Total ${total[1]}`) : null));
  if (r.error) card.append(h("div", { class: "banner banner-bad u-mt10" }, r.error));
  if (r.estimate) card.append(h("div", { class: "small u-mt8" }, h("b", {}, "Full run: "), r.estimate));
  if (r.request) {
    card.append(h("h3", {}, "Request as sent"), h("div", { class: "reqline", id: "sent-request" }, `${r.request.method} ${r.request.url}`));
    const hdrs = Object.entries(r.request.headers || {});
    if (hdrs.length) card.append(h("details", {}, h("summary", { class: "small muted u-summary-sm u-mt6" }, `${hdrs.length} request headers (secrets as ***)`),
      h("dl", { class: "kv u-mt6" }, hdrs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))));
  }
  const attempts = r.attempts || [];
  if (attempts.length) {
    card.append(h("h3", {}, `Attempts (${attempts.length})`));
    const list = h("ul", { class: "attempts", id: "attempts" });
    for (const a of attempts) {
      const good = a.status && a.status < 400;
      list.append(h("li", {}, pill(a.purpose === "token" ? "token" : `#${a.number}`), h("b", { class: `mono u-${good ? "ok" : "bad"}` }, a.status ? `${a.status} ${a.reason || ""}` : a.error || "no answer"),
        h("span", { class: "small muted mono" }, `${a.method} page ${a.page ?? "–"} · ${(a.elapsed ?? 0).toFixed ? (a.elapsed || 0).toFixed(3) : a.elapsed} s`)));
      if (a.wait_before_next) list.append(h("li", { class: "wait" }, `⏱ waited ${a.wait_before_next} s before retrying${a.response_headers && a.response_headers["Retry-After"] ? ` (Retry-After: ${a.response_headers["Retry-After"]})` : ""}`));
    }
    card.append(list);
  }
  box.append(card);
  if (responses.length) box.append(bodyCard(responses));
  const more = h("div", { class: "card" });
  const shown = Object.entries(r.shown_headers || {});
  if (shown.length) more.append(h("h2", {}, "Pagination and rate limits"), h("dl", { class: "kv", id: "shown-headers" }, shown.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  const where = [];
  if (r.recording) where.push(h("dt", {}, "recording"), h("dd", {}, r.recording));
  if (r.har) where.push(h("dt", {}, "HAR"), h("dd", {}, r.har));
  if (r.review && r.review.drift) where.push(h("dt", {}, "drift"), h("dd", {}, r.review.drift.summary));
  if (where.length) more.append(h("h3", {}, "Kept"), h("dl", { class: "kv" }, where));
  if (more.children.length) box.append(more);
}

function bodyCard(responses) {
  const body = responses.length === 1 ? responses[0].body : responses.flatMap((x) => (Array.isArray(x.body) ? x.body : [x.body]));
  const card = h("div", { class: "card", id: "response-body" }, h("div", { class: "card-head" }, h("h2", {}, "Body"), h("span", { class: "small muted" }, responses.length > 1 ? `${responses.length} pages` : (responses[0].headers || {})["Content-Type"] || "")));
  const isTable = Array.isArray(body) && body.length && body.every((x) => x && typeof x === "object" && !Array.isArray(x));
  const panes = {};
  const tabs = h("div", { class: "tabs" });
  const content = h("div", {});
  const show = (name) => { for (const [n, b] of Object.entries(panes)) b.classList.toggle("active", n === name); clear(content).append(name === "Table" ? tableView(body) : name === "JSON" ? treeView(body) : h("pre", { class: "code u-pad" }, typeof body === "string" ? body : JSON.stringify(body, null, 2))); };
  for (const name of [...(isTable ? ["Table"] : []), ...(typeof body === "string" ? [] : ["JSON"]), "Raw"]) {
    panes[name] = h("button", { class: "tab", onclick: () => show(name) }, name);
    tabs.append(panes[name]);
  }
  card.append(tabs, content);
  show(Object.keys(panes)[0]);
  return card;
}

function tableView(rows) {
  const cols = [];
  for (const row of rows.slice(0, 200)) for (const k of Object.keys(row)) if (!cols.includes(k)) cols.push(k);
  const cell = (v) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.slice(0, 500).map((row) => h("tr", {}, cols.map((c) => h("td", { title: cell(row[c]) }, cell(row[c]))))))));
}

function treeView(value) {
  const node = (key, v, depth) => {
    const label = key === null ? [] : [h("span", { class: "k" }, JSON.stringify(key)), ": "];
    if (v && typeof v === "object") {
      const entries = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
      const count = Array.isArray(v) ? `[${v.length}]` : `{${entries.length}}`;
      const d = h("details", { open: depth < 2 }, h("summary", {}, ...label, h("span", { class: "c" }, count)));
      d.addEventListener("toggle", () => { if (d.open && d.children.length === 1) for (const [k, x] of entries.slice(0, 1000)) d.append(node(Array.isArray(v) ? null : k, x, depth + 1)); }, { once: false });
      if (depth < 2) for (const [k, x] of entries.slice(0, 1000)) d.append(node(Array.isArray(v) ? null : k, x, depth + 1));
      return d;
    }
    const cls = typeof v === "string" ? "s" : typeof v === "number" ? "n" : "l";
    return h("div", { class: "leaf" }, ...label, h("span", { class: cls }, JSON.stringify(v)));
  };
  return h("div", { class: "tree" }, node(null, value, 0));
}

// -- edit an existing task: the same form, prefilled from the YAML -----------------------------------
const CANCEL_HELP = "Stops at once while it waits (retry backoff, Retry-After, rate limit); a response being read finishes first, at most the task's timeout.";
function editHref(path, task) { return `#/edit/${encodeURIComponent(path)}/${encodeURIComponent(task)}`; }

async function editView(main, path, task) {
  const wf = (await api("/api/workflow" + q({ path }))).data || {};
  const t = (wf.tasks || []).find((x) => x.name === task);
  main.append(h("div", { class: "page-head" }, h("h1", {}, `Edit ${task}`), h("span", { class: "sub" }, path), h("div", { class: "spacer" }),
    h("a", { class: "btn btn-ghost", href: `#/rec/${encodeURIComponent(path)}/${encodeURIComponent(task)}` }, "Recordings"),
    h("a", { class: "btn btn-ghost", href: `#/wf/${encodeURIComponent(path)}` }, "Back to the workflow")));
  if (!t) { main.append(h("div", { class: "banner banner-bad" }, `${path} has no task ${task} (any more).`)); return; }
  if (!t.operation) { main.append(h("div", { class: "banner banner-warn" }, `${task} is a raw request (no operation from the catalogue): edit it in the YAML.`)); return; }
  const view = { path, wf, edit: task, task, operation: null, values: { ...t.params }, connection: t.connection || "", inputs: loadInputs(path), draft: null, base: wf.sha256, fields: {} };
  state.view = view;
  view.notice = h("div", {});
  view.right = h("div", {}, h("div", { class: "card empty" }, "Loading the reference…"));
  main.append(view.notice, view.right);
  view.onFileChanged = (paths) => {
    if (!paths.includes(path) || view.saving) return;
    showNotice(view, "warn", `${path} changed on disk since you opened this task. Saving would be refused (nothing is overwritten); the preview below already shows your changes on the new version.`,
      h("button", { class: "btn btn-sm", onclick: () => rebaseEdit(view) }, "Apply my changes to the new version"));
    refreshDraft(view);
  };
  const { ok, data } = await api("/api/operation" + q({ id: t.operation }));
  if (!ok) { clear(view.right).append(h("div", { class: "banner banner-bad" }, errorText(data))); return; }
  view.operation = data;
  renderOperation(view);
  refreshDraft(view);
}

async function rebaseEdit(view) {
  const fresh = (await api("/api/workflow" + q({ path: view.path }))).data || {};
  view.wf = fresh;
  view.base = fresh.sha256;
  clear(view.notice);
  await refreshDraft(view);
  toast("Your changes now apply to the new version; review the preview, then save.");
}

async function saveEdit(view) {
  view.saving = true;
  try {
    const { ok, status, data } = await api("/api/task/save", { method: "POST", body: { ...draftBody(view), base_sha256: view.base } });
    if (status === 422) { showDraftErrors(view, data.errors || [], null); toast(data.message || errorText(data), 6000); return false; }
    if (status === 409) {
      showNotice(view, "bad", `${view.path} changed on disk since you opened this task; your changes were NOT saved, and the file was not touched.`,
        h("button", { class: "btn btn-sm", onclick: () => rebaseEdit(view) }, "Apply my changes to the new version"));
      return false;
    }
    if (!ok) { toast(errorText(data), 6000); return false; }
    state.shas[view.path] = data.sha256;
    view.base = data.sha256;
    view.wf = (await api("/api/workflow" + q({ path: view.path }))).data || view.wf;
    showNotice(view, "ok", `Saved ${data.task} to ${data.path}: only the changed lines were written.`,
      h("a", { class: "btn btn-sm", href: `#/wf/${encodeURIComponent(data.path)}` }, "Open the workflow"));
    await loadWorkflows();
    await refreshDraft(view);
    return true;
  } finally { view.saving = false; }
}

// -- test an existing task ------------------------------------------------------------------------
async function testView(main, path, task) {
  const wf = (await api("/api/workflow" + q({ path }))).data || {};
  const view = { path, wf, taskName: task, fields: {}, inputs: loadInputs(path), draft: null };
  state.view = view;
  const t = (wf.tasks || []).find((x) => x.name === task);
  main.append(h("div", { class: "page-head" }, h("h1", {}, task), h("span", { class: "sub" }, path), h("div", { class: "spacer" }),
    t && t.operation ? h("a", { class: "btn btn-ghost", href: editHref(path, task) }, "Edit") : null,
    h("a", { class: "btn btn-ghost", href: `#/rec/${encodeURIComponent(path)}/${encodeURIComponent(task)}` }, "Recordings"),
    h("a", { class: "btn btn-ghost", href: `#/wf/${encodeURIComponent(path)}` }, "Back to the workflow")));
  if (t) main.append(h("div", { class: "card" }, h("div", { class: "ref-head" }, methodTag(t.method), h("span", {}, t.path), h("span", { class: "small muted" }, t.operation || "")),
    h("h3", {}, "Params"), h("dl", { class: "kv" }, Object.entries(t.params).map(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "string" ? v : JSON.stringify(v))]))));
  view.inputsBox = h("div", { class: "form", id: "test-inputs" });
  view.errorsBox = h("div", {});
  view.response = h("div", { id: "response" });
  main.append(h("div", { class: "card" }, h("h2", {}, "Test inputs"), view.inputsBox, view.errorsBox,
    h("div", { class: "actions u-mt14" }, h("button", { class: "btn btn-primary", id: "test-request", onclick: () => startTest(view) }, "▶ Test request"))), view.response);
  renderInputs(view);
}

// -- recordings and drift ---------------------------------------------------------------------------
async function recordingsView(main, path, task) {
  const wf = (await api("/api/workflow" + q({ path }))).data || {};
  main.append(h("div", { class: "page-head" }, h("h1", {}, `Recordings of ${task}`), h("span", { class: "sub" }, path), h("div", { class: "spacer" }),
    h("a", { class: "btn btn-ghost", href: `#/test/${encodeURIComponent(path)}/${encodeURIComponent(task)}` }, "Test request")));
  const { data } = await api("/api/recordings" + q({ workflow: wf.name || "", task }));
  const recs = (data && data.recordings) || [];
  if (!recs.length) { main.append(h("div", { class: "empty" }, "No recordings yet: run a test request.")); return; }
  const picked = [];
  const driftBox = h("div", {});
  const compare = h("button", { class: "btn btn-primary", disabled: true, onclick: async () => {
    const [a, b] = [...picked].sort();
    const res = await api("/api/drift" + q({ before: a, after: b }));
    clear(driftBox).append(res.ok ? h("div", { class: "card", id: "drift" }, h("div", { class: "card-head" }, h("h2", {}, "Drift"), res.data.drifted ? pill("drifted", "warn") : pill("no drift", "ok")),
      h("p", {}, res.data.summary), codeBlock(res.data.lines.join("\n"))) : h("div", { class: "banner banner-bad" }, errorText(res.data)));
  } }, "Compare the two selected");
  const rows = recs.slice().reverse().map((r) => {
    const box = h("input", { type: "checkbox", onchange: (e) => { if (e.target.checked) picked.push(r.path); else picked.splice(picked.indexOf(r.path), 1); compare.disabled = picked.length !== 2; } });
    return h("tr", {}, h("td", {}, box), h("td", {}, fmtTime(r.recorded_at)), h("td", {}, pill(`${r.http_status ?? "–"}`, r.status === "succeeded" ? "ok" : "bad")), h("td", { class: "mono small" }, r.path));
  });
  main.append(h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, `${recs.length} recording(s)`), h("div", { class: "spacer" }), compare),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "Recorded"), h("th", {}, "Status"), h("th", {}, "File"))), h("tbody", {}, rows))), driftBox);
}

// -- runs and schedules ---------------------------------------------------------------------------------
async function runsView(main) {
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Runs"), h("span", { class: "sub" }, "task-runner runs list")));
  const { ok, data } = await api("/api/runs");
  if (!ok) { main.append(h("div", { class: "banner banner-bad" }, errorText(data))); return; }
  if (!data.runs.length) { main.append(h("div", { class: "empty" }, `No runs recorded in ${data.state_dir} yet.`)); return; }
  main.append(h("div", { class: "card" }, h("table", {}, h("thead", {}, h("tr", {}, ["Run", "Workflow", "Trigger", "Status", "Started", "Items"].map((c) => h("th", {}, c)))),
    h("tbody", {}, data.runs.map((r) => h("tr", { class: "clickable", onclick: () => { location.hash = `#/run/${encodeURIComponent(r.id)}`; } },
      h("td", { class: "mono small" }, r.id), h("td", {}, r.workflow), h("td", {}, r.trigger), h("td", {}, pill(r.status, r.status === "succeeded" ? "ok" : r.status === "running" ? "" : "bad")),
      h("td", {}, fmtTime(r.started_at)), h("td", {}, r.item_count)))))));
}

async function runView(main, id) {
  const { ok, data } = await api("/api/run" + q({ id }));
  if (!ok) { main.append(h("div", { class: "banner banner-bad" }, errorText(data))); return; }
  main.append(h("div", { class: "page-head" }, h("h1", {}, `Run of ${data.workflow}`), h("span", { class: "sub" }, data.id), pill(data.status, data.status === "succeeded" ? "ok" : "bad")));
  main.append(h("div", { class: "card" }, h("dl", { class: "kv" }, ["trigger", "scheduled_at", "started_at", "finished_at", "window_start", "window_end", "error"].filter((k) => data[k]).map((k) => [h("dt", {}, k), h("dd", {}, data[k])]))));
  main.append(h("div", { class: "card" }, h("h2", {}, "Tasks"), h("table", {}, h("thead", {}, h("tr", {}, ["Task", "Status", "HTTP", "Pages", "Items", "Attempts", "Duration"].map((c) => h("th", {}, c)))),
    h("tbody", {}, data.tasks.map((t) => h("tr", {}, h("td", {}, h("b", {}, t.task), t.error ? h("div", { class: "small u-bad" }, t.error) : null),
      h("td", {}, pill(t.status, t.status === "succeeded" ? "ok" : "bad")), h("td", {}, t.http_status ?? "–"), h("td", {}, t.pages), h("td", {}, t.items), h("td", {}, t.attempts), h("td", {}, `${(t.elapsed || 0).toFixed(2)} s`)))))));
}

function schedulesView(main) {
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Schedules"), h("span", { class: "sub" }, "what task-runner schedule would run")));
  const rows = state.workflows.filter((w) => w.schedule);
  if (!rows.length) { main.append(h("div", { class: "empty" }, "No workflow here has a schedule.")); return; }
  main.append(h("div", { class: "card" }, h("table", {}, h("thead", {}, h("tr", {}, ["Workflow", "Schedule", "Next fire times"].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((w) => h("tr", {}, h("td", {}, h("b", {}, w.name), h("div", { class: "small muted mono" }, w.path)), h("td", { class: "mono small" }, w.schedule.describe),
      h("td", {}, w.schedule.next.map((n) => h("div", {}, fmtTime(n))))))))));
}

// -- start ---------------------------------------------------------------------------------------------
async function start() {
  const { data } = await api("/api/state");
  state.info = data;
  if (data) {
    $("#where").textContent = data.root;
    $("#version").textContent = `v${data.version}`;
    $("#emulator-pill").hidden = !data.emulator;
  }
  $("#new-workflow").addEventListener("click", newWorkflow);
  $("#new-workflow-form").addEventListener("submit", createWorkflow);
  await loadWorkflows();
  window.addEventListener("hashchange", route);
  route();
  setInterval(loadWorkflows, POLL_MS);
}
start();
