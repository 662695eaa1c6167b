// The patchbay operator console: a page over the public HTTP API, called with the key the
// operator types. The key lives in this tab's sessionStorage only (never a cookie, the
// browser's lasting storage or a URL) and "Sign out" forgets it. Nothing anyone typed is ever inserted
// into the page as HTML: every text goes in as a text node.

const KEY = "patchbay.key";
const PROJECT = "patchbay.project";
/** The most numbers or prefixes one request carries (the server's default bulk limit). */
const MAX_BATCH = 10000;
/** Rows a page of numbers, prefixes or changes. */
const PAGE = 100;
/** How many numbers a delete confirmation counts before it says "at least". */
const COUNT_UP_TO = 100000;

const main = document.getElementById("main");
const alertBox = document.getElementById("alert");
let me = null;
let fieldIds = 0;

// ---- building the page -----------------------------------------------------------------

/** An element with attributes (`on...` are listeners) and children (nodes or text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Puts `children` (nodes, text, or nothing for null) in the main region. */
function show(...children) {
  main.replaceChildren(
    ...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false),
  );
}

/** A labelled control. */
function field(label, control) {
  control.id = `field-${++fieldIds}`;
  return el("div", { class: "field" }, el("label", { for: control.id }, label), control);
}

function select(options, selected) {
  return el(
    "select",
    {},
    options.map(([value, text]) =>
      el("option", { value, selected: value === selected }, text),
    ),
  );
}

function table(caption, headers, rows) {
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows),
    ),
  );
}

function showError(error) {
  alertBox.textContent = error && error.message ? error.message : String(error);
  alertBox.hidden = false;
}

function clearError() {
  alertBox.textContent = "";
  alertBox.hidden = true;
}

/** Runs `work`, showing its error (the API's message) instead of leaving a blank page. */
async function guarded(work) {
  clearError();
  try {
    return await work();
  } catch (error) {
    showError(error);
    return undefined;
  }
}

// ---- the API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = { "x-api-key": sessionStorage.getItem(KEY) || "" };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, "network", `the server could not be reached (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const message =
      data && data.error && data.error.message
        ? data.error.message
        : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, data && data.error ? data.error.code : "http", message);
  }
  return { data, headers: response.headers };
}

const project = () => sessionStorage.getItem(PROJECT) || "";
const base = () => `/v1/agents/${encodeURIComponent(project())}/telephony`;
const query = (params) => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
};

async function connectorsOfProject() {
  const { data } = await api("GET", `${base()}/connectors`);
  return data.connectors;
}

function connectorName(connectors, id) {
  if (!id) return "unassigned";
  const found = connectors.find((c) => c.connectorId === id);
  return found ? `${found.name} (${id})` : id;
}

/** The first column of each non-empty line of pasted text or a CSV/text file. */
function inputsOf(text) {
  return text
    .split(/\r?\n/)
    .map((line) => line.split(",")[0].trim().replace(/^"(.*)"$/, "$1"))
    .filter((line) => line !== "");
}

// ---- signing in -----------------------------------------------------------------------------

function renderSignIn() {
  document.getElementById("session").hidden = true;
  document.getElementById("views").hidden = true;
  const key = el("input", { type: "password", autocomplete: "off", required: true });
  const form = el(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        await signIn(key.value.trim());
      },
    },
    el("h2", {}, "Sign in"),
    field("API key", key),
    el("div", { class: "row" }, el("button", { type: "submit", class: "primary" }, "Sign in")),
  );
  show(form);
  key.focus();
}

async function signIn(key) {
  clearError();
  sessionStorage.setItem(KEY, key);
  try {
    ({ data: me } = await api("GET", "/v1/me"));
  } catch (error) {
    sessionStorage.removeItem(KEY);
    me = null;
    showError(error);
    return;
  }
  if (me.projects.length === 0) {
    showError(new Error("this key grants no project"));
    return;
  }
  if (!me.projects.includes(project())) sessionStorage.setItem(PROJECT, me.projects[0]);
  const choice = document.getElementById("project");
  choice.replaceChildren(
    ...me.projects.map((p) => el("option", { value: p, selected: p === project() }, p)),
  );
  document.getElementById("session").hidden = false;
  document.getElementById("views").hidden = false;
  if (!location.hash || location.hash === "#") location.hash = "#connectors";
  else await route();
}

