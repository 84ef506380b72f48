// The page of `laserrec serve`: search the catalog, build a history, see the top-k. Same origin only;
// every text from the server goes in with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { history: [], health: null, seq: 0 };

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

// ---------------------------------------------------------------- search and history
let searchTimer = null;
function onSearch() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(search, 150);
}

async function search() {
  const q = $("search").value.trim();
  const list = $("search-results");
  if (!q) { list.replaceChildren(); return; }
  try {
    const { items } = await api("GET", `/items?q=${encodeURIComponent(q)}&limit=12`);
    list.replaceChildren(...items.map(searchRow));
    if (!items.length) list.append(el("li", "no title matches", "muted"));
  } catch (e) {
    list.replaceChildren(el("li", e.message, "error"));
  }
}

function searchRow(item) {
  const li = el("li");
  const button = el("button", "", "item");
  button.type = "button";
  button.title = "add to the history";
  button.append(el("span", item.title || item.id, "title"), el("span", item.categories || item.brand, "meta"));
  button.addEventListener("click", () => addToHistory(item));
  li.append(button);
  return li;
}

function addToHistory(item) {
  state.history.push({ id: item.id, title: item.title || item.id });
  renderHistory();
  recommend();
}

function renderHistory() {
  const rows = state.history.map((item, n) => {
    const li = el("li");
    const remove = el("button", "×", "remove");
    remove.type = "button";
    remove.title = "remove";
    remove.addEventListener("click", () => { state.history.splice(n, 1); renderHistory(); recommend(); });
    li.append(el("span", item.title, "title"), remove);
    return li;
  });
  $("history").replaceChildren(...rows);
  $("history-empty").hidden = rows.length > 0;
  $("history-count").textContent = rows.length ? `(${rows.length})` : "";
}

// ---------------------------------------------------------------- recommendations
function request() {
  const where = {};
  if ($("brand").value) where.brand = $("brand").value;
  if ($("category").value) where.categories = $("category").value;
  const body = {
    history: state.history.map((item) => item.id),
    k: Math.min(Number($("k").value), state.health ? state.health.n_items : 10),
    exclude_history: $("exclude-history").checked,
  };
  if (Object.keys(where).length) body.where = where;
  return body;
}

async function recommend() {
  const seq = ++state.seq; // only the answer to the latest request is shown
  const table = $("results");
  if (!state.history.length) {
    table.hidden = true;
    $("status").textContent = "Add an item to the history to see recommendations.";
    return;
  }
  $("status").textContent = "ranking…";
  try {
    const { items, qualified } = await api("POST", "/recommend", request());
    if (seq !== state.seq) return;
    renderResults(items, qualified);
  } catch (e) {
    if (seq !== state.seq) return;
    table.hidden = true;
    $("status").textContent = e.message;
  }
}

function renderResults(items, qualified) {
  const top = items.length ? items[0].score : 0;
  const low = items.length ? items[items.length - 1].score : 0;
  const rows = items.map((item) => {
    const tr = el("tr");
    const title = el("td");
    title.append(el("span", item.title || "(no title)", "title"), el("span", item.id, "id"));
    const categories = el("td");
    for (const c of item.categories.split(",").map((s) => s.trim()).filter(Boolean).slice(0, 4)) {
      categories.append(el("span", c, "tag"));
    }
    const score = el("td", "", "num");
    const bar = el("span", "", "bar");
    bar.style.width = `${0.5 + 3.5 * (top === low ? 1 : (item.score - low) / (top - low))}rem`;  // 0.5–4 rem
    score.append(bar, el("span", item.score.toFixed(4)));
    tr.append(el("td", String(item.rank), "rank"), title, el("td", item.brand, "brand"), categories, score);
    return tr;
  });
  $("results").tBodies[0].replaceChildren(...rows);
  $("results").hidden = rows.length === 0;
  const n = state.history.length;
  const after = `after ${n} history item${n === 1 ? "" : "s"}`;
  if (!rows.length) $("status").textContent = "No item passes these filters.";
  else if (rows.length < qualified) $("status").textContent = `Top ${rows.length} ${after}`;
  else $("status").textContent = `All ${rows.length} item${rows.length === 1 ? "" : "s"} that pass these filters, ${after}`;
}

// ---------------------------------------------------------------- filters and new items
function fillSelect(select, label, facets) {
  const keep = select.value;
  select.replaceChildren(el("option", "any"));
  select.options[0].value = "";
  for (const { value, count } of facets) {
    const option = el("option", `${value} (${count})`);
    option.value = value;
    select.append(option);
  }
  select.value = keep;
  $(label).hidden = facets.length === 0;
}

async function loadFacets() {
  const facets = await api("GET", "/facets?limit=100");
  fillSelect($("brand"), "brand-filter", facets.brand);
  fillSelect($("category"), "category-filter", facets.categories);
  document.body.classList.toggle("no-brands", facets.brand.length === 0); // e.g. films: no brand column
}

async function addItem(event) {
  event.preventDefault();
  const form = new FormData($("add-form"));
  const item = {};
  for (const name of ["item", "title", "brand", "categories", "description"]) {
    const value = String(form.get(name) || "").trim();
    if (value) item[name] = value;
  }
  const token = String(form.get("token") || "");
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  $("add-status").textContent = "encoding…";
  try {
    const { added, n_items } = await api("POST", "/items", { items: [item] }, headers);
    state.health.n_items = n_items;
    $("add-status").textContent = `added ${added.join(", ")}; the catalog holds ${n_items}`;
    $("add-form").reset();
    showRun();
    loadFacets();
  } catch (e) {
    $("add-status").textContent = e.message;
  }
}

function showRun() {
  const h = state.health;
  $("run-info").textContent = `${h.model} · ${h.n_items.toLocaleString()} items · ${h.scoring} scoring`;
}

async function start() {
  $("search").addEventListener("input", onSearch);
  $("clear-history").addEventListener("click", () => { state.history = []; renderHistory(); recommend(); });
  for (const id of ["k", "exclude-history", "brand", "category"]) $(id).addEventListener("change", recommend);
  $("add-form").addEventListener("submit", addItem);
  try {
    state.health = await api("GET", "/health");
  } catch (e) {
    $("run-info").textContent = `no service: ${e.message}`;
    return;
  }
  showRun();
  $("add-card").hidden = !state.health.takes_new_items;
  $("token").hidden = !state.health.writes_need_token;
  renderHistory();
  loadFacets();
}

start();
