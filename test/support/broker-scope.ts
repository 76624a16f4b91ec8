// Per-test brokers and temporary directories, closed and removed after each test whatever it
// did: `const scope = brokerScope()` at the top of a file, then `await scope.start(options)` and
// `await scope.tempDir(label)` inside tests.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { Broker } from 'baton';

export interface BrokerScope {
  start(options?: Parameters<typeof Broker.start>[0]): Promise<Broker>;
  tempDir(label: string): Promise<string>;
}

export function brokerScope(): BrokerScope {
  const brokers: Broker[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const broker of brokers.splice(0)) await broker.close();
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  return {
    async start(options) {
      const broker = await Broker.start(options);
      brokers.push(broker);
      return broker;
    },
    async tempDir(label) {
      const dir = await mkdtemp(path.join(os.tmpdir(), `baton-${label}-`));
      dirs.push(dir);
      return dir;
    },
  };
}
