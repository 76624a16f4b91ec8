import { parseArgs } from 'node:util';
import { suites } from '../../bench/index.js';
import { formatTable, machineInfo, type SuiteReport } from '../../bench/report.js';
import { InvalidArgumentError } from '../errors.js';

const help = `Usage: baton bench [SUITE...] [--json] [--quick] [--peers]

Suites: ${Object.entries(suites).map(([name, s]) => `\n  ${name.padEnd(8)} ${s.about}`).join('')}

Options:
  --json    print one JSON document per suite: { suite, results: [...], machine }
  --quick   fewer messages and one run per row (under a minute in all)
  --peers   also run the suites that need outside servers on 127.0.0.1
  -h, --help`;

export async function runBenchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      peers: { type: 'boolean', default: false },
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
  const selected = positionals.length > 0
    ? positionals
    : Object.keys(suites).filter((name) => values.peers || !suites[name]!.needsServer);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  for (const name of selected) {
    log(`bench ${name}${values.quick ? ' (quick)' : ''} ...`);
    const suite = await suites[name]!.load();
    const report: SuiteReport = { suite: name, results: await suite({ quick: values.quick, log }), machine: machineInfo() };
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${formatTable(report)}\n\n`);
  }
  return 0;
}
