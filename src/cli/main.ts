#!/usr/bin/env node
/**
 * `baton` — the command line. Subcommands: `repl` (a REPL with a started broker), `bench`
 * (throughput and latency suites), `inspect` (logs on disk). User errors print one line and
 * exit 2: no stack traces.
 */
import { BatonError } from '../errors.js';
import { runBenchCommand } from './bench-command.js';
import { isUsageError, UsageError } from './usage-error.js';
import { runInspectCommand } from './inspect-command.js';
import { runReplCommand } from './repl-command.js';

const usage = `Usage: baton <command> [options]

Commands:
  repl [--data-dir DIR] [--workers N]   a REPL with a started broker, helpers, top-level await; scripts can be piped in
  bench [SUITE...] [--json] [--quick] [--peers] [--plot FILE]
                                        run benchmark suites (default: those needing no server)
  inspect --data-dir DIR [NAME] [--dump]
                                        list a data directory's logs and segments, verify CRCs (exit 3 on corruption)

Run \`baton <command> --help\` for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'repl':
      return runReplCommand(rest);
    case 'bench':
      return runBenchCommand(rest);
    case 'inspect':
      return runInspectCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${usage}\n`);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"\n\n${usage}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (isUsageError(error) || error instanceof BatonError) {
      process.stderr.write(`baton: ${error.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`baton: internal error\n${error instanceof Error ? error.stack : String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
