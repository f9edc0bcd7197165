// The locus box of a genome page: it shows the loci in view while the user pans or zooms, and takes the view
// to the locus the user types (Enter or the Go button).
const number = new Intl.NumberFormat("en-US");

/** The loci in view as one string ("chr1:1,000-2,000", or several separated by spaces). */
export function lociText(browser) {
  const loci = browser.currentLoci();
  const text = Array.isArray(loci) ? loci.join(" ") : loci;
  return text.replace(/:(\d+)-(\d+)/g, (_, start, end) =>
    `:${number.format(Number(start))}-${number.format(Number(end))}`);
}

/**
 * Enable the page's locus form (#locus-form, #locus) for a drawn igv.js browser. `say` reports the outcome.
 * What igv.js does not know itself (loci, sequence names) is asked of `findFeature(name)`, when given: an
 * async lookup answering {locus, text} or null.
 */
export function attachLocusBox(browser, say, { notFound = (text) => `No locus ${text} here.`, findFeature } = {}) {
  const form = document.getElementById("locus-form");
  const input = document.getElementById("locus");
  input.disabled = false;
  form.querySelector("button").disabled = false;
  input.value = lociText(browser);
  browser.on("locuschange", () => {
    if (document.activeElement !== input) input.value = lociText(browser);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    try {
      if ((await browser.search(text)) !== false) {
        say(`Showing ${text}.`);
        return;
      }
      const feature = findFeature ? await findFeature(text) : null;
      if (!feature) {
        say(notFound(text));
        return;
      }
      await browser.search(feature.locus);
      say(`Showing ${feature.text}.`);
    } catch (error) {
      say(`No locus ${text}: ${error.message}`);
    }
  });
}