function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(PROJECT);
  me = null;
  forgetViews();
  clearError();
  history.replaceState(null, "", location.pathname);
  renderSignIn();
}

// ---- connectors -----------------------------------------------------------------------------

const ENVIRONMENTS = [
  ["live", "live"],
  ["pre-release", "pre-release"],
  ["sandbox", "sandbox"],
];

async function renderConnectors() {
  const connectors = await connectorsOfProject();
  const panel = el("div");
  const rows = connectors.map((c) =>
    el(
      "tr",
      {},
      el("td", {}, c.name),
      el("td", { class: "mono" }, c.connectorId),
      el("td", {}, c.clientEnv),
      el("td", {}, c.asrLangCode),
      el("td", {}, c.voiceName),
      el("td", {}, c.ttsLangCode),
      el("td", {}, c.variantId || "—"),
      el(
        "td",
        {},
        el("div", { class: "row" },
          el("button", { type: "button", onclick: () => connectorForm(panel, c) }, "Edit"),
          el("button", { type: "button", class: "danger", onclick: () => confirmDelete(panel, c) }, "Delete"),
        ),
      ),
    ),
  );
  show(
    el("h2", {}, "Connectors"),
    el("div", { class: "row" },
      el("button", { type: "button", class: "primary", onclick: () => connectorForm(panel, null) }, "New connector"),
    ),
    panel,
    table(
      "Connectors",
      ["Name", "Connector id", "Environment", "ASR language", "Voice", "TTS language (derived)", "Variant", "Actions"],
      rows,
    ),
    connectors.length === 0 ? el("p", { class: "muted" }, "No connectors yet.") : null,
  );
}

function connectorForm(panel, existing) {
  const name = el("input", { value: existing ? existing.name : "", required: true });
  const env = select(ENVIRONMENTS, existing ? existing.clientEnv : "live");
  if (existing) env.disabled = true;
  const asr = el("input", { value: existing ? existing.asrLangCode : "en-US", required: true });
  const voice = el("input", { value: existing ? existing.voiceName : "en-US-Neural2-A", required: true });
  const variant = el("input", { value: existing ? existing.variantId : "" });
  const handoff = el("input", { type: "checkbox", checked: existing ? existing.disableHandoff : false });
  const move = existing
    ? select(me.projects.map((p) => [p, p]), existing.projectId)
    : null;
  const form = el(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        guarded(async () => {
          if (existing) {
            const body = {};
            if (name.value !== existing.name) body.name = name.value;
            if (asr.value !== existing.asrLangCode) body.asrLangCode = asr.value;
            if (voice.value !== existing.voiceName) body.voiceName = voice.value;
            if (variant.value !== existing.variantId) body.variantId = variant.value === "" ? null : variant.value;
            if (handoff.checked !== existing.disableHandoff) body.disableHandoff = handoff.checked;
            if (move.value !== existing.projectId) body.projectId = move.value;
            await api("PATCH", `${base()}/connectors/${encodeURIComponent(existing.connectorId)}`, body);
          } else {
            const body = {
              name: name.value,
              clientEnv: env.value,
              asrLangCode: asr.value,
              voiceName: voice.value,
              disableHandoff: handoff.checked,
            };
            if (variant.value !== "") body.variantId = variant.value;
            await api("POST", `${base()}/connectors`, body);
          }
          await renderConnectors();
        });
      },
    },
    el("h2", {}, existing ? `Edit ${existing.name}` : "New connector"),
    field("Name", name),
    field("Environment", env),
    field("ASR language", asr),
    field("Voice", voice),
    el("p", { class: "muted" }, "The TTS language is derived from the voice."),
    field("Variant", variant),
    field("Disable handoff", handoff),
    move ? field("Move to project", move) : null,
    el("div", { class: "row" },
      el("button", { type: "submit", class: "primary" }, existing ? "Save" : "Create"),
      el("button", { type: "button", onclick: () => panel.replaceChildren() }, "Cancel"),
    ),
  );
  panel.replaceChildren(form);
  name.focus();
}

/** How many items a connector's listing holds, counting up to COUNT_UP_TO. */
async function countOf(kind, field, connectorId) {
  let count = 0;
  let cursor = "";
  while (count < COUNT_UP_TO) {
    const { data } = await api(
      "GET",
      `${base()}/${kind}${query({ connectorId, limit: MAX_BATCH, cursor })}`,
    );
    count += data[field].length;
    if (!data.nextCursor) return `${count}`;
    cursor = data.nextCursor;
  }
  return `at least ${count}`;
}

