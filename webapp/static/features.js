// Feature name search (GET /features/{id}?q=…&limit=…) as the pages use it: the lookup, which waits for the
// source's name index when the first search answers 202, and how a found feature is shown and gone to.
const number = new Intl.NumberFormat("en-US");

/** The igv.js locus of a feature (the API's coordinates are 0-based, half-open). */
export function featureLocus(feature) {
  return `${feature.chrom}:${feature.start + 1}-${feature.end}`;
}

/** The same locus for people, with thousands separators. */
export function featureWhere(feature) {
  return `${feature.chrom}:${number.format(feature.start + 1)}-${number.format(feature.end)}`;
}

/**
 * The features whose names start with `query` (an exact match first). A 202 (the name index is not built yet)
 * is handed to `waitForIndex(jobId)`, which resolves with the index job's final state; then the search is asked
 * again. Throws with the reason when the index cannot be built or the server refuses the search.
 */
export async function searchFeatures(featuresUrl, query, limit, waitForIndex) {
  const url = `${featuresUrl}?${new URLSearchParams({ q: query, limit: String(limit) })}`;
  for (;;) {
    const response = await fetch(url, { cache: "no-store" });
    const body = await response.json();
    if (response.status === 202) {
      const final = await waitForIndex(body.job_id);
      if (final.status !== "completed") {
        const reason = (final.error && final.error.reason) || final.message;
        throw new Error(`building the name index ${final.status}: ${reason}`);
      }
      continue; // built: ask again
    }
    if (!response.ok) throw new Error(body.detail || `the server answered ${response.status}`);
    return body.features;
  }
}
