/**
 * `baton repl [--data-dir DIR] [--workers N]`: node:repl with a started broker in scope as
 * `broker`, the helpers of repl-helpers.ts, top-level await (node:repl's default evaluator
 * supports it), completion of destination names inside the helpers' string arguments, and a
 * history file on a TTY.
 *
 * Input is fed to the REPL one line at a time, the next line only once the REPL shows its prompt
 * again: so a piped script (stdin not a TTY) or a `.load`ed file runs its lines in order, each
 * `await` finished before the next line starts. At the end of piped input the broker is closed
 * and the command exits.
 *
 * Ctrl-C: stops a running `tail` or `load`; otherwise node:repl's own handling (clear the line,
 * or exit on the second). Exit (`.exit`, Ctrl-D, end of input) closes the broker cleanly.
 */
import { createReadStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import repl, { type REPLServer } from 'node:repl';
import { inspect, parseArgs } from 'node:util';
import { Broker } from '../broker/broker.js';
import { InvalidArgumentError } from '../errors.js';
import { colorsFor } from './colors.js';
import { HELPER_DOCS, ReplHelpers } from './repl-helpers.js';

const help = `Usage: baton repl [--data-dir DIR] [--workers N]

A Node REPL with a started broker in scope as \`broker\`, top-level await, tab completion of
destination names and helpers (type .help inside):

${HELPER_DOCS.map(([signature, about]) => `  ${signature}\n      ${about}`).join('\n')}

Scripts: pipe them in (baton repl < script.js: lines run in order, each await finished before
the next; the broker is closed at the end) or .load FILE inside.

Options:
  --data-dir DIR   durable storage (default: memory only)
  --workers N      actor-host threads (default: available parallelism)
  -h, --help

History: $BATON_REPL_HISTORY, else ~/.baton_repl_history (empty BATON_REPL_HISTORY: none).`;

export async function runReplCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new InvalidArgumentError(`repl takes no arguments, got "${positionals[0]}" (scripts: baton repl < script.js)`);
  let workers: number | undefined;
  if (values.workers !== undefined) {
    workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new InvalidArgumentError(`--workers must be an integer 1 .. 256, got "${values.workers}"`);
  }
  const dataDir = values['data-dir'];
  if (dataDir === '') throw new InvalidArgumentError('--data-dir must not be empty');

  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const colors = colorsFor(process.stdout);
  const broker = await Broker.start({ ...(dataDir === undefined ? {} : { dataDir }), ...(workers === undefined ? {} : { workers }) });
  broker.on('restart', (event: { actor?: string; reason?: string }) => process.stdout.write(colors.yellow(`[restart] ${event.actor ?? ''} ${event.reason ?? ''}\n`)));
  const helpers = new ReplHelpers(broker, { write: (text) => process.stdout.write(text), inPlace: interactive, colors });

  // Piped input goes through a gate (see the top of the file); a TTY talks to the REPL directly.
  const gate = new LineGate();
  if (interactive) process.stdout.write(colors.dim(`broker started${dataDir === undefined ? ' (memory only)' : ` on ${dataDir}`}; .help lists the helpers, .exit or Ctrl-D leaves\n`));
  const input = interactive ? process.stdin : new PassThrough();
  const server = repl.start({
    prompt: interactive ? colors.cyan('baton> ') : 'baton> ',
    input,
    output: process.stdout,
    terminal: interactive,
    useColors: colors.enabled,
    ignoreUndefined: true,
    preview: interactive,
    // While a top-level await runs, node:repl buffers keys; with this, Ctrl-C still gets through
    // (to stop a tail or load, or to interrupt the await).
    breakEvalOnSigint: true,
    // The main realm: a `new Uint8Array()` typed here is the broker's Uint8Array (codecs check
    // `instanceof`), and errors are the broker's error classes.
    useGlobal: true,
  });
  Object.assign(server.context, helpers.context(), { broker });
  gate.attach(server);

  installCompleter(server, helpers);
  installSigint(server, helpers, interactive);
  defineCommands(server, helpers, gate);
  if (interactive) await setupHistory(server, colors.dim);

  if (!interactive) {
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
    lines.on('line', (line) => gate.push([line]));
    lines.on('close', () => gate.end());
    // A signal with stdin piped: the first stops a running workload, the second exits.
    process.on('SIGINT', () => {
      if (helpers.running) helpers.stopRunning();
      else server.close();
    });
  }

  await new Promise<void>((resolve) => server.once('exit', () => resolve()));
  helpers.stopRunning();
  await broker.close();
  if (!interactive) process.stdin.destroy();
  return 0;
}

/**
 * Holds lines for the REPL and writes the next one each time it shows a prompt (ready for
 * input). Evaluation results, errors, multi-line continuations and commands all end in a prompt,
 * so a line never starts before the one before it has finished.
 */
class LineGate {
  readonly #pending: string[] = [];
  #server: REPLServer | null = null;
  #ready = false;
  #ended = false;

