// Several tracks on one registered reference FASTA (an SSR analysis' genomes, SSRs, hotspot SSRs and genes,
// or any sources named in the URL). Each source still cold is built first, its progress shown in its row;
// then igv.js reads the FASTA (BGZF + .fai + .gzi) and every track through the service's alias URLs, with
// byte ranges.
import igv from "./vendor/igv/igv.esm.min.js";
import { ensureBuilt } from "./builds.js";
import { summary, watchJob } from "./jobs.js";
import { featureLocus, featureWhere, searchFeatures } from "./features.js";
import { OFFLINE, passCutRecords } from "./igv_quirks.js";
import { attachLocusBox, lociText } from "./locus_box.js";

passCutRecords();
const section = document.getElementById("viewer");
const status = document.getElementById("viewer-status");
const rows = Array.from(section.querySelectorAll("tr.track-source"));
const number = new Intl.NumberFormat("en-US");
const ANNOTATION_TYPES = ["alignment", "variant", "annotation", "wig"];
const LEFT_MARGIN = 500; // how far in from the left edge GET /ui/sources/{id}/genome puts the first record

// what the page and its tests can ask: the igv.js browser once drawn, its reference, features in view
const view = (window.trackprepView = { state: "loading", browser: null, error: null, reference: null });

function say(text) {
  status.textContent = text;
}

function jobPage(jobId) {
  return section.dataset.jobPage.replace("JOB", encodeURIComponent(jobId));
}

function showRow(row, text, progress) {
  const bar = row.querySelector("progress");
  row.querySelector('[data-field="summary"]').textContent = text;
  if (progress === undefined) {
    bar.hidden = true;
    return;
  }
  bar.hidden = false;
  bar.value = progress;
  bar.textContent = `${Math.round(progress * 100)}%`;
}

/** Build one source's artifact if it is cold, showing its job in its row. */
async function built(row) {
  const link = row.querySelector('[data-field="job-link"]');
  const onJob = (jobId) => {
    link.href = jobPage(jobId);
    link.hidden = false;
    showRow(row, "queued", 0);
  };
  try {
    await ensureBuilt(row.dataset, onJob, (job) => showRow(row, summary(job), job.progress));
  } catch (error) {
    if (error.jobId) {
      link.href = jobPage(error.jobId);
      link.hidden = false;
    }
    showRow(row, "failed");
    throw new Error(`${row.dataset.label}: ${error.message}`);
  }
  showRow(row, "built");
}

/**
 * The feature named `name` (any case) in the view's annotation tracks, from their name indexes (an index not
 * built yet is built first, its job shown in the track's row): {locus, text} or null. Only an exact name: a
 * prefix is what the source page's name search box is for.
 */
async function findFeature(name) {
  const wanted = name.toLowerCase();
  const waitForIndex = (row) => (jobId) => {
    say(`Looking up ${name}: building the name index of ${row.dataset.label} first (progress in its row).`);
    return watchJob(jobId, (job) => showRow(row, `name index: ${summary(job)}`, job.progress));
  };
  for (const row of rows.filter((r) => r.dataset.featuresUrl)) {
    let features;
    try {
      features = await searchFeatures(row.dataset.featuresUrl, name, 10, waitForIndex(row));
    } catch (error) {
      showRow(row, `built; ${error.message}`);
      continue; // the next track may still hold the name
    }
    showRow(row, "built");
    const feature = features.find((f) => f.name.toLowerCase() === wanted);
    if (feature) {
      return { locus: featureLocus(feature), text: `${feature.name} (${featureWhere(feature)}, ${row.dataset.label})` };
    }
  }
  return null;
}

async function json(url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || `the server answered ${response.status}`);
  return body;
}

/** igv.js features held for the view, per track name (alignments counted as features). */
async function featureCounts() {
  const counts = {};
  if (!view.browser) return counts;
  for (const track of view.browser.findTracks((t) => ANNOTATION_TYPES.includes(t.type))) {
    if (track.type === "alignment") {
      let count = 0;
      for (const container of track.getCachedAlignmentContainers()) {
        if (container) for (const _ of container.allAlignments()) count += 1;
      }
      counts[track.name] = count;
      continue;
    }
    const features = track.getInViewFeatures ? await track.getInViewFeatures() : [];
    counts[track.name] = features.length;
  }
  return counts;
}
view.featureCounts = featureCounts;
view.featuresInView = async () => Object.values(await featureCounts()).reduce((a, b) => a + b, 0);

view.loci = () => (view.browser ? lociText(view.browser) : "");

/** A first locus ("chr:start-end", its first record near the left edge) with that record in the middle. */
function centred(locus) {
  const match = /^(.+):([\d,]+)-([\d,]+)$/.exec(locus);
  if (!match) return locus;
  const [start, end] = [match[2], match[3]].map((n) => Number(n.replaceAll(",", "")));
  const shift = Math.max(0, Math.floor((end - start) / 2) - LEFT_MARGIN);
  const from = Math.max(1, start - shift);
  return `${match[1]}:${from}-${from + (end - start)}`;
}

async function draw(reference, tracks) {
  say(`Drawing ${number.format(tracks.length)} track(s) on ${reference.name}…`);
  // the first hotspot is the most telling place to start; else the first record of the first track
  const first = tracks.find((t) => t.role === "hotspots") || tracks.find((t) => t.settings.locus);
  const locus = first && first.settings.locus ? centred(first.settings.locus) : undefined;
  const browser = await igv.createBrowser(document.getElementById("igv"), {
    ...OFFLINE,
    reference,
    showSequence: true,
    locus,
    tracks: tracks.map((t) => ({ ...t.settings.track, name: t.label, displayMode: "EXPANDED" })),
  });
  view.browser = browser;
  view.reference = browser.genome ? browser.genome.id : reference.id;
  view.state = "drawn";
  attachLocusBox(browser, say, {
    notFound: (text) => `No locus or feature name ${text} here.`,
    findFeature,
  });
  say(`Showing ${tracks.map((t) => t.label).join(", ")} on ${reference.name}.`);
  document.dispatchEvent(new CustomEvent("trackprep:drawn"));
}

async function main() {
  try {
    say("Preparing the reference and the tracks; a cold one is built first (progress in its row).");
    // the reference must be built; a track that cannot be is left out (its row says why), the others drawn
    const outcomes = await Promise.allSettled(rows.map(built));
    const failed = outcomes.flatMap((o, i) => (o.status === "rejected" ? [[rows[i], o.reason]] : []));
    const fatal = failed.find(([row]) => row.dataset.role === "reference");
    if (fatal || failed.length === rows.length - 1) throw (fatal || failed[0])[1];
    const reference = await json(section.dataset.referenceUrl);
    const tracks = [];
    for (const row of rows.filter((r) => r.dataset.role === "track" && !failed.some(([f]) => f === r))) {
      const settings = await json(row.dataset.genomeUrl);
      const role = row.dataset.sourceId.split("-").pop();
      tracks.push({ label: row.dataset.label, role, settings });
    }
    await draw(reference, tracks);
    if (failed.length) {
      view.skipped = failed.map(([row, error]) => String(error.message || error));
      say(`${status.textContent} Left out: ${view.skipped.join("; ")}`);
    }
  } catch (error) {
    view.state = "failed";
    view.error = String(error.message || error);
    say(`Cannot show this view: ${view.error}`);
    status.classList.add("error");
  }
}

main();
