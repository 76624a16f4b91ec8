/**
 * The group actor (`group:<topic>/<group>`): the durable half of a consumer group. It keeps the
 * group's committed offsets (per partition, the next offset to read) in its log, a 'state' log:
 * every GROUP_COMMIT is one appended record (JSON of the offsets it moves), answered once the
 * append is confirmed; every SNAPSHOT_EVERY commits the merged offsets are written as a snapshot,
 * so a restart replays at most that many records. Membership and assignment are not here: members
 * live on the broker thread, and so does the coordinator (group-coordinator.ts).
 */
import assert from 'node:assert';
import type { ActorBehavior, ActorContext, ActorRecord } from '../../actor/actor-behavior.js';
import { serializeError } from '../../errors.js';
import { type GroupActorOptions, TopicRecord } from './topic-protocol.js';

/** Commits between snapshots of the merged offsets. */
const SNAPSHOT_EVERY = 1000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function createActor(options: unknown): ActorBehavior {
  return new GroupActor(options as GroupActorOptions);
}

class GroupActor implements ActorBehavior {
  readonly #options: GroupActorOptions;
  #offsets: Record<string, number> = {};
  #sinceSnapshot = 0;

  constructor(options: GroupActorOptions) {
    this.#options = options;
  }

  async start(context: ActorContext): Promise<void> {
    const snapshot = await context.log.readSnapshot();
    if (snapshot !== null) this.#offsets = JSON.parse(decoder.decode(snapshot.state)) as Record<string, number>;
    for await (const record of context.log.replay(snapshot === null ? {} : { fromOffset: snapshot.offset })) {
      if (record.value !== null) Object.assign(this.#offsets, JSON.parse(decoder.decode(record.value)) as Record<string, number>);
    }
  }

  async receive(record: ActorRecord, context: ActorContext): Promise<void> {
    try {
      switch (record.type) {
        case TopicRecord.GROUP_LOAD:
          this.#reply(context, record.meta, { ok: true, value: { offsets: this.#offsets } });
          return;
        case TopicRecord.GROUP_COMMIT: {
          const { offsets } = JSON.parse(decoder.decode(record.payload)) as { offsets: Record<string, number> };
          const { lastOffset } = await context.log.append([{ value: encoder.encode(JSON.stringify(offsets)) }]);
          Object.assign(this.#offsets, offsets);
          if (++this.#sinceSnapshot >= SNAPSHOT_EVERY) {
            this.#sinceSnapshot = 0;
            await context.log.writeSnapshot({ offset: lastOffset + 1, state: encoder.encode(JSON.stringify(this.#offsets)) });
          }
          this.#reply(context, record.meta, { ok: true, value: {} });
          return;
        }
        default:
          assert.fail(`group ${this.#options.topic}/${this.#options.group}: unknown record type ${record.type}`);
      }
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      this.#reply(context, record.meta, { ok: false, error: serializeError(error) });
    }
  }

  #reply(context: ActorContext, meta: number, result: unknown): void {
    if (meta !== 0) context.reply(TopicRecord.RESULT, encoder.encode(JSON.stringify(result)), meta);
  }
}
