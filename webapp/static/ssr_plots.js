// The SSR result page's plots as ECharts options, one function per plot, each from its plot key's table
// ({names, columns: {name: values[]}, rows}). A function answers null when the table lacks what it draws.
const number = new Intl.NumberFormat("en-US");
const SIZES = ["mono", "di", "tri", "tetra", "penta", "hexa"];
// the columns an SSR table carries besides the category table's own (ssr.md, "Stage M2")
const SSR_COLUMNS = new Set(["genomeID", "start", "stop", "repeat", "motif", "GC_per", "AT_per", "length_of_motif",
  "loci", "length_of_ssr", "length_genome", "N_count", "genome_GC_per", "category", "year"]);

const AXIS_LABEL = { hideOverlap: true };
const tooltip = (trigger = "axis") => ({ trigger, confine: true, valueFormatter: (v) => number.format(v) });
const grid = { left: 56, right: 16, top: 36, bottom: 64, containLabel: false };

function countBy(keys) {
  const counts = new Map();
  for (const key of keys) counts.set(key, (counts.get(key) || 0) + 1);
  return counts;
}

function bar(categories, values, { xName, yName, rotate = 0, name = yName } = {}) {
  return {
    tooltip: tooltip(),
    grid,
    xAxis: { type: "category", data: categories, name: xName, nameLocation: "middle", nameGap: rotate ? 48 : 30,
      axisLabel: { ...AXIS_LABEL, rotate } },
    yAxis: { type: "value", name: yName, axisLabel: { formatter: (v) => number.format(v) } },
    series: [{ type: "bar", name, data: values }],
  };
}

/** The category table's free "dynamic" column (e.g. country), if the SSR table carries one. */
function dynamicColumn(names) {
  return names.find((name) => !SSR_COLUMNS.has(name)) || null;
}

function motif({ columns }) {
  if (!columns.motif) return null;
  const top = [...countBy(columns.motif)].sort((a, b) => b[1] - a[1]).slice(0, 20);
  return bar(top.map(([m]) => m), top.map(([, n]) => n), { xName: "motif", yName: "SSRs", rotate: 45 });
}

function repeat({ columns, rows }) {
  if (!columns.repeat || !columns.length_of_motif) return null;
  const repeats = [...new Set(columns.repeat)].sort((a, b) => a - b);
  const index = new Map(repeats.map((r, i) => [r, i]));
  const bySize = new Map();
  for (let i = 0; i < rows; i += 1) {
    const size = columns.length_of_motif[i];
    if (!bySize.has(size)) bySize.set(size, new Array(repeats.length).fill(0));
    bySize.get(size)[index.get(columns.repeat[i])] += 1;
  }
  const option = bar(repeats.map(String), [], { xName: "repeat units", yName: "SSRs" });
  option.legend = { top: 0, type: "scroll" }; // one line, however narrow the plot
  option.grid = { ...grid, top: 60 };
  option.series = [...bySize.keys()].sort((a, b) => a - b).map((size) => ({
    type: "bar", stack: "size", name: SIZES[size - 1] || `${size} bp`, data: bySize.get(size),
  }));
  return option;
}

function gc({ columns }) {
  if (!columns.GC_per) return null;
  const counts = [...countBy(columns.GC_per)].sort((a, b) => a[0] - b[0]);
  return bar(counts.map(([g]) => `${number.format(g)}%`), counts.map(([, n]) => n),
    { xName: "motif GC content", yName: "SSRs" });
}

/** For every distinct SSR (its loci, e.g. (AT)6), the set of values of `column` it occurs with. */
function setsOf(columns, rows, column) {
  const sets = new Map();
  for (let i = 0; i < rows; i += 1) {
    const key = columns.loci[i];
    if (!sets.has(key)) sets.set(key, new Set());
    sets.get(key).add(columns[column][i]);
  }
  return sets;
}

function conservation({ columns, rows }) {
  if (!columns.loci || !columns.genomeID) return null;
  const genomes = new Set(columns.genomeID).size;
  const spread = countBy([...setsOf(columns, rows, "genomeID").values()].map((set) => set.size));
  const counts = Array.from({ length: genomes }, (_, i) => spread.get(i + 1) || 0);
  const option = bar(counts.map((_, i) => String(i + 1)), counts,
    { xName: `genomes carrying the SSR (of ${number.format(genomes)})`, yName: "distinct SSRs" });
  option.series[0].data = counts.map((value, i) => ({
    value, itemStyle: { color: i + 1 === genomes ? "#146c2e" : i === 0 ? "#a4161a" : "#0a58ca" },
  }));
  return option;
}

