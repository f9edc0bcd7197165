// A source's artifact, built when a page needs it: GET /files/{id} says whether it is complete; if not,
// GET /data/{id} starts (or joins) the build and its job is followed until it ends.
import { watchJob } from "./jobs.js";

/** True when the artifact is complete; throws with the reason when its last build failed. */
export async function isBuilt(recordUrl) {
  const response = await fetch(recordUrl, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || `the server answered ${response.status}`);
  const ready = Boolean(body.artifacts.data && body.artifacts.data.ready);
  if (!ready && body.failed_job && !body.active_job) {
    const reason = (body.failed_job.error && body.failed_job.error.reason) || body.failed_job.message;
    const error = new Error(`building it failed: ${reason}`);
    error.jobId = body.failed_job.job_id;
    throw error;
  }
  return ready;
}

/** Start (or join) the build: the job's id, or null when the artifact was built meanwhile. */
export async function startBuild(dataUrl) {
  const controller = new AbortController();
  const response = await fetch(dataUrl, { signal: controller.signal, cache: "no-store" });
  if (response.status === 202) return (await response.json()).job_id;
  controller.abort(); // built after all: the body is the whole artifact, which the page does not want
  if (response.ok) return null;
  let reason = `the server answered ${response.status}`;
  let jobId = null;
  try {
    const body = await response.clone().json();
    reason = body.detail || reason;
    jobId = body.job_id || null; // a remembered failure names its job
  } catch (error) { /* aborted or not JSON */ }
  const error = new Error(reason);
  error.jobId = jobId;
  throw error;
}

/**
 * Until the source's artifact is complete: onJob(jobId) when a build starts, onUpdate(job view) for each
 * change of it. Throws with the reason when the build fails or is cancelled.
 */
export async function ensureBuilt(urls, onJob, onUpdate) {
  while (!(await isBuilt(urls.recordUrl))) {
    const jobId = await startBuild(urls.dataUrl);
    if (!jobId) continue;
    onJob(jobId);
    const final = await watchJob(jobId, onUpdate);
    if (final.status !== "completed") {
      const reason = (final.error && final.error.reason) || final.message;
      const error = new Error(`the build ${final.status}: ${reason}`);
      error.jobId = jobId;
      throw error;
    }
  }
}
