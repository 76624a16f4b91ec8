/**
 * `baton bench --plot FILE`: the msgs/s of every row as a horizontal bar chart in SVG, written by
 * hand (no dependency). One panel per suite; the axis is logarithmic, since rows run from
 * hundreds to tens of millions of messages a second; rows without a rate (latency, idle CPU) are
 * left out, skipped peers are listed as such. Peers' bars are grey, Baton's blue.
 */
import type { BenchResult, SuiteReport } from './report.js';

const ROW_PX = 18;
const LABEL_PX = 430;
const BAR_PX = 420;
const VALUE_PX = 90;
const WIDTH_PX = LABEL_PX + BAR_PX + VALUE_PX + 20;
const TITLE_PX = 28;
const AXIS_PX = 22;

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** True for rows measuring another system than Baton (the suites name them so). */
export function isPeerRow(row: BenchResult): boolean {
  return /\(peer\)|postMessage|ringbuf\.js|raw disk|NATS|JetStream|RabbitMQ|Redis|BullMQ|fastq|SQLite|piscina|fdatasync/i.test(row.name) && !row.name.startsWith('Baton');
}

function formatRate(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M/s`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k/s`;
  return `${value.toFixed(0)} /s`;
}

export function renderSvg(reports: readonly SuiteReport[]): string {
  const panels = reports.map((report) => ({ report, rows: report.results.filter((r) => r.skipped !== undefined || (r.msgsPerSec !== null && r.msgsPerSec > 0)) })).filter((p) => p.rows.length > 0);
  const rates = panels.flatMap((p) => p.rows.map((r) => r.msgsPerSec ?? 0)).filter((v) => v > 0);
  const lowDecade = Math.floor(Math.log10(Math.max(1, Math.min(...rates, 1e3))));
  const highDecade = Math.ceil(Math.log10(Math.max(...rates, 10)));
  const x = (rate: number) => LABEL_PX + (BAR_PX * (Math.log10(Math.max(rate, 10 ** lowDecade)) - lowDecade)) / Math.max(1, highDecade - lowDecade);
  const parts: string[] = [];
  let y = 10;
  for (const { report, rows } of panels) {
    parts.push(`<text x="10" y="${y + 18}" class="title">suite: ${escapeXml(report.suite)}</text>`);
    y += TITLE_PX;
    for (let d = lowDecade; d <= highDecade; d++) {
      parts.push(`<line x1="${x(10 ** d).toFixed(1)}" y1="${y}" x2="${x(10 ** d).toFixed(1)}" y2="${y + rows.length * ROW_PX}" class="grid"/>`);
    }
    for (const row of rows) {
      parts.push(`<text x="${LABEL_PX - 6}" y="${y + 13}" class="label">${escapeXml(row.name.length > 70 ? `${row.name.slice(0, 69)}…` : row.name)}</text>`);
      if (row.skipped !== undefined || row.msgsPerSec === null) {
        parts.push(`<text x="${LABEL_PX + 4}" y="${y + 13}" class="skipped">skipped: ${escapeXml(row.skipped ?? '')}</text>`);
      } else {
        const end = x(row.msgsPerSec);
        parts.push(`<rect x="${LABEL_PX}" y="${y + 3}" width="${Math.max(1, end - LABEL_PX).toFixed(1)}" height="${ROW_PX - 6}" class="${isPeerRow(row) ? 'peer' : 'baton'}"/>`);
        parts.push(`<text x="${(end + 4).toFixed(1)}" y="${y + 13}" class="value">${formatRate(row.msgsPerSec)}</text>`);
      }
      y += ROW_PX;
    }
    for (let d = lowDecade; d <= highDecade; d++) {
      parts.push(`<text x="${x(10 ** d).toFixed(1)}" y="${y + 14}" class="axis">1e${d}</text>`);
    }
    y += AXIS_PX + 10;
  }
  const date = reports[0]?.machine.date ?? '';
  const machine = reports[0] === undefined ? '' : `${reports[0].machine.cpuModel}, ${reports[0].machine.cpus} cores, Node ${reports[0].machine.node}, ${date}`;
  parts.push(`<text x="10" y="${y + 6}" class="axis" text-anchor="start">msgs/s, log scale; blue: Baton, grey: peers. ${escapeXml(machine)}</text>`);
  const height = y + 16;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH_PX}" height="${height}" viewBox="0 0 ${WIDTH_PX} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    '<style>.title{font-size:13px;font-weight:bold}.label{text-anchor:end}.value{fill:#333}.skipped{fill:#a33;font-style:italic}.axis{fill:#666;text-anchor:middle;font-size:10px}.grid{stroke:#ddd}.baton{fill:#2b6cb0}.peer{fill:#9aa5b1}</style>',
    `<rect width="${WIDTH_PX}" height="${height}" fill="white"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