async function confirmDelete(panel, connector) {
  await guarded(async () => {
    const numbers = await countOf("phone-numbers", "phoneNumbers", connector.connectorId);
    const prefixes = await countOf("number-prefixes", "numberPrefixes", connector.connectorId);
    panel.replaceChildren(
      el(
        "div",
        { class: "panel" },
        el("p", {}, `Delete connector ${connector.name} (${connector.connectorId})? Its ${numbers} numbers and ${prefixes} prefixes are deleted with it.`),
        el("div", { class: "row" },
          el("button", {
            type: "button",
            class: "danger",
            onclick: () => guarded(async () => {
              await api("DELETE", `${base()}/connectors/${encodeURIComponent(connector.connectorId)}`);
              await renderConnectors();
            }),
          }, "Confirm delete"),
          el("button", { type: "button", onclick: () => panel.replaceChildren() }, "Cancel"),
        ),
      ),
    );
  });
}

// ---- numbers and prefixes ---------------------------------------------------------------------

/** The import form shared by numbers and prefixes: pasted text or a file, to a connector,
 * refused before sending when over the bulk limit unless the operator asks for batches. */
function importForm({ label, file, connectors, required, send, done }) {
  const text = el("textarea", { spellcheck: "false" });
  const upload = file ? el("input", { type: "file", accept: ".csv,.txt,text/csv,text/plain" }) : null;
  const options = (required ? [] : [["", "(none)"]]).concat(
    connectors.map((c) => [c.connectorId, `${c.name} (${c.connectorId})`]),
  );
  const connector = select(options, "");
  const result = el("section", { "aria-label": "Import result", class: "result", hidden: true });
  const run = async (inputs) => {
    const batches = [];
    for (let at = 0; at < inputs.length; at += MAX_BATCH) batches.push(inputs.slice(at, at + MAX_BATCH));
    let imported = 0;
    const refused = [];
    for (const batch of batches) {
      const { data } = await send(batch, connector.value);
      imported += data.imported.length;
      for (const error of data.errors || []) refused.push(error);
    }
    result.hidden = false;
    result.replaceChildren(
      el("p", {}, `Imported ${imported} of ${inputs.length}${batches.length > 1 ? ` in ${batches.length} requests` : ""}.`),
      refused.length
        ? el("ul", {}, refused.map((e) =>
            el("li", {}, el("span", { class: "mono" }, e.phoneNumber ?? e.prefix), ` — ${e.error.code}: ${e.error.message}`)))
        : el("p", {}, "Nothing was refused."),
    );
    await done();
  };
  const form = el(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        guarded(async () => {
          let inputs = inputsOf(text.value);
          if (upload && upload.files.length > 0) inputs = inputs.concat(inputsOf(await upload.files[0].text()));
          if (inputs.length === 0) throw new Error(`type or choose at least one ${label.toLowerCase().replace(/s$/, "")}`);
          if (required && !connector.value) throw new Error("choose a connector");
          if (inputs.length > MAX_BATCH) {
            result.hidden = false;
            result.replaceChildren(
              el("p", {}, `${inputs.length} ${label.toLowerCase()}: a request carries at most ${MAX_BATCH}. Nothing was sent.`),
              el("div", { class: "row" },
                el("button", { type: "button", class: "primary", onclick: () => guarded(() => run(inputs)) }, `Import in batches of ${MAX_BATCH}`),
                el("button", { type: "button", onclick: () => result.replaceChildren() }, "Cancel"),
              ),
            );
            return;
          }
          await run(inputs);
        });
      },
    },
    el("h2", {}, `Import ${label.toLowerCase()}`),
    field(label, text),
    upload ? field("File", upload) : null,
    field("Connector", connector),
    el("div", { class: "row" }, el("button", { type: "submit", class: "primary" }, "Import")),
  );
  return [form, result];
}

/** Keyset pages: the cursors of the pages before, for "Previous page". */
function pager(render) {
  const state = { cursor: "", before: [] };
  return {
    state,
    controls(next) {
      return el("div", { class: "row" },
        el("button", {
          type: "button",
          disabled: state.before.length === 0,
          onclick: () => {
            state.cursor = state.before.pop() ?? "";
            guarded(render);
          },
        }, "Previous page"),
        el("button", {
          type: "button",
          disabled: !next,
          onclick: () => {
            state.before.push(state.cursor);
            state.cursor = next;
            guarded(render);
          },
        }, "Next page"),
      );
    },
    reset() {
      state.cursor = "";
      state.before = [];
    },
  };
}

