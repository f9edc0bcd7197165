// Live job progress: long-polls GET /jobs/{id}?wait=25 with If-None-Match, so a page hears of each new stage
// as it happens without asking every second. Used by every page that shows a <progress> for a job.
const TERMINAL = new Set(["completed", "failed", "cancelled", "expired"]);
const WAIT_SECONDS = 25;
const MAX_WATCHES = 4; // long polls at once: the browser keeps only ~6 connections per host for everything else
const number = new Intl.NumberFormat("en-US");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** "queued (#2 in line)", "running · stage 3 of 7", "completed": the same words the server renders. */
export function summary(job) {
  if (job.status === "queued") {
    return job.queue_position ? `queued (#${number.format(job.queue_position)} in line)` : "queued";
  }
  if (job.status === "running") {
    return job.stages_total
      ? `running · stage ${number.format(job.stages_done)} of ${number.format(job.stages_total)}`
      : "running";
  }
  return job.status;
}

/**
 * Follow one job until it ends: onUpdate(view) for every change; resolves with the final view.
 * A 304 means "no change within the wait"; errors are retried after a pause.
 */
export async function watchJob(jobId, onUpdate) {
  let etag = null;
  let pause = 0;
  for (;;) {
    if (pause) await sleep(pause);
    const started = performance.now();
    let response;
    try {
      response = await fetch(`/jobs/${encodeURIComponent(jobId)}?wait=${WAIT_SECONDS}`, {
        headers: etag ? { "If-None-Match": etag } : {},
        cache: "no-store",
      });
    } catch (error) {
      pause = 2000;
      continue;
    }
    // the server answers at once when it holds too many long polls: do not spin
    pause = performance.now() - started < 1000 ? 1000 : 0;
    if (response.status === 304) continue;
    if (!response.ok) {
      pause = 5000;
      continue;
    }
    etag = response.headers.get("ETag");
    const view = await response.json();
    onUpdate(view);
    if (TERMINAL.has(view.status)) return view;
  }
}

/** Show a job's view in every element of the page that stands for it. */
export function render(root, view) {
  for (const element of root.querySelectorAll(`[data-job-id="${view.job_id}"]`)) {
    element.dataset.status = view.status;
    const bar = element.querySelector("progress");
    if (bar) {
      bar.value = view.progress;
      bar.textContent = `${Math.round(view.progress * 100)}%`;
    }
    const text = element.querySelector('[data-field="summary"]');
    if (text) {
      text.textContent = summary(view);
      text.className = `job-status status-${view.status}`;
    }
    const message = element.querySelector('[data-field="message"]');
    // a failed job's message is its reason, which the outcome shows: say it once
    const ended = view.status === "failed" || view.status === "cancelled";
    if (message) message.textContent = view.message === view.status || ended ? "" : view.message;
    const cancel = element.querySelector("form[data-cancel-job]");
    if (cancel && TERMINAL.has(view.status)) cancel.hidden = true;
  }
  // a source's artifact cell on the home page: once its job has ended, the state /data would now answer
  for (const cell of root.querySelectorAll(`[data-state-job="${view.job_id}"]`)) {
    if (TERMINAL.has(view.status)) showSourceState(cell, view);
  }
  for (const message of root.querySelectorAll(`[data-job-message="${view.job_id}"]`)) {
    message.textContent = view.message;
  }
}

function showSourceState(cell, view) {
  const kind = { completed: "built", failed: "failed", cancelled: "not_built", expired: "not_built" }[view.status];
  cell.className = `state state-${kind}`;
  if (kind === "failed") {
    const link = document.createElement("a");
    link.href = `/ui/jobs/${encodeURIComponent(view.job_id)}`;
    link.textContent = "failed";
    cell.replaceChildren(link);
  } else {
    cell.replaceChildren(kind === "built" ? "built" : "not built");
  }
}

/** Keep every unfinished job shown in `root` live, MAX_WATCHES at a time. */
export async function watchAll(root) {
  const pending = [];
  for (const element of root.querySelectorAll("[data-job-id][data-status]")) {
    const id = element.dataset.jobId;
    if (!TERMINAL.has(element.dataset.status) && !pending.includes(id)) pending.push(id);
  }
  const worker = async () => {
    while (pending.length) {
      const id = pending.shift();
      const final = await watchJob(id, (view) => render(root, view));
      const reload = root.querySelector(`[data-job-id="${id}"][data-reload-on-end]`);
      if (reload && TERMINAL.has(final.status)) window.location.reload();
    }
  };
  await Promise.all(Array.from({ length: Math.min(MAX_WATCHES, pending.length) }, worker));
}
