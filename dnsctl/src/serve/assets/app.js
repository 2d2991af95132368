// The etcdhosts console: one page, four views (#/records, #/raw, #/history, #/fleet).
// Every text from etcd is put in the page with textContent, never as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
let csrf = "";
// The text and revision the views are based on: every save sends this revision back.
let state = { revision: 0, text: "", records: [], invalid: [] };
let fleetTimer = null;

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, opts);
  let data = {};
  try { data = await res.json(); } catch (_) { /* empty body */ }
  if (res.status === 401 && !location.pathname.startsWith("/login")) {
    location.href = "/login";
  }
  return { status: res.status, data };
}

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}

function flash(message, ok) {
  const f = $("#flash");
  f.textContent = message;
  f.className = ok ? "ok" : "error";
  f.hidden = false;
}

function showDiff(pre, diff) {
  pre.replaceChildren();
  for (const line of diff.split("\n")) {
    const cls = line.startsWith("+") && !line.startsWith("+++") ? "add"
      : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
    pre.append(cls ? el("span", { className: cls, textContent: line + "\n" }) : line + "\n");
  }
}

async function loadState() {
  const { status, data } = await api("GET", "/api/state");
  if (status !== 200) {
    flash(data.error || `cannot read the hosts file (HTTP ${status})`, false);
    return false;
  }
  state = data;
  $("#current-revision").textContent = String(data.revision);
  $("#key").textContent = data.key;
  return true;
}

// The answer to any write: success, nothing to do, conflict, invalid lines, or an error.
async function afterWrite(res) {
  const { status, data } = res;
  if (status === 200) {
    flash(data.message, true);
    $("#conflict").hidden = true;
    await loadState();
    render();
    return true;
  }
  if (status === 409 && data.conflict) {
    $("#conflict-message").textContent = data.error;
    showDiff($("#conflict-diff"), data.conflict.diff);
    $("#conflict-theirs").textContent = data.conflict.theirs;
    $("#conflict-yours").textContent = data.conflict.yours;
    $("#conflict").hidden = false;
    $("#flash").hidden = true; // the panel says it
    $("#current-revision").textContent = String(data.conflict.revision);
    return false;
  }
  if (status === 422 && data.invalid) {
    showErrors(data.invalid);
  }
  flash(data.error || `HTTP ${status}`, false);
  return false;
}

// ---- records

// Rows drawn at most: a fleet's file can hold 100k names, more than a page should draw.
const MAX_ROWS = 1000;

function renderRecords() {
  const filter = $("#records-filter").value.trim().toLowerCase();
  const body = $("#records-table tbody");
  body.replaceChildren();
  let matching = 0;
  for (const r of state.records) {
    const addrs = r.addrs.join(" ");
    if (filter && !r.name.includes(filter) && !addrs.includes(filter)) continue;
    if (++matching > MAX_ROWS) continue;
    const tr = el("tr");
    tr.dataset.name = r.name;
    const addrCell = el("td", { className: "addrs" }, el("span", { textContent: addrs }));
    addrCell.firstChild.dataset.testid = "record-addrs";
    const edit = el("button", { type: "button", className: "plain", textContent: "Edit" });
    edit.dataset.testid = "record-edit";
    edit.onclick = () => editRow(tr, r, addrCell);
    const del = el("button", { type: "button", className: "danger", textContent: "Delete" });
    del.dataset.testid = "record-delete";
    del.onclick = async () => {
      if (!confirm(`Delete ${r.name} (${addrs})?`)) return;
      await afterWrite(await api("POST", "/api/records", { base: state.revision, name: r.name, addrs: [] }));
    };
    tr.append(el("td", { textContent: r.name }), addrCell, el("td", {}, edit, " ", del));
    body.append(tr);
  }
  const bad = state.invalid.length ? `, ${state.invalid.length} invalid line(s) (see Raw file)` : "";
  const more = matching > MAX_ROWS ? ` (showing the first ${MAX_ROWS}: filter to narrow down)` : "";
  $("#records-count").textContent = `${matching} of ${state.records.length} names${bad}${more}`;
}