const numbersView = { connector: "", found: null, pages: null };

async function renderNumbers() {
  const connectors = await connectorsOfProject();
  const view = numbersView;
  if (!view.pages) view.pages = pager(renderNumbers);
  const panel = el("div");
  let numbers;
  let next = null;
  if (view.found) {
    numbers = [view.found];
  } else {
    const { data } = await api(
      "GET",
      `${base()}/phone-numbers${query({ connectorId: view.connector, limit: PAGE, cursor: view.pages.state.cursor })}`,
    );
    numbers = data.phoneNumbers;
    next = data.nextCursor;
  }
  const find = el("input", { type: "search", placeholder: "+1 415 555 2671", value: view.foundInput ?? "" });
  const filter = select([["", "every connector"]].concat(connectors.map((c) => [c.connectorId, `${c.name} (${c.connectorId})`])), view.connector);
  filter.addEventListener("change", () => {
    view.connector = filter.value;
    view.found = null;
    view.pages.reset();
    guarded(renderNumbers);
  });
  const selected = new Set();
  const rows = numbers.map((n) => {
    const pick = el("input", { type: "checkbox", "aria-label": `Select ${n.number}` });
    pick.addEventListener("change", () => (pick.checked ? selected.add(n.number) : selected.delete(n.number)));
    const to = select([["", "(unassigned)"]].concat(
      connectors.filter((c) => c.clientEnv === n.clientEnv).map((c) => [c.connectorId, c.name]),
    ), n.connectorId ?? "");
    to.setAttribute("aria-label", `Connector for ${n.number}`);
    const path = `${base()}/phone-numbers/${encodeURIComponent(n.number)}`;
    return el(
      "tr",
      {},
      el("td", {}, pick),
      el("td", { class: "mono nowrap" }, n.number),
      el("td", {}, connectorName(connectors, n.connectorId)),
      el("td", {}, n.clientEnv),
      el("td", {}, el("div", { class: "row" },
        to,
        el("button", { type: "button", onclick: () => guarded(async () => {
          await api("PATCH", path, { connectorId: to.value === "" ? null : to.value });
          await renderNumbers();
        }) }, "Reassign"),
        el("button", { type: "button", onclick: () => guarded(async () => {
          await api("PATCH", path, { connectorId: null });
          await renderNumbers();
        }) }, "Unassign"),
        el("a", { href: `#history?filter=${encodeURIComponent(n.number)}` }, "History"),
        el("button", { type: "button", class: "danger", onclick: () => guarded(async () => {
          await api("DELETE", path);
          if (view.found) view.found = null;
          await renderNumbers();
        }) }, "Delete"),
      )),
    );
  });
  show(
    el("h2", {}, "Numbers"),
    el("form", {
      class: "row",
      onsubmit: (event) => {
        event.preventDefault();
        guarded(async () => {
          if (find.value.trim() === "") {
            view.found = null;
            view.foundInput = "";
          } else {
            const { data } = await api("GET", `${base()}/phone-numbers/${encodeURIComponent(find.value.trim())}`);
            view.found = data;
            view.foundInput = find.value.trim();
          }
          await renderNumbers();
        });
      },
    }, field("Find number", find), el("button", { type: "submit" }, "Find")),
    field("Filter by connector", filter),
    el("div", { class: "row" },
      el("button", { type: "button", class: "primary", onclick: () => {
        const [form, result] = importForm({
          label: "Numbers",
          file: true,
          connectors,
          required: false,
          send: (batch, connectorId) => api("POST", `${base()}/phone-numbers`, {
            phoneNumbers: batch,
            ...(connectorId ? { connectorId } : {}),
          }),
          done: async () => {
            const keep = result;
            await renderNumbers();
            main.insertBefore(keep, main.children[1]);
          },
        });
        panel.replaceChildren(form, result);
      } }, "Import numbers"),
      el("button", { type: "button", class: "danger", onclick: () => guarded(async () => {
        if (selected.size === 0) throw new Error("select the numbers to delete first");
        await api("DELETE", `${base()}/phone-numbers`, { phoneNumbers: [...selected] });
        await renderNumbers();
      }) }, "Delete selected"),
    ),
    panel,
    table("Numbers", ["Select", "Number", "Connector", "Environment", "Actions"], rows),
    numbers.length === 0 ? el("p", { class: "muted" }, "No numbers here.") : null,
    view.found ? null : view.pages.controls(next),
  );
}

