/**
 * The storage thread's service: it owns the broker's `ActorStorage` (the WAL of the data
 * directory, or memory storage) and serves every actor host. Living on its own thread, the
 * storage outlives the hosts: an actor whose host died replays its log on the replacement,
 * whether the storage is durable or memory-only. And one thread writing means one group
 * commit for all actors, as the WAL wants (Ra's single WAL writer).
 */
import { expose } from 'comlink';
import { ClosedError, NotFoundError, serializeError } from '../errors.js';
import { attachWriter, RingConsumer, RingReader, type RingRecord, type RingWriter } from '../ring/index.js';
import { portEndpoint } from '../threads/comlink-port.js';
import type { ActorLog, ActorLogOptions, ActorSnapshot, ActorStorage, LogRecord } from './actor-storage.js';
import { EVENT_LOOP_READER } from './event-loop-reader.js';
import { decodeRecordInputs } from './record-wire.js';
import {
  type LogHandleInfo,
  STORAGE_ACKNOWLEDGE,
  STORAGE_APPEND,
  STORAGE_CONFIRMED,
  STORAGE_FAILED,
  type StorageConnection,
  type StorageHostApi,
  type StorageServiceApi,
} from './storage-protocol.js';

interface HostLink {
  consumer: RingConsumer;
  responses: RingWriter;
}

export class StorageService implements StorageServiceApi {
  readonly #storage: ActorStorage;
  readonly #logs: ActorLog[] = [];
  readonly #handles = new Map<string, number>();
  readonly #links = new Map<number, HostLink>();
  #closed = false;

  constructor(storage: ActorStorage) {
    this.#storage = storage;
  }

  get durable(): boolean {
    return this.#storage.durable;
  }

  attachHost(index: number, connection: StorageConnection): void {
    if (this.#closed) throw new ClosedError('the storage service is closed');
    const previous = this.#links.get(index);
    // The same rings as the dead host's: keep consuming requests where it left off; answers go
    // out through a fresh writer (the old one's slot is ours, released here).
    const responses = previous?.responses ?? attachWriter(connection.responses);
    const consumer = previous?.consumer ?? new RingConsumer(new RingReader(connection.requests, EVENT_LOOP_READER), (record) => this.#onRequest(record, responses));
    this.#links.set(index, { consumer, responses });
    expose(this.#hostApi(), portEndpoint(connection.port));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of this.#links.values()) {
      link.consumer.stop();
      await link.consumer.done;
    }
    await this.#storage.close();
  }

  #log(handle: number): ActorLog {
    const log = this.#logs[handle];
    if (log === undefined) throw new NotFoundError(`no log with handle ${handle}`);
    return log;
  }

  #info(handle: number): LogHandleInfo {
    const log = this.#log(handle);
    return { handle, kind: log.kind, startOffset: log.startOffset, nextOffset: log.nextOffset };
  }

  #hostApi(): StorageHostApi {
    return {
      openLog: async (name: string, options?: ActorLogOptions) => {
        let handle = this.#handles.get(name);
        if (handle === undefined) {
          const log = await this.#storage.openLog(name, options);
          handle = this.#handles.get(name) ?? this.#logs.push(log) - 1;
          this.#handles.set(name, handle);
        }
        return this.#info(handle);
      },
      info: (handle: number) => this.#info(handle),
      replayChunk: async (handle: number, fromOffset: number | undefined, recordsMax: number) => {
        const records: LogRecord[] = [];
        let next: number | null = null;
        for await (const record of this.#log(handle).replay(fromOffset === undefined ? {} : { fromOffset })) {
          if (records.length === recordsMax) {
            next = record.offset;
            break;
          }
          // Copies: a view would take its whole backing buffer through postMessage.
          records.push({
            ...record,
            key: record.key === null ? null : record.key.slice(),
            value: record.value === null ? null : record.value.slice(),
            headers: record.headers.map(([name, value]) => [name, value.slice()] as [string, Uint8Array]),
          });
        }
        return { records, next };
      },
      offsetForTimestamp: (handle: number, timestampMs: number) => this.#log(handle).offsetForTimestamp(timestampMs),
      writeSnapshot: (handle: number, snapshot: ActorSnapshot) => this.#log(handle).writeSnapshot(snapshot),
      readSnapshot: (handle: number) => this.#log(handle).readSnapshot(),
    };
  }

  /** One request from a host ring. Its bytes are copied before this returns: the ring reuses them. */
  #onRequest(record: RingRecord, responses: RingWriter): void {
    const bytes = record.copyPayload();
    const generation = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
    const body = bytes.subarray(4);
    const requestId = record.meta;
    let done: Promise<{ baseOffset: number; lastOffset: number }>;
    try {
      const log = this.#log(record.destination);
      if (record.type === STORAGE_APPEND) {
        done = log.append(decodeRecordInputs(body));
      } else if (record.type === STORAGE_ACKNOWLEDGE) {
        const offsets = Array.from(new Float64Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)));
        done = log.acknowledge(offsets).then(() => ({ baseOffset: -1, lastOffset: -1 }));
      } else {
        throw new Error(`unknown storage request type ${record.type}`);
      }
    } catch (error) {
      done = Promise.reject(error);
    }
    done.then(
      ({ baseOffset, lastOffset }) => {
        const answer = new Float64Array([baseOffset, lastOffset]);
        return responses.write(STORAGE_CONFIRMED, generation, new Uint8Array(answer.buffer), requestId);
      },
      (error: unknown) => responses.write(STORAGE_FAILED, generation, new TextEncoder().encode(JSON.stringify(serializeError(error))), requestId),
    ).catch(() => {
      // The responses ring closed: the service is shutting down.
    });
  }
}
