// Proves `baton repl` driven through its input stream (stdin piped, as a script would be): a
// queue is declared, messages sent with headers, `tail` prints them (id, headers, body) and
// stops by itself, `stats()` prints a table, `load({... seconds: 1})` prints per-second progress
// and a summary with throughput and a latency histogram, each line finished before the next
// starts (the awaits run in order), `.help` documents the helpers, and `.exit` closes the broker
// and exits 0; that a thrown error leaves the session running; that `--help` works and bad
// arguments are one line with exit code 2. Figures are not asserted: speed lives in bench/.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

function repl(script: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'repl', '--workers', '1', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(script);
  });
}

describe('cli - repl', () => {
  it('cli - repl tails a topic from its latest offset and sends through an exchange', async () => {
    const script = [
      "const t = await topic('clicks', { partitions: 1 })",
      "const x = await exchange('fan', { type: 'fanout' }); await x.bind('clicks'); 'bound'",
      "setTimeout(() => { void send('fan', { page: '/home' }) }, 300); 'scheduled'",
      "await tail('clicks', { count: 1 })",
      '.exit',
    ].join('\n');
    const { code, stdout, stderr } = await repl(script);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/tailing clicks, 1 messages/);
    expect(stdout).toMatch(/0\/0 \{ page: '\/home' \}/);
    expect(stdout).toContain('{ received: 1 }');
  });

  it('cli - repl runs a piped script in order: declare, send, tail, stats, load, .help, .exit', async () => {
    const script = [
      "await queue('orders')",
      "await send('orders', { n: 1 }, { headers: { region: 'eu' } })",
      "await send('orders', 'second')",
      "const before = await stats('orders'); before[0].ready",
      "await tail('orders', { count: 2 })",
      "await stats()",
      "await load({ to: 'work', seconds: 1, size: 64, rate: 2000 })",
      "load({ to: 'work', sizzle: 1 })",
      "'still here'",
      '.help',
      '.exit',
      "'never evaluated'",
    ].join('\n');
    const { code, stdout, stderr } = await repl(script);
    expect(code, stderr).toBe(0);
    expect(stdout).not.toContain('\x1b['); // no colours off a TTY
    expect(stdout).toContain("name: 'orders'");
    expect(stdout).toMatch(/baton> 2\n/); // two ready before the tail
    expect(stdout).toMatch(/tailing orders, 2 messages/);
    expect(stdout).toMatch(/[0-9a-f]{16}-[0-9a-z]+ \{ region: 'eu' \} \{ n: 1 \}/);
    expect(stdout).toMatch(/[0-9a-f]{16}-[0-9a-z]+ 'second'/);
    expect(stdout).toContain('{ received: 2 }');
    expect(stdout).toMatch(/queue\s+ready\s+unacked\s+delayed\s+consumers\s+readyBytes\s+durable\s+codec/);
    expect(stdout).toMatch(/orders\s+0\s+0\s+0\s+0\s+0\s+no\s+json/);
    // Progress: one line a second off a TTY, then the summary and its histogram.
    expect(stdout).toMatch(/ 1s {2}send +[\d.k]+\/s {2}recv +[\d.k]+\/s {2}backlog +\d+ {2}p50 /);
    expect(stdout).toMatch(/load summary: work, [\d.]+ s\n {2}sent +\d+ msgs/);
    expect(stdout).toMatch(/latency \(end-to-end, \d+ samples\): p50 .+ p99 .+ max/);
    expect(stdout).toMatch(/ \.\. .+ %  #+/);
    const sent = Number(/sent +(\d+) msgs/.exec(stdout)![1]);
    const received = Number(/received +(\d+) msgs/.exec(stdout)![1]);
    expect(sent).toBeGreaterThan(0);
    expect(received).toBe(sent);
    expect(stdout).toContain('unknown load option "sizzle"');
    expect(stdout).toContain("'still here'");
    expect(stdout).toMatch(/\.stats +Print stats\(\) as a table/);
    expect(stdout).toMatch(/load\(\{ to, rate\?, size\?, seconds\?/);
    expect(stdout).toMatch(/tail\(name/);
    expect(stdout).not.toContain('never evaluated');
  }, 90_000);

  it('cli - repl exits 0 at the end of piped input, closing a durable broker that a second session reads back', async () => {
    const { mkdtempSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-repl-'));
    const first = await repl("await send('kept', { v: 42 })\n", '--data-dir', dir);
    expect(first.code, first.stderr).toBe(0);
    const second = await repl("await tail('kept', { count: 1, seconds: 10 })\n", '--data-dir', dir);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/\{ v: 42 \}/);
    expect(second.stdout).toContain('{ received: 1 }');
  }, 90_000);

  it('cli - repl --help, and bad arguments are one line with exit code 2', () => {
    const help = spawnSync(process.execPath, [cli, 'repl', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: baton repl \[--data-dir DIR\] \[--workers N\]/);
    for (const [args, message] of [
      [['repl', '--workers', 'many'], /--workers must be an integer 1 \.\. 256, got "many"/],
      [['repl', 'script.js'], /repl takes no arguments/],
      [['repl', '--frobnicate'], /Unknown option '--frobnicate'/],
    ] as const) {
      const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