const prefixesView = { pages: null };

async function renderPrefixes() {
  const connectors = await connectorsOfProject();
  const view = prefixesView;
  if (!view.pages) view.pages = pager(renderPrefixes);
  const { data } = await api(
    "GET",
    `${base()}/number-prefixes${query({ limit: PAGE, cursor: view.pages.state.cursor })}`,
  );
  const panel = el("div");
  const rows = data.numberPrefixes.map((p) => {
    const to = select(
      connectors.filter((c) => c.clientEnv === p.clientEnv).map((c) => [c.connectorId, c.name]),
      p.connectorId,
    );
    to.setAttribute("aria-label", `Connector for ${p.prefix}`);
    const path = `${base()}/number-prefixes/${encodeURIComponent(p.prefix)}`;
    return el(
      "tr",
      {},
      el("td", { class: "mono nowrap" }, p.prefix),
      el("td", {}, connectorName(connectors, p.connectorId)),
      el("td", {}, p.clientEnv),
      el("td", {}, el("div", { class: "row" },
        to,
        el("button", { type: "button", onclick: () => guarded(async () => {
          await api("PATCH", path, { connectorId: to.value });
          await renderPrefixes();
        }) }, "Reassign"),
        el("a", { href: `#history?filter=${encodeURIComponent(p.prefix)}` }, "History"),
        el("button", { type: "button", class: "danger", onclick: () => guarded(async () => {
          await api("DELETE", path);
          await renderPrefixes();
        }) }, "Delete"),
      )),
    );
  });
  show(
    el("h2", {}, "Prefixes"),
    el("div", { class: "row" },
      el("button", { type: "button", class: "primary", onclick: () => {
        const [form, result] = importForm({
          label: "Prefixes",
          file: false,
          connectors,
          required: true,
          send: (batch, connectorId) => api("POST", `${base()}/number-prefixes`, { prefixes: batch, connectorId }),
          done: async () => {
            const keep = result;
            await renderPrefixes();
            main.insertBefore(keep, main.children[1]);
          },
        });
        panel.replaceChildren(form, result);
      } }, "Import prefixes"),
    ),
    panel,
    table("Prefixes", ["Prefix", "Connector", "Environment", "Actions"], rows),
    data.numberPrefixes.length === 0 ? el("p", { class: "muted" }, "No prefixes here.") : null,
    view.pages.controls(data.nextCursor),
  );
}

// ---- lookup -----------------------------------------------------------------------------------

function renderLookup() {
  const number = el("input", { required: true, placeholder: "+44 20 7946 0958" });
  const at = el("input", { placeholder: "2026-12-01T15:00:00Z (optional)" });
  const result = el("section", { "aria-label": "Lookup result", class: "result", hidden: true });
  const form = el(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        guarded(async () => {
          const body = { phoneNumber: number.value };
          if (at.value.trim() !== "") body.at = at.value.trim();
          const { data } = await api("POST", `${base()}/connectors/lookup/explain`, body);
          const match = data.match === "prefix" ? `prefix ${data.prefix}` : data.match;
          const entries = [
            ["Input", data.input],
            ["Form", data.form],
            ["Normalized", data.valid ? data.normalized : `not a number (${data.reason})`],
            ["Match", match],
            ["Connector", data.connector ? `${data.connector.name} (${data.connector.connectorId})` : "none in this project"],
            ["Outcome", data.outcome],
            ["As of", body.at ? `${body.at} (snapshot version ${data.snapshotVersion})` : `now (snapshot version ${data.snapshotVersion})`],
          ];
          result.hidden = false;
          result.replaceChildren(el("dl", {}, entries.map(([term, value]) => [el("dt", {}, term), el("dd", {}, value)])));
        });
      },
    },
    el("h2", {}, "Lookup"),
    field("Phone number", number),
    field("At time", at),
    el("div", { class: "row" }, el("button", { type: "submit", class: "primary" }, "Look up")),
  );
  show(form, result);
  number.focus();
}

// ---- history ----------------------------------------------------------------------------------

const historyView = { filter: "", pages: null };

function describeActor(actor) {
  if (actor.kind === "key") return `key ${actor.keyId}`;
  return actor.kind === "cli" ? "command line" : "library";
}

