// The link from a completed SSR analysis to its genome view, for a page that sees the job complete without a
// reload (the server renders the same link with templates/_ssr_genome_link.html otherwise).
export const LINK_TEXT = "Open the genomes and their SSR loci in the genome view";

/** The genome view's URL of an SSR job (it registers the derived sources, then redirects to the view). */
export function genomeViewUrl(jobId) {
  return `/ui/ssr/${encodeURIComponent(jobId)}/genome-view`;
}

/** Put the link into `container` (default: the page's #ssr-genome-view-link), once. */
export function showGenomeViewLink(jobId, container = document.getElementById("ssr-genome-view-link")) {
  if (!container || container.querySelector("a.genome-view-link")) return;
  const link = document.createElement("a");
  link.className = "genome-view-link";
  link.href = genomeViewUrl(jobId);
  link.textContent = LINK_TEXT;
  container.append(link);
}