  attach(server: REPLServer): void {
    this.#server = server;
    const displayPrompt = server.displayPrompt.bind(server);
    server.displayPrompt = (preserveCursor?: boolean) => {
      displayPrompt(preserveCursor);
      this.#ready = true;
      // Not from inside displayPrompt: the REPL is still finishing the line that ended here.
      setImmediate(() => this.#feed());
    };
    this.#ready = true;
  }

  /** Lines to run before any more input (`.load` puts a file's lines first). */
  unshift(lines: string[]): void {
    this.#pending.unshift(...lines);
  }

  push(lines: string[]): void {
    this.#pending.push(...lines);
    this.#feed();
  }

  /** No more piped input: close the REPL once the pending lines have run. */
  end(): void {
    this.#ended = true;
    this.#feed();
  }

  #feed(): void {
    const server = this.#server;
    if (server === null || !this.#ready) return;
    const line = this.#pending.shift();
    if (line === undefined) {
      if (this.#ended) server.close();
      return;
    }
    this.#ready = false;
    server.write(`${line}\n`);
  }
}

const NAME_ARGUMENT = /(?:\b(?:queue|topic|exchange|send|tail|stats|purge)\s*\(\s*|\bto\s*:\s*)(['"`])([^'"`]*)$/;

/** Destination names inside a helper's string argument; everything else: node:repl's completer. */
function installCompleter(server: REPLServer, helpers: ReplHelpers): void {
  const fallback = server.completer as (line: string, callback: (error: Error | null, result?: [string[], string]) => void) => void;
  const completer = (line: string, callback: (error: Error | null, result?: [string[], string]) => void) => {
    const match = NAME_ARGUMENT.exec(line);
    if (match === null) {
      fallback.call(server, line, callback);
      return;
    }
    const prefix = match[2]!;
    helpers.names().then(
      (names) => callback(null, [names.filter((name) => name.startsWith(prefix)), prefix]),
      () => callback(null, [[], prefix]),
    );
  };
  (server as unknown as { completer: typeof completer }).completer = completer;
}

/** Ctrl-C stops a running tail/load first; with nothing running, node:repl's handling applies. */
function installSigint(server: REPLServer, helpers: ReplHelpers, interactive: boolean): void {
  const original = server.listeners('SIGINT') as ((...args: unknown[]) => void)[];
  server.removeAllListeners('SIGINT');
  server.on('SIGINT', () => {
    if (helpers.running) {
      helpers.stopRunning();
      if (interactive) process.stdout.write('\n');
      return;
    }
    for (const listener of original) listener.call(server);
  });
}

function defineCommands(server: REPLServer, helpers: ReplHelpers, gate: LineGate): void {
  const builtinHelp = Object.entries(server.commands).map(([name, command]) => [name, command?.help ?? ''] as const);
  server.defineCommand('help', {
    help: 'Print this help: commands and the helpers in scope',
    action() {
      const c = colorsFor(process.stdout);
      const commands = [...builtinHelp.filter(([name]) => name !== 'help'), ['help', 'Print this help: commands and the helpers in scope'] as const, ['stats', 'Print stats() as a table'] as const].sort(([a], [b]) => a.localeCompare(b));
      const lines = [c.bold('Commands'), ...commands.map(([name, about]) => `  .${name.padEnd(10)} ${about}`), '', c.bold('In scope (top-level await works: await send("q", { hi: 1 }))')];
      for (const [signature, about] of HELPER_DOCS) {
        if (signature.startsWith('topic(') && !helpers.hasTopics) continue;
        if (signature.startsWith('exchange(') && !helpers.hasExchanges) continue;
        lines.push(`  ${c.cyan(signature)}`, `      ${about}`);
      }
      lines.push('', 'Ctrl-C stops a running tail or load; pressed twice on an empty line, it exits (closing the broker).');
      this.output.write(`${lines.join('\n')}\n`);
      this.displayPrompt();
    },
  });
  server.defineCommand('stats', {
    help: 'Print stats() as a table',
    action(name: string) {
      helpers.stats(name.trim() === '' ? undefined : name.trim()).then(
        (table) => this.output.write(`${inspect(table)}\n`),
        (error: unknown) => this.output.write(`${error instanceof Error ? error.message : String(error)}\n`),
      ).finally(() => this.displayPrompt());
    },
  });
  server.defineCommand('load', {
    help: 'Run a JavaScript file here, line by line, each line finished before the next',
    action(file: string) {
      const name = file.trim();
      const lines: string[] = [];
      const stream = createReadStream(name);
      const reader = createInterface({ input: stream, crlfDelay: Infinity });
      reader.on('line', (line) => lines.push(line));
      reader.on('close', () => {
        gate.unshift(lines);
        this.displayPrompt();
      });
      stream.on('error', (error: NodeJS.ErrnoException) => {
        this.output.write(`Failed to load: ${name} (${error.code ?? error.message})\n`);
        reader.close();
      });
    },
  });
}

/** $BATON_REPL_HISTORY or ~/.baton_repl_history; a history that cannot be written is a warning, not a failure. */
async function setupHistory(server: REPLServer, dim: (text: string) => string): Promise<void> {
  const configured = process.env['BATON_REPL_HISTORY'];
  if (configured !== undefined && configured.trim() === '') return;
  const file = configured ?? path.join(os.homedir(), '.baton_repl_history');
  await new Promise<void>((resolve) => {
    server.setupHistory(file, (error) => {
      if (error !== null) process.stdout.write(dim(`(no history: ${file}: ${error.message})\n`));
      resolve();
    });
  });
}
