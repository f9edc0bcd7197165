// An SSR analysis page: follows the job (long polls of GET /jobs/{id}), then, without a reload, draws its plots
// with ECharts from the plot_data Arrow streams (read by Arrow JS, window.Arrow), pages its tables and lists its
// files. A failed or cancelled job shows its failing stage and log tail once.
import * as echarts from "./vendor/echarts/echarts.esm.min.js";
import { render, summary, watchJob } from "./jobs.js";
import { enableCancel } from "./cancel.js";
import { PLOTTERS } from "./ssr_plots.js";
import { showGenomeViewLink } from "./ssr_genome_link.js";
import { bytes, number } from "./format.js";

const section = document.getElementById("ssr-job");
const outcome = document.getElementById("ssr-outcome");
const results = document.getElementById("ssr-results");
const base = section.dataset.apiBase;
const jobId = section.dataset.jobId;
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

// what the page and its tests (and bench/ui.py) can ask
const state = (window.trackprepSsr = { status: section.dataset.status, seen: [section.dataset.status], charts: {},
  tables: {}, firstPlotMs: null, errors: [] });

const plain = (value) => (typeof value === "bigint" ? Number(value) : value);

/** A table's columns as plain arrays, and the truncation facts from its X-Data-* headers. */
async function loadTable(key) {
  const response = await fetch(`${base}plot_data/${encodeURIComponent(key)}`);
  if (response.status === 204) return { names: [], columns: {}, rows: 0, total: 0, truncated: false };
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.detail || `the server answered ${response.status}`);
  }
  const table = window.Arrow.tableFromIPC(new Uint8Array(await response.arrayBuffer()));
  const names = table.schema.fields.map((field) => field.name);
  const columns = {}; // each column becomes a plain array when a plot or table first reads it
  for (const name of names) {
    Object.defineProperty(columns, name, { enumerable: true, get() {
      const values = Array.from(table.getChild(name), plain);
      Object.defineProperty(columns, name, { value: values, enumerable: true });
      return values;
    }, configurable: true });
  }
  const truncated = response.headers.get("X-Data-Truncated") === "true";
  const total = truncated ? Number(response.headers.get("X-Data-Total-Rows")) : table.numRows;
  return { names, columns, rows: table.numRows, total, truncated };
}

const loaded = new Map(); // source table -> Promise of its data (several plot keys read one table)
function tableFor(element) {
  const name = element.dataset.table;
  if (!loaded.has(name)) loaded.set(name, loadTable(element.dataset.key));
  return loaded.get(name);
}

function note(figure, text) {
  figure.querySelector('[data-field="note"]').textContent = text;
}

async function drawPlot(figure) {
  const id = figure.dataset.plot;
  const host = figure.querySelector('[data-field="chart"]');
  try {
    const data = await tableFor(figure);
    const option = data.rows ? PLOTTERS[id](data) : null;
    if (!option) {
      host.remove();
      note(figure, "No rows to draw in this analysis.");
      return;
    }
    const chart = echarts.init(host, null, { renderer: "canvas" });
    chart.setOption({ animation: false, ...option });
    state.charts[id] = chart;
    if (data.truncated) note(figure, `Drawn from the first ${number.format(data.rows)} of ${number.format(data.total)} rows.`);
    if (state.firstPlotMs === null) {
      state.firstPlotMs = performance.now();
      performance.mark("trackprep:first-plot");
    }
  } catch (error) {
    host.remove();
    note(figure, `Cannot draw this plot: ${error.message || error}`);
    state.errors.push(`${id}: ${error.message || error}`);
  }
}

function formatCell(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isInteger(value) ? number.format(value) : decimal.format(value);
  return String(value);
}

// positions and ids read better without thousands separators
const UNFORMATTED = new Set(["start", "stop", "end", "start1", "end1", "start2", "end2", "year"]);

