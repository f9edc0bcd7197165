#!/usr/bin/env node
// Reads one region of a remote genomics file over HTTP the way a JavaScript genome browser does (JBrowse, igv.js
// use these readers): @gmod/bam or @gmod/tabix (or @gmod/indexedfasta) on generic-filehandle2 RemoteFiles, which
// send Range GETs through Node's global fetch. The index type comes from the index URL's suffix: .csi is read as
// CSI, .bai as BAI, .tbi as TBI.
//
//   node read_remote.mjs bam   DATA_URL INDEX_URL CHR:START-END   -> {"name","ref","start","end"} per read
//   node read_remote.mjs tabix DATA_URL INDEX_URL CHR:START-END   -> {"line"} per record
//   node read_remote.mjs fasta DATA_URL FAI_URL   CHR:START-END GZI_URL -> {"ref","start","end","seq"}
//
// START-END is 1-based and inclusive, as in samtools and tabix; printed start/end are 0-based, end exclusive
// (BAM's own convention). Exit 0 with one JSON object per line on stdout; on failure exit 1 with the reason on
// stderr. Every HTTP answer that is not 2xx is reported on stderr as {"http_status", "retry_after", "url"} so a
// caller can honour Retry-After (trackprep answers 503 + Retry-After while it builds the artifact).
import { BamFile } from '@gmod/bam'
import { BgzipIndexedFasta } from '@gmod/indexedfasta'
import { TabixIndexedFile } from '@gmod/tabix'
import { RemoteFile } from 'generic-filehandle2'

/** globalThis.fetch, reporting every non-2xx answer (with its Retry-After) on stderr. */
async function reportingFetch(input, init) {
  const response = await globalThis.fetch(input, init)
  if (!response.ok) {
    const report = {
      http_status: response.status,
      retry_after: response.headers.get('retry-after'),
      url: `${input}`,
    }
    process.stderr.write(`${JSON.stringify(report)}\n`)
  }
  return response
}

function remote(url) {
  return new RemoteFile(url, { fetch: reportingFetch })
}

/** "chrL:600000000-600000010" -> ["chrL", 599999999, 600000010] (0-based, half open) */
function parseRegion(region) {
  const match = /^(.+):([0-9,]+)-([0-9,]+)$/.exec(region)
  if (!match) {
    throw new Error(`region must be CHR:START-END (1-based, inclusive), got ${region}`)
  }
  const number = text => Number.parseInt(text.replaceAll(',', ''), 10)
  return [match[1], number(match[2]) - 1, number(match[3])]
}

function indexOption(indexUrl, names) {
  const suffix = indexUrl.split('?')[0].split('.').pop()
  if (suffix === 'csi') {
    return { csiFilehandle: remote(indexUrl) }
  }
  if (suffix === names.small) {
    return { [names.option]: remote(indexUrl) }
  }
  throw new Error(`index URL must end in .csi or .${names.small}: ${indexUrl}`)
}

async function readBam(dataUrl, indexUrl, [ref, start, end]) {
  const bam = new BamFile({
    bamFilehandle: remote(dataUrl),
    ...indexOption(indexUrl, { small: 'bai', option: 'baiFilehandle' }),
  })
  await bam.getHeader()
  const records = await bam.getRecordsForRange(ref, start, end)
  return records.map(record => ({
    name: record.name,
    ref: bam.indexToChr[record.ref_id].refName,
    start: record.start,
    end: record.end,
  }))
}

async function readTabix(dataUrl, indexUrl, [ref, start, end]) {
  const file = new TabixIndexedFile({
    filehandle: remote(dataUrl),
    ...indexOption(indexUrl, { small: 'tbi', option: 'tbiFilehandle' }),
  })
  const lines = []
  await file.getLines(ref, start, end, line => lines.push({ line }))
  return lines
}

async function readFasta(dataUrl, faiUrl, [ref, start, end], gziUrl) {
  if (!gziUrl) {
    throw new Error('fasta needs the .gzi URL as its fifth argument')
  }
  const fasta = new BgzipIndexedFasta({ fasta: remote(dataUrl), fai: remote(faiUrl), gzi: remote(gziUrl) })
  const seq = await fasta.getSequence(ref, start, end)
  return seq === undefined ? [] : [{ ref, start, end, seq }]
}

const readers = { bam: readBam, tabix: readTabix, fasta: readFasta }

async function main(argv) {
  const [kind, dataUrl, indexUrl, region, extra] = argv
  const reader = readers[kind]
  if (!reader || !dataUrl || !indexUrl || !region) {
    throw new Error('usage: read_remote.mjs bam|tabix|fasta DATA_URL INDEX_URL CHR:START-END [GZI_URL]')
  }
  for (const record of await reader(dataUrl, indexUrl, parseRegion(region), extra)) {
    process.stdout.write(`${JSON.stringify(record)}\n`)
  }
}

main(process.argv.slice(2)).catch(error => {
  process.stderr.write(`read_remote: ${error.message ?? error}\n`)
  process.exitCode = 1
})
