// Cancel a job from a page: DELETE /jobs/{id} with the API token the person types (Authorization: Bearer).
// The token is sent once and never stored. The page's long poll then shows the job ending as cancelled.
const REASONS = {
  401: "That token is not this server's API token.",
  403: "This server has no API token configured, so no job can be cancelled from here.",
  404: "The job is gone.",
};

/** Wire every cancel form (rendered by the cancel_control macro) under `root`. */
export function enableCancel(root) {
  for (const form of root.querySelectorAll("form[data-cancel-job]")) {
    const status = form.querySelector('[data-field="cancel-status"]');
    const button = form.querySelector("button");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const token = form.elements.token.value.trim();
      if (!token) {
        status.textContent = "Type the API token first.";
        form.elements.token.focus();
        return;
      }
      button.disabled = true;
      status.textContent = "Cancelling…";
      try {
        const response = await fetch(`/jobs/${encodeURIComponent(form.dataset.cancelJob)}`, {
          method: "DELETE",
          headers: { Authorization: `Bearer ${token}` },
          cache: "no-store",
        });
        const body = await response.json().catch(() => ({}));
        if (response.ok) {
          form.elements.token.value = "";
          status.textContent = body.status === "cancelled" ? "Cancelled." : "Cancelling: the run is being stopped…";
          form.dispatchEvent(new CustomEvent("trackprep:cancelled", { bubbles: true, detail: body }));
          return;
        }
        status.textContent = REASONS[response.status] || body.detail || `The server answered ${response.status}.`;
      } catch (error) {
        status.textContent = "The server could not be reached; try again.";
      }
      button.disabled = false;
    });
  }
}
