// Feature name search in the genome view of an annotation source: a combobox (ARIA 1.2 pattern) whose options
// come from GET /features/{id}?q=PREFIX&limit=10, debounced. Up/Down move through them, Enter (or a click)
// jumps igv.js to the feature (chrom:start+1-end; the API's coordinates are 0-based, half-open), Escape closes.
// The first search of a source may answer 202: its name index is built by a job of its own, whose progress is
// shown (long polls, as everywhere else) before the search is asked again.
import { featureLocus, featureWhere, searchFeatures } from "./features.js";
import { summary, watchJob } from "./jobs.js";

const LIMIT = 10;
const DEBOUNCE_MS = 200;
const form = document.getElementById("gene-form");
const input = document.getElementById("gene");
const list = document.getElementById("gene-options");
const status = document.getElementById("gene-status");
const panel = document.getElementById("index-build");
const number = new Intl.NumberFormat("en-US");

let options = []; // the features listed now
let active = -1; // the highlighted option
let timer = null;
let asked = 0; // every search has a number; only the latest one's answer is shown

const view = () => window.trackprepView;

function say(text) {
  status.textContent = text;
}

function close() {
  list.hidden = true;
  input.setAttribute("aria-expanded", "false");
  input.removeAttribute("aria-activedescendant");
  active = -1;
}

function highlight(index) {
  active = index;
  list.querySelectorAll("[role=option]").forEach((item, i) => {
    item.setAttribute("aria-selected", String(i === index));
  });
  if (index >= 0) input.setAttribute("aria-activedescendant", `gene-option-${index}`);
  else input.removeAttribute("aria-activedescendant");
}

function show(features, query) {
  options = features;
  list.replaceChildren();
  features.forEach((feature, i) => {
    const item = document.createElement("li");
    item.id = `gene-option-${i}`;
    item.setAttribute("role", "option");
    item.setAttribute("aria-selected", "false");
    item.dataset.locus = featureLocus(feature);
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = feature.name;
    const where = document.createElement("span");
    where.className = "where";
    where.textContent = featureWhere(feature);
    item.append(name, " ", where);
    item.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the box
    item.addEventListener("click", () => choose(i));
    list.append(item);
  });
  if (features.length) {
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(-1);
    const more = features.length === LIMIT ? ` (the first ${LIMIT})` : "";
    say(`${number.format(features.length)} name(s) starting with “${query}”${more}.`);
  } else {
    close();
    say(`No feature name starts with “${query}”.`);
  }
}

async function waitForIndex(jobId) {
  panel.hidden = false;
  panel.dataset.jobId = jobId;
  const bar = panel.querySelector("progress");
  const text = panel.querySelector('[data-field="summary"]');
  say("The name index is being built; the names appear when it is ready.");
  const final = await watchJob(jobId, (job) => {
    bar.value = job.progress;
    bar.textContent = `${Math.round(job.progress * 100)}%`;
    text.textContent = summary(job);
  });
  panel.hidden = true;
  return final;
}

async function search(query) {
  const mine = ++asked;
  try {
    const features = await searchFeatures(form.dataset.featuresUrl, query, LIMIT, waitForIndex);
    if (mine === asked) show(features, query);
  } catch (error) {
    if (mine !== asked) return;
    close();
    say(`Cannot search names: ${error.message || error}`);
  }
}

async function choose(index) {
  const feature = options[index];
  if (!feature || !view().browser) return;
  close();
  input.value = feature.name;
  await view().browser.search(featureLocus(feature));
  say(`Showing ${feature.name} (${featureWhere(feature)}).`);
}

input.addEventListener("input", () => {
  clearTimeout(timer);
  const query = input.value.trim();
  if (!query) {
    asked += 1;
    close();
    say("");
    return;
  }
  timer = setTimeout(() => search(query), DEBOUNCE_MS);
});

input.addEventListener("keydown", (event) => {
  const open = !list.hidden && options.length > 0;
  if (event.key === "ArrowDown" && open) {
    event.preventDefault();
    highlight((active + 1) % options.length);
  } else if (event.key === "ArrowUp" && open) {
    event.preventDefault();
    highlight(active <= 0 ? options.length - 1 : active - 1);
  } else if (event.key === "Enter") {
    event.preventDefault();
    if (open) choose(active >= 0 ? active : 0);
  } else if (event.key === "Escape") {
    close();
  }
});

input.addEventListener("blur", close);
form.addEventListener("submit", (event) => event.preventDefault());

// the box works once igv.js has drawn the track (source.js says so with an event)
function enable() {
  input.disabled = false;
}
if (view() && view().state === "drawn") enable();
else document.addEventListener("trackprep:drawn", enable, { once: true });
