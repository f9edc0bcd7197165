// The genome view of one source: igv.js reads the artifact through the service's extension-bearing alias URLs
// with byte ranges, with the registered reference FASTA the source names, if any; without one, a reference made
// of the artifact's own sequence names and lengths.
// A source that is not built yet shows its job's progress first, then the track, without a reload.
import igv from "./vendor/igv/igv.esm.min.js";
import { ensureBuilt, isBuilt, startBuild } from "./builds.js";
import { render, summary, watchJob } from "./jobs.js";
import { OFFLINE, passCutRecords } from "./igv_quirks.js";
import { attachLocusBox, lociText } from "./locus_box.js";

passCutRecords();
const section = document.getElementById("viewer");
const status = document.getElementById("viewer-status");
const build = document.getElementById("build");
const sourceId = section.dataset.sourceId;

// what the page and its tests can ask: the igv.js browser once drawn, and how many features are in view
const view = (window.trackprepView = { state: "loading", browser: null, error: null, referenceless: true });

function say(text) {
  status.textContent = text;
}

// Without a reference FASTA (this view's reference is the artifact's own sequence names and lengths), igv.js
// logs "No sequence for: chr:start-end" as an error every time it loads alignments: it would colour mismatches
// against the reference, and there is none. That is the expected state here, not a failure, so exactly that
// message is passed on as a console note instead. Every other error still reaches the console.
const consoleError = console.error.bind(console);
console.error = (...args) => {
  if (typeof args[0] === "string" && args[0].startsWith("No sequence for") && view.referenceless) {
    console.info(`no reference sequence (none registered): ${args[0]}`);
    return;
  }
  consoleError(...args);
};

/** The genome settings once the artifact is built; null while it is not. */
async function genomeSettings() {
  let ready;
  try {
    ready = await isBuilt(section.dataset.recordUrl);
  } catch (error) {
    // the build failed and /data would answer that failure (409) until the source is registered anew
    if (error.jobId) view.failedJob = error.jobId;
    throw error;
  }
  if (!ready) return null;
  const response = await fetch(section.dataset.genomeUrl, { cache: "no-store" });
  if (response.status === 503) return null;
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || `the server answered ${response.status}`);
  return body;
}

function showJobLink(jobId) {
  const link = build.querySelector('[data-field="job-link"]');
  link.href = section.dataset.jobPage.replace("JOB", encodeURIComponent(jobId));
}

async function waitForBuild(jobId) {
  build.hidden = false;
  build.dataset.jobId = jobId;
  showJobLink(jobId);
  view.state = "building";
  say("The artifact is being built; the track appears when it is ready.");
  const final = await watchJob(jobId, (job) => {
    render(document, job);
    document.querySelector('[data-field="state"]').textContent = summary(job);
  });
  if (final.status !== "completed") {
    const reason = (final.error && final.error.reason) || final.message;
    throw new Error(`the build ${final.status}: ${reason}`);
  }
  document.querySelector('[data-field="state"]').textContent = "built";
}

/** Alignments (or features) igv.js holds for the visible part of the track. */
function featuresInView() {
  const browser = view.browser;
  if (!browser) return 0;
  const track = browser.findTracks((t) => ["alignment", "variant", "annotation", "wig"].includes(t.type))[0];
  if (!track) return 0;
  if (track.type === "alignment") {
    let count = 0;
    for (const container of track.getCachedAlignmentContainers()) {
      if (container) for (const _ of container.allAlignments()) count += 1;
    }
    return count;
  }
  return track.getInViewFeatures ? Promise.resolve(track.getInViewFeatures()).then((f) => f.length) : 0;
}
view.featuresInView = featuresInView;

view.loci = () => (view.browser ? lociText(view.browser) : "");

async function draw(settings) {
  say(`Drawing ${settings.chromosomes.length.toLocaleString("en-US")} sequence(s)…`);
  // a registered reference FASTA when the source names one (bgzipped: .fai and .gzi beside it), else the
  // artifact's own sequence names and lengths
  view.referenceless = !settings.reference;
  view.reference = settings.reference ? settings.reference.id : null;
  const reference = settings.reference || {
    id: sourceId,
    name: sourceId,
    format: "chromsizes",
    fastaURL: settings.chrom_sizes_url,
    wholeGenomeView: false,
    showIdeogram: false,
  };
  const browser = await igv.createBrowser(document.getElementById("igv"), {
    ...OFFLINE,
    reference,
    showSequence: Boolean(settings.reference),
    locus: settings.locus || settings.chromosomes[0].name,
    tracks: [{ ...settings.track, height: 300 }],
  });
  view.browser = browser;
  view.state = "drawn";
  build.hidden = true;
  attachLocusBox(browser, say, { notFound: (text) => `No locus ${text} in this artifact.` });
  say(`Showing ${sourceId}.`);
  document.dispatchEvent(new CustomEvent("trackprep:drawn"));
}

/** The settings with the named reference FASTA's igv.js settings, built first when it is not yet. */
async function withReference(settings) {
  const source = settings.reference_source;
  if (settings.reference || !source) return settings;
  say(`Preparing the reference ${source.id}…`);
  build.hidden = false;
  await ensureBuilt({ recordUrl: source.record_url, dataUrl: source.data_url }, (jobId) => {
    build.dataset.jobId = jobId;
    showJobLink(jobId);
  }, (job) => render(document, job));
  build.hidden = true;
  const response = await fetch(source.settings_url, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(`the reference ${source.id}: ${body.detail || response.status}`);
  return { ...settings, reference: body };
}

async function main() {
  try {
    let settings = await genomeSettings();
    while (settings === null) {
      let jobId;
      try {
        jobId = await startBuild(section.dataset.dataUrl);
      } catch (error) {
        if (error.jobId) showJobLink(error.jobId);
        throw error;
      }
      if (jobId) await waitForBuild(jobId);
      settings = await genomeSettings();
    }
    await draw(await withReference(settings));
  } catch (error) {
    view.state = "failed";
    view.error = String(error.message || error);
    say(`Cannot show this source: ${view.error}`);
    status.classList.add("error");
    if (view.failedJob) {
      const link = document.createElement("a");
      link.href = section.dataset.jobPage.replace("JOB", encodeURIComponent(view.failedJob));
      link.textContent = "What happened (job page)";
      status.append(" ", link);
    }
  }
}

main();
