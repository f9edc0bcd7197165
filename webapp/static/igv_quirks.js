// igv.js reads a tabix chunk as whole BGZF blocks and parses every line of them, up to the end of the last
// block rather than the chunk's end. When that block ends inside a record (BGZF blocks ignore line ends), the
// cut record's first half fails to parse and igv.js logs "Error parsing line '<chr>\t<start>\t': ..." as an
// error. The record is outside the chunk (the view asked for other positions), and is read whole when its
// own region is viewed: the artifact itself is complete (the engine validates every record before it is
// indexed). So exactly that message, for a line cut short, is passed on as a console note. Every other error,
// including a parse error on a whole line, still reaches the console.
const CUT_RECORD = /^Error parsing line '([^']*)': Unparsable bed record/;

function cutShort(line) {
  const fields = line.split("\t");
  return fields.length < 3 || fields[fields.length - 1] === "";
}

let installed = false;

/** Pass igv.js's parse errors on records cut at a BGZF block's end to console.info (once per page). */
export function passCutRecords() {
  if (installed) return;
  installed = true;
  const consoleError = console.error.bind(console);
  console.error = (...args) => {
    const match = typeof args[0] === "string" ? CUT_RECORD.exec(args[0]) : null;
    if (match && cutShort(match[1])) {
      console.info(`a record cut at a BGZF block's end (read whole in its own region): ${args[0]}`);
      return;
    }
    consoleError(...args);
  };
}

/** igv.js settings every page passes: nothing is asked of a service outside trackprep (igv.js' defaults load its
 * genome list from igv.org and send a name it does not know to igv.org's locus service). */
export const OFFLINE = Object.freeze({ loadDefaultGenomes: false, search: false });