function editRow(tr, r, cell) {
  const input = el("input", { value: r.addrs.join(" ") });
  input.dataset.testid = "edit-addrs";
  const save = el("button", { type: "button", textContent: "Save" });
  save.dataset.testid = "edit-save";
  const cancel = el("button", { type: "button", className: "plain", textContent: "Cancel" });
  cancel.dataset.testid = "edit-cancel";
  save.onclick = async () => {
    const addrs = input.value.split(/[\s,]+/).filter(Boolean);
    await afterWrite(await api("POST", "/api/records", { base: state.revision, name: r.name, addrs }));
  };
  cancel.onclick = renderRecords;
  cell.replaceChildren(input, " ", save, " ", cancel);
  input.focus();
}

async function addRecord(ev) {
  ev.preventDefault();
  const name = $("#add-name").value.trim();
  const addrs = $("#add-addrs").value.split(/[\s,]+/).filter(Boolean);
  if (await afterWrite(await api("POST", "/api/records", { base: state.revision, name, addrs }))) {
    $("#add-name").value = "";
    $("#add-addrs").value = "";
  }
}

// ---- raw file

let validateTimer = null;
let validating = false;

function showErrors(invalid) {
  const list = $("#raw-errors");
  list.replaceChildren(...invalid.map((d) => el("li", { textContent: `line ${d.line}: ${d.reason}` })));
  $("#raw-save").disabled = invalid.length > 0;
}

async function validateRaw() {
  validating = true;
  const text = $("#raw-text").value;
  const { status, data } = await api("POST", "/api/validate", { text });
  validating = false;
  if (status !== 200 || text !== $("#raw-text").value) return; // typed on meanwhile
  showErrors(data.invalid);
  const bad = data.invalid.length;
  $("#raw-summary").textContent = `${data.records} records` + (bad ? `, ${bad} invalid line(s): fix them to save` : "");
}

function rawChanged() {
  $("#raw-save").disabled = true; // until this text is checked
  clearTimeout(validateTimer);
  validateTimer = setTimeout(validateRaw, 200);
}

function renderRaw() {
  $("#raw-text").value = state.text;
  $("#raw-base").textContent = String(state.revision);
  validateRaw();
}

async function saveRaw() {
  clearTimeout(validateTimer);
  await validateRaw();
  if ($("#raw-errors").children.length) {
    flash("Fix the invalid lines first: nothing written", false);
    return;
  }
  await afterWrite(await api("POST", "/api/hosts", { base: state.revision, text: $("#raw-text").value }));
}

// ---- history

async function renderHistory() {
  const { status, data } = await api("GET", "/api/history");
  const body = $("#history-table tbody");
  body.replaceChildren();
  if (status !== 200) {
    flash(data.error || `HTTP ${status}`, false);
    return;
  }
  const from = $("#diff-from"), to = $("#diff-to");
  from.replaceChildren();
  to.replaceChildren();
  data.entries.forEach((e, i) => {
    const tr = el("tr");
    tr.dataset.revision = String(e.revision);
    const who = el("td", { textContent: e.modified_by || "-" });
    who.dataset.testid = "history-who";
    const cell = el("td");
    if (i > 0) {
      const b = el("button", { type: "button", className: "plain", textContent: "Roll back to this" });
      b.dataset.testid = "history-rollback";
      b.onclick = async () => {
        if (!confirm(`Restore the hosts file as it was at revision ${e.revision}? (a new revision)`)) return;
        await loadState();
        if (await afterWrite(await api("POST", "/api/rollback", { base: state.revision, revision: e.revision }))) {
          renderHistory();
        }
      };
      cell.append(b);
    } else {
      cell.append(el("span", { className: "muted", textContent: "current" }));
    }
    const invalid = e.invalid_lines ? ` (+${e.invalid_lines} invalid)` : "";
    tr.append(el("td", { textContent: String(e.revision) }), el("td", { textContent: e.modified || "-" }), who,
      el("td", { textContent: e.command || "-" }), el("td", { textContent: `${e.records ?? `${e.lines} lines`}${invalid}` }), cell);
    body.append(tr);
    from.append(el("option", { value: String(e.revision), textContent: String(e.revision) }));
    to.append(el("option", { value: String(e.revision), textContent: String(e.revision) }));
  });
  if (data.entries.length > 1) from.selectedIndex = 1;
  const ends = { created: "The key was created at the oldest revision shown.",
    compacted: "etcd compacted the older revisions.", limit: "Older revisions are not shown." };
  $("#history-ends").textContent = ends[data.ends] || "";
}