function upset({ columns, rows }) {
  if (!columns.loci || !columns.category) return null;
  const combos = countBy([...setsOf(columns, rows, "category").values()]
    .map((set) => [...set].map(String).sort().join(" ∩ ")));
  const top = [...combos].sort((a, b) => b[1] - a[1]).slice(0, 12).reverse(); // the largest set on top
  // horizontal: category names are long, and a set of them longer
  return {
    tooltip: tooltip(),
    grid: { left: 8, right: 24, top: 8, bottom: 36, containLabel: true },
    xAxis: { type: "value", name: "distinct SSRs", nameLocation: "middle", nameGap: 26,
      axisLabel: { formatter: (v) => number.format(v), hideOverlap: true } },
    yAxis: { type: "category", data: top.map(([c]) => c),
      axisLabel: { width: 150, overflow: "truncate", fontSize: 11 } },
    series: [{ type: "bar", name: "distinct SSRs", data: top.map(([, n]) => n) }],
  };
}

function sankey({ names, columns, rows }) {
  if (!columns.category) return null;
  const target = dynamicColumn(names);
  const right = target ? columns[target] : columns.length_of_motif.map((size) => SIZES[size - 1] || `${size} bp`);
  const links = countBy(Array.from({ length: rows }, (_, i) => `${columns.category[i]}\u0000${right[i]}`));
  const nodes = new Map();
  const data = [];
  for (const [pair, value] of links) {
    const [from, to] = pair.split("\u0000");
    const source = `category ${from}`;
    const sink = `${target || "motif size"} ${to}`;
    for (const [name, label] of [[source, from], [sink, to]]) {
      if (!nodes.has(name)) nodes.set(name, { name, label: { formatter: label } });
    }
    data.push({ source, target: sink, value });
  }
  return {
    tooltip: { trigger: "item", confine: true, valueFormatter: (v) => `${number.format(v)} SSRs` },
    series: [{ type: "sankey", left: 8, right: 120, top: 8, bottom: 8, nodeGap: 6, emphasis: { focus: "adjacency" },
      data: [...nodes.values()], links: data, lineStyle: { color: "gradient", opacity: 0.35 },
      label: { fontSize: 11 } }],
  };
}

function genes({ columns }) {
  if (!columns.ssr_position) return null;
  const counts = [...countBy(columns.ssr_position)].sort((a, b) => b[1] - a[1]);
  return bar(counts.map(([p]) => p), counts.map(([, n]) => n), { xName: "where the SSR sits", yName: "SSR–gene rows" });
}

function hotspot({ columns, rows }) {
  if (!columns.gene || !columns.motif || !columns.repeat_count) return null;
  const labels = Array.from({ length: rows }, (_, i) => `${columns.gene[i]} ${columns.motif[i]}`);
  const option = bar(labels, [], { xName: "gene and motif", yName: "distinct repeat counts", rotate: 30 });
  option.tooltip = { trigger: "item", confine: true,
    formatter: ({ name, value, data }) => `${name}<br>${number.format(value)} distinct repeat counts<br>` +
      `${number.format(data.genomes)} genomes` };
  option.series[0].data = Array.from({ length: rows }, (_, i) => ({
    value: columns.repeat_count[i], genomes: columns.genomeID_count ? columns.genomeID_count[i] : null,
  }));
  return option;
}

function hssr({ columns, rows }) {
  if (!columns.gene || !columns.motif) return null;
  const pairs = countBy(Array.from({ length: rows }, (_, i) => `${columns.gene[i]}\u0000${columns.motif[i]}`));
  const genesSeen = [...new Set(columns.gene)].sort();
  const motifs = [...new Set(columns.motif)].sort();
  const most = Math.max(...pairs.values());
  return {
    tooltip: { trigger: "item", confine: true,
      formatter: ({ value }) => `${value[0]} ${value[1]}: ${number.format(value[2])} rows` },
    grid: { ...grid, left: 80 },
    xAxis: { type: "category", data: genesSeen, name: "gene", nameLocation: "middle", nameGap: 48,
      axisLabel: { ...AXIS_LABEL, rotate: 30 } },
    yAxis: { type: "category", data: motifs, name: "motif" },
    series: [{ type: "scatter", data: [...pairs].map(([pair, n]) => [...pair.split("\u0000"), n]),
      symbolSize: (value) => 8 + 24 * Math.sqrt(value[2] / most) }],
  };
}

export const PLOTTERS = { motif, repeat, gc, conservation, upset, sankey, genes, hotspot, hssr };
