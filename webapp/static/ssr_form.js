// The SSR submission form: posts the files and parameters to the API's own POST /analyze_ssr/ with an
// XMLHttpRequest (fetch() reports no upload progress), shows the upload's progress, and puts the server's 422/413
// reasons next to the field they concern. On 202 it opens the analysis' page.
import { bytes } from "./format.js";

const form = document.getElementById("ssr-form");
const submit = document.getElementById("submit");
const panel = document.getElementById("upload");
const bar = document.getElementById("upload-bar");
const progressText = panel.querySelector('[data-field="summary"]');
const formError = document.getElementById("form-error");
const FILE_FIELDS = ["fasta_file", "categories_file", "gene_bed"];
const FIELDS = [...FILE_FIELDS, "reference_id", "flanks"];


function clearErrors() {
  for (const element of form.querySelectorAll(".field-error")) {
    element.hidden = true;
    element.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/** Show a reason next to its field (by the field's name, or a parameter's), else under the form. */
function showError(field, text) {
  const target = field ? document.getElementById(`${field}-error`) : null;
  const where = target || formError;
  where.textContent = text;
  where.hidden = false;
  const input = field ? form.querySelector(`[name="${field}"]`) : null;
  if (input && target) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  } else {
    where.scrollIntoView({ block: "nearest" });
  }
}

/** The field a server reason names: the API's reasons start with the form field (or perf_params.<name>). */
export function fieldOf(reason) {
  const param = /^perf_params\.(\w+)/.exec(reason);
  if (param && form.querySelector(`[data-param="${param[1]}"]`)) return param[1];
  return FIELDS.find((name) => reason.startsWith(name)) || null;
}

function chosenFiles() {
  return FILE_FIELDS.map((name) => [name, form.elements[name].files[0]]).filter(([, file]) => file);
}

function largestFile() {
  const files = chosenFiles();
  files.sort((a, b) => b[1].size - a[1].size);
  return files.length ? files[0][0] : "fasta_file";
}

function formData() {
  const data = new FormData();
  for (const [name, file] of chosenFiles()) data.append(name, file, file.name);
  const reference = form.elements.reference_id.value.trim();
  if (reference) data.append("reference_id", reference);
  data.append("flanks", form.elements.flanks.checked ? "true" : "false");
  const params = {};
  for (const input of form.querySelectorAll("[data-param]")) {
    const text = input.value.trim();
    params[input.dataset.param] = /^-?\d+$/.test(text) ? Number(text) : text;
  }
  data.append("perf_params", JSON.stringify(params));
  return data;
}

function showProgress(loaded, total) {
  panel.hidden = false;
  bar.value = total ? loaded / total : 0;
  bar.textContent = `${Math.round(bar.value * 100)}%`;
  progressText.textContent = total
    ? `${bytes(loaded)} of ${bytes(total)} sent (${Math.round((loaded / total) * 100)}%)`
    : `${bytes(loaded)} sent`;
}

function send(data) {
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", form.getAttribute("action"));
    request.responseType = "text";
    request.upload.addEventListener("progress", (event) => showProgress(event.loaded, event.lengthComputable ? event.total : 0));
    request.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch (error) { /* not JSON: a proxy's page */ }
      resolve({ status: request.status, body });
    });
    request.addEventListener("error", () => resolve({ status: 0, body: null }));
    request.send(data);
  });
}

async function onSubmit(event) {
  event.preventDefault();
  clearErrors();
  if (!form.elements.fasta_file.files.length) {
    showError("fasta_file", "Choose a FASTA file of the genomes to analyse.");
    return;
  }
  const total = chosenFiles().reduce((sum, [, file]) => sum + file.size, 0);
  const limit = Number(form.dataset.maxUploadBytes);
  if (total > limit) {
    showError(largestFile(), `These files hold ${bytes(total)}, more than the ${form.dataset.maxUpload} one submission may send.`);
    return;
  }
  submit.disabled = true;
  showProgress(0, total);
  const { status, body } = await send(formData());
  submit.disabled = false;
  const reason = (body && (body.detail || body.message || body.reason)) || "";
  if (status === 202 && body && body.job_id) {
    progressText.textContent = "Uploaded: opening the analysis…";
    window.location.assign(form.dataset.resultPage.replace("JOB", encodeURIComponent(body.job_id)));
    return;
  }
  panel.hidden = true;
  if (status === 422) {
    showError(fieldOf(reason), reason);
  } else if (status === 413) {
    showError(largestFile(), reason || `The files are larger than the ${form.dataset.maxUpload} one submission may send.`);
  } else if (status === 0) {
    showError(null, total > limit ? `The upload was refused: more than ${form.dataset.maxUpload}.` : "The server could not be reached; try again.");
  } else {
    showError(null, reason ? `The server refused the analysis (${status}): ${reason}` : `The server answered ${status}.`);
  }
}

form.addEventListener("submit", onSubmit);
form.addEventListener("reset", clearErrors);
