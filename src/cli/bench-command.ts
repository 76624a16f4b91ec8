import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { suites } from '../../bench/index.js';
import { renderSvg } from '../../bench/plot.js';
import { formatComparisonTable, formatTable, machineInfo, type SuiteReport } from '../../bench/report.js';
import { InvalidArgumentError } from '../errors.js';

const help = `Usage: baton bench [SUITE...] [--json] [--quick] [--peers] [--plot FILE]

Suites: ${Object.entries(suites).map(([name, s]) => `\n  ${name.padEnd(8)} ${s.about}`).join('')}

Options:
  --json    print one JSON document per suite: { suite, results: [...], machine }
  --quick   fewer messages and one run per row (under a minute in all)
  --peers   also run the suites that need outside servers on 127.0.0.1 (peers not reachable
            are listed as skipped)
  --plot FILE  write an SVG bar chart of msgs/s per row (log scale, Baton beside its peers)
  -h, --help

Progress goes to stderr; the tables (or JSON) to stdout, then a table of each peer beside Baton
with the ratio.`;

export async function runBenchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      peers: { type: 'boolean', default: false },
      plot: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  for (const name of positionals) {
    if (!(name in suites)) {
      throw new InvalidArgumentError(`unknown bench suite "${name}"; known suites: ${Object.keys(suites).join(', ')}`);
    }
  }
  const plot = values.plot;
  if (plot !== undefined) {
    const dir = path.dirname(path.resolve(plot));
    if (plot === '' || !existsSync(dir) || !statSync(dir).isDirectory()) throw new InvalidArgumentError(`--plot: no directory for "${plot}"`);
    if (!plot.toLowerCase().endsWith('.svg')) throw new InvalidArgumentError(`--plot writes SVG: name the file *.svg, got "${plot}"`);
  }
  const selected = positionals.length > 0
    ? positionals
    : Object.keys(suites).filter((name) => values.peers || !suites[name]!.needsServer);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const reports: SuiteReport[] = [];
  for (const name of selected) {
    log(`bench ${name}${values.quick ? ' (quick)' : ''} ...`);
    const suite = await suites[name]!.load();
    const report: SuiteReport = { suite: name, results: await suite({ quick: values.quick, log }), machine: machineInfo() };
    reports.push(report);
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${formatTable(report)}\n\n`);
  }
  const comparison = formatComparisonTable(reports);
  if (!values.json && comparison !== '') process.stdout.write(`${comparison}\n`);
  if (plot !== undefined) {
    writeFileSync(plot, renderSvg(reports));
    log(`plot written to ${plot}`);
  }
  return 0;
}
