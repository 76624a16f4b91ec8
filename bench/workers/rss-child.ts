/**
 * Child process entry of the memory rows (bench/rss-growth.ts): `node --expose-gc rss-child.js
 * <durable> <count> <settleMs>` measures RSS growth per queued message in a process of its own
 * and prints the figures as one JSON line.
 */
import { rssGrowth } from '../rss-growth.js';

const [durable, count, settleMs] = process.argv.slice(2);
const figures = await rssGrowth(durable === 'true', Number(count), Number(settleMs));
process.stdout.write(`${JSON.stringify(figures)}\n`);