async function showTable(element) {
  const count = element.querySelector('[data-field="count"]');
  const wrap = element.querySelector('[data-field="rows"]');
  const pager = element.querySelector('[data-field="pager"]');
  const pageText = element.querySelector('[data-field="page"]');
  const sizeSelect = element.querySelector('[data-field="size"]');
  let data;
  try {
    data = await tableFor(element);
  } catch (error) {
    count.textContent = `Cannot load this table: ${error.message || error}`;
    return;
  }
  const id = element.id.replace(/^table-/, "");
  const view = (state.tables[id] = { rows: data.rows, total: data.total, page: 0, size: Number(sizeSelect.value) });
  count.textContent = data.truncated
    ? `First ${number.format(data.rows)} of ${number.format(data.total)} rows (the whole table is in the downloads).`
    : `${number.format(data.rows)} row${data.rows === 1 ? "" : "s"}.`;
  if (!data.rows) return;
  const table = document.createElement("table");
  table.className = "results";
  const head = table.createTHead().insertRow();
  for (const name of data.names) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    head.append(th);
  }
  const body = table.createTBody();
  wrap.replaceChildren(table);

  function draw() {
    const pages = Math.max(1, Math.ceil(data.rows / view.size));
    view.page = Math.min(Math.max(0, view.page), pages - 1);
    const first = view.page * view.size;
    const last = Math.min(data.rows, first + view.size);
    body.replaceChildren();
    for (let row = first; row < last; row += 1) {
      const tr = body.insertRow();
      for (const name of data.names) {
        const td = tr.insertCell();
        const value = data.columns[name][row];
        td.textContent = UNFORMATTED.has(name) ? String(value ?? "") : formatCell(value);
        if (typeof value === "number") td.className = "num";
      }
    }
    pageText.textContent = `Rows ${number.format(first + 1)}–${number.format(last)} of ${number.format(data.rows)}`;
    pager.querySelector('[data-page="first"]').disabled = view.page === 0;
    pager.querySelector('[data-page="prev"]').disabled = view.page === 0;
    pager.querySelector('[data-page="next"]').disabled = view.page >= pages - 1;
    view.first = first;
  }
  pager.hidden = data.rows <= 10;
  pager.addEventListener("click", (event) => {
    const which = event.target.dataset && event.target.dataset.page;
    if (!which) return;
    view.page = which === "first" ? 0 : which === "prev" ? view.page - 1 : view.page + 1;
    draw();
  });
  sizeSelect.addEventListener("change", () => {
    view.size = Number(sizeSelect.value);
    view.page = 0;
    draw();
  });
  draw();
}


async function listFiles() {
  const list = results.querySelector('[data-field="files"]');
  try {
    const response = await fetch(`${base}files`, { cache: "no-store" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || `the server answered ${response.status}`);
    list.replaceChildren(...body.files.map((file) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = file.url;
      link.textContent = file.path;
      link.setAttribute("download", "");
      item.append(link, ` — ${file.label} (${bytes(file.size)})`);
      return item;
    }));
  } catch (error) {
    list.replaceChildren(`Cannot list the files: ${error.message || error}`);
  }
}

async function showResults() {
  results.hidden = false;
  section.hidden = true;
  const figures = [...results.querySelectorAll("figure.plot[data-table]")];
  // the first plot first: its table is fetched before anything else competes for the connection
  if (figures.length) await drawPlot(figures[0]);
  await Promise.all([
    ...figures.slice(1).map(drawPlot),
    ...[...results.querySelectorAll("section.data-table")].map(showTable),
    listFiles(),
  ]);
  performance.mark("trackprep:results-shown");
  state.status = "shown";
  window.addEventListener("resize", () => Object.values(state.charts).forEach((chart) => chart.resize()));
}

function text(tag, content, className) {
  const element = document.createElement(tag);
  element.textContent = content;
  if (className) element.className = className;
  return element;
}

/** The failing stage, the reason and the log's last lines, once (the progress panel goes away). */
function showFailure(view) {
  section.hidden = true;
  outcome.hidden = false;
  outcome.querySelector("h2").textContent = { cancelled: "Cancelled", expired: "Expired" }[view.status] || "Failed";
  const holder = outcome.querySelector('[data-field="failure"]');
  const error = view.error || {};
  const parts = [];
  if (error.rule) {
    const stage = text("p", "Stage: ");
    stage.append(text("code", error.rule));
    parts.push(stage);
  }
  parts.push(text("p", error.reason || view.message, "reason"));
  const tail = Array.isArray(error.log_tail) ? error.log_tail.join("\n") : error.log_tail;
  if (tail) {
    const details = document.createElement("details");
    details.open = true;
    details.append(text("summary", "Last lines of the log"), text("pre", tail));
    parts.push(details);
  }
  holder.replaceChildren(...parts);
}

function onUpdate(view) {
  state.status = view.status;
  state.seen.push(view.status);
  render(document, view);
  const summaryText = section.querySelector('[data-field="summary"]');
  summaryText.textContent = summary(view);
}

async function follow() {
  enableCancel(document);
  let view = { status: section.dataset.status };
  if (view.status === "completed") {
    showGenomeViewLink(jobId);
    await showResults();
    return;
  }
  if (["failed", "cancelled", "expired"].includes(view.status)) return; // the server rendered its outcome
  view = await watchJob(jobId, onUpdate);
  state.status = view.status;
  if (view.status === "completed") {
    showGenomeViewLink(jobId);
    await showResults();
  } else showFailure(view);
}

follow();