function describeState(state, connectors) {
  if (!state) return "—";
  if (state.voiceName !== undefined) return `${state.name} · ${state.voiceName} · ${state.projectId}`;
  const known = connectors.find((c) => c.connectorId === state.connectorId);
  const to = state.connectorId ? (known ? known.name : state.connectorId) : "unassigned";
  return `${to} · ${state.clientEnv} · ${state.projectId}`;
}

/** The query parameter a filter names: a connector id, a prefix (with a wildcard), or a
 * number (any accepted form). */
function filterParam(text) {
  if (text === "") return {};
  if (/^conn_/.test(text)) return { connectorId: text };
  if (/[xX*]$/.test(text)) return { prefix: text };
  return { number: text };
}

async function renderHistory() {
  const view = historyView;
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  if (params.has("filter") && params.get("filter") !== view.filter) {
    view.filter = params.get("filter");
    view.pages = null;
  }
  if (!view.pages) view.pages = pager(renderHistory);
  const connectors = await connectorsOfProject();
  let filter = filterParam(view.filter);
  let page;
  try {
    ({ data: page } = await api("GET", `${base()}/changes${query({ ...filter, limit: PAGE, cursor: view.pages.state.cursor })}`));
  } catch (error) {
    // A prefix written without a wildcard reads as a number that is too short.
    if (!filter.number || error.status !== 400) throw error;
    filter = { prefix: view.filter };
    ({ data: page } = await api("GET", `${base()}/changes${query({ ...filter, limit: PAGE, cursor: view.pages.state.cursor })}`));
  }
  const input = el("input", { value: view.filter, placeholder: "a number, a prefix or a connector id" });
  const rows = [];
  for (const change of page.changes) {
    for (const m of change.mutations) {
      rows.push(el(
        "tr",
        {},
        el("td", { class: "mono nowrap" }, change.at.replace("T", " ")),
        el("td", {}, describeActor(change.actor), change.node ? ` on ${change.node}` : ""),
        el("td", {}, m.op),
        el("td", { class: "mono nowrap" }, m.number ?? m.prefix ?? m.connectorId),
        el("td", {}, describeState(m.before, connectors)),
        el("td", {}, describeState(m.after, connectors)),
      ));
    }
    if (change.mutationCount > change.mutations.length) {
      rows.push(el("tr", {}, el("td", { colspan: 6, class: "muted" },
        `… and ${change.mutationCount - change.mutations.length} more mutations of change ${change.changeId}`)));
    }
  }
  show(
    el("h2", {}, "History"),
    el("form", {
      class: "row",
      onsubmit: (event) => {
        event.preventDefault();
        view.filter = input.value.trim();
        view.pages = null;
        const target = view.filter ? `#history?filter=${encodeURIComponent(view.filter)}` : "#history";
        if (location.hash !== target) location.hash = target;
        else guarded(renderHistory);
      },
    }, field("Filter", input), el("button", { type: "submit" }, "Apply")),
    table("History", ["Time", "Actor", "Operation", "Subject", "Before", "After"], rows),
    rows.length === 0 ? el("p", { class: "muted" }, "No changes here.") : null,
    view.pages.controls(page.nextCursor),
  );
}

// ---- routing ----------------------------------------------------------------------------------

const VIEWS = {
  connectors: renderConnectors,
  numbers: renderNumbers,
  prefixes: renderPrefixes,
  lookup: renderLookup,
  history: renderHistory,
};

async function route() {
  if (!me) {
    renderSignIn();
    return;
  }
  const name = location.hash.slice(1).split("?")[0] || "connectors";
  const render = VIEWS[name] || renderConnectors;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  await guarded(render);
}

window.addEventListener("hashchange", () => route());
document.getElementById("sign-out").addEventListener("click", signOut);
/** Forgets where each view was (its page, filter, found number): another project's or
 * another operator's views start afresh. */
function forgetViews() {
  Object.assign(numbersView, { connector: "", found: null, foundInput: "", pages: null });
  prefixesView.pages = null;
  Object.assign(historyView, { filter: "", pages: null });
}

document.getElementById("project").addEventListener("change", (event) => {
  sessionStorage.setItem(PROJECT, event.target.value);
  forgetViews();
  route();
});

if (sessionStorage.getItem(KEY)) signIn(sessionStorage.getItem(KEY));
else renderSignIn();