async function showHistoryDiff() {
  const q = `from=${encodeURIComponent($("#diff-from").value)}&to=${encodeURIComponent($("#diff-to").value)}`;
  const { status, data } = await api("GET", `/api/diff?${q}`);
  const pre = $("#diff-output");
  pre.hidden = false;
  if (status !== 200) {
    pre.textContent = data.error || `HTTP ${status}`;
    return;
  }
  showDiff(pre, data.diff || `revisions ${data.from} and ${data.to} hold the same text\n`);
}

// ---- fleet

async function refreshFleet() {
  const { status, data } = await api("GET", "/api/fleet");
  if (status !== 200) {
    flash(data.error || `HTTP ${status}`, false);
    return;
  }
  $("#current-revision").textContent = String(data.revision);
  $("#fleet-prefix").textContent = data.status_key;
  $("#fleet-updated").textContent = new Date().toLocaleTimeString();
  $("#fleet-empty").hidden = data.instances.length > 0;
  const body = $("#fleet-table tbody");
  body.replaceChildren();
  for (const s of data.instances) {
    const tr = el("tr", { className: s.state === "behind" ? "behind" : "" });
    tr.dataset.instance = s.instance || s.status_key;
    tr.dataset.state = s.state;
    const rev = el("td", { textContent: String(s.revision ?? "?") });
    rev.dataset.testid = "fleet-revision";
    const stateText = { ok: "current", behind: `behind (current: ${data.revision})`, "other-key": `serves ${s.key}` }[s.state];
    tr.append(el("td", { textContent: s.instance || s.status_key }), rev,
      el("td", { className: "state", textContent: stateText }),
      el("td", { textContent: String(s.entries ?? "") }), el("td", { textContent: String(s.invalid_lines ?? "") }),
      el("td", { textContent: s.last_reload_unix_ms ? s.last_reload : "never" }),
      el("td", { textContent: s.etcd_connected === false ? "disconnected" : "connected" }));
    body.append(tr);
  }
}

// ---- navigation

function page() {
  return (location.hash.replace(/^#\//, "") || "records").split("?")[0];
}

function render() {
  const p = page();
  if (p === "records") renderRecords();
  if (p === "raw") renderRaw();
}

async function route() {
  const p = page();
  for (const s of document.querySelectorAll(".page")) s.hidden = s.id !== `page-${p}`;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.hash === `#/${p}`);
  $("#flash").hidden = true;
  $("#conflict").hidden = true;
  clearInterval(fleetTimer);
  if (p === "records" || p === "raw") {
    if (await loadState()) render();
  } else if (p === "history") {
    renderHistory();
  } else if (p === "fleet") {
    refreshFleet();
    fleetTimer = setInterval(refreshFleet, 1000);
  }
}

async function main() {
  const { status, data } = await api("GET", "/api/session");
  if (status !== 200) return; // api() went to /login
  csrf = data.csrf;
  $("#user").textContent = data.user;
  $("#logout").hidden = !data.login;
  $("#logout").onclick = async () => {
    await api("POST", "/api/logout", {});
    location.href = "/login";
  };
  $("#add-form").onsubmit = addRecord;
  $("#records-filter").oninput = renderRecords;
  $("#raw-text").oninput = rawChanged;
  $("#raw-save").onclick = saveRaw;
  $("#raw-revert").onclick = () => { $("#conflict").hidden = true; route(); };
  $("#diff-show").onclick = showHistoryDiff;
  $("#conflict-reload").onclick = async () => {
    $("#conflict").hidden = true;
    $("#flash").hidden = true;
    if (await loadState()) render();
  };
  window.onhashchange = route;
  if (!location.hash) history.replaceState(null, "", "#/records");
  route();
}

// ---- login page

function loginPage() {
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(location.hostname);
  if (location.protocol !== "https:" && !loopback) {
    const e = $("#login-error");
    e.textContent = "This console must be reached over HTTPS (its session cookie is Secure).";
    e.hidden = false;
  }
  $("#login-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const { status, data } = await api("POST", "/api/login",
      { user: form.username.value, password: form.password.value });
    if (status === 200) {
      location.href = "/";
      return;
    }
    const e = $("#login-error");
    e.textContent = data.error || `HTTP ${status}`;
    e.hidden = false;
  };
}

if (document.body.classList.contains("login")) loginPage(); else main();
