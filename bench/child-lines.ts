/** Calls `handle` with each whole line a child process writes (the crash soaks read their children's reports so). */
import type { Readable } from 'node:stream';

export function onLines(stream: Readable, handle: (line: string) => void): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      handle(line);
    }
  });
}
