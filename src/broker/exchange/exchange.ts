/**
 * `Exchange`: routes a publish to the queues and topics bound to it (direct, topic, fanout,
 * headers; AMQP semantics, see exchange-routing.ts). The bindings are owned and logged by the
 * exchange actor (`exchange:<name>`); this class keeps a mirror of them on the broker thread, so
 * a publish is routed here and sent straight to each destination: no extra hop.
 */
import { InvalidArgumentError, NotFoundError, type SerializedError, deserializeError } from '../../errors.js';
import type { ActorRuntime } from '../../actor/actor-runtime.js';
import { ExchangeRecord } from './exchange-actor.js';
import { type BindOptions, type ExchangeBinding, ExchangeRouter, type ExchangeType } from './exchange-routing.js';
import { QueueRecord } from '../queue/queue-protocol.js';
import type { SendOptions } from '../queue/queue.js';

/** What an exchange needs from its broker. */
export interface ExchangeHost {
  readonly runtime: ActorRuntime;
  assertOpen(): void;
  /** True if a queue or topic of that name is declared. */
  hasDestination(name: string): boolean;
  /** Sends to the named destination; false if it is not declared (any more). */
  deliver(name: string, routingKey: string, body: unknown, options: SendOptions): Promise<boolean>;
  unroutable(exchange: string, routingKey: string): void;
}

export class Exchange {
  readonly name: string;
  readonly type: ExchangeType;
  readonly actorId: string;
  readonly #host: ExchangeHost;
  readonly #router: ExchangeRouter;

  constructor(name: string, type: ExchangeType, host: ExchangeHost, bindings: readonly ExchangeBinding[]) {
    this.name = name;
    this.type = type;
    this.actorId = `exchange:${name}`;
    this.#host = host;
    this.#router = new ExchangeRouter(type);
    for (const { destination, ...options } of bindings) this.#router.bind(destination, options);
  }

  /** Binds a declared queue or topic; binding twice is a no-op. The binding is logged: it survives restarts on a dataDir. */
  async bind(destination: string, options: BindOptions = {}): Promise<void> {
    this.#host.assertOpen();
    if (typeof destination !== 'string' || !this.#host.hasDestination(destination)) {
      throw new NotFoundError(`cannot bind exchange "${this.name}" to "${String(destination)}": declare that queue or topic first`);
    }
    await this.#change(ExchangeRecord.BIND, destination, options);
    this.#router.bind(destination, options);
  }

  async unbind(destination: string, options: BindOptions = {}): Promise<void> {
    this.#host.assertOpen();
    await this.#change(ExchangeRecord.UNBIND, destination, options);
    this.#router.unbind(destination, options);
  }

  /** The bindings, as the exchange actor has them. */
  bindings(): ExchangeBinding[] {
    return this.#router.bindings();
  }

  /**
   * Publishes to every bound destination whose binding matches; resolves with how many it was
   * routed to (0: unroutable, also reported as the broker's 'unroutable' event) once each of
   * them confirmed. Not atomic across destinations: if one send fails, the promise rejects and
   * the others may have been confirmed.
   */
  async publish(routingKey: string, body: unknown, options: SendOptions = {}): Promise<number> {
    this.#host.assertOpen();
    if (typeof routingKey !== 'string') throw new InvalidArgumentError(`a routing key must be a string, got ${typeof routingKey}`);
    const destinations = this.#router.route(routingKey, options.headers ?? {});
    const sent = await Promise.all(destinations.map((destination) => this.#host.deliver(destination, routingKey, body, options)));
    const routed = sent.filter(Boolean).length;
    if (routed === 0) this.#host.unroutable(this.name, routingKey);
    return routed;
  }

  async #change(type: number, destination: string, options: BindOptions): Promise<void> {
    const payload = new TextEncoder().encode(JSON.stringify({ destination, options }));
    const reply = await this.#host.runtime.request(this.actorId, type, payload, { replyType: QueueRecord.RESULT, timeoutMs: 60_000 });
    const result = JSON.parse(new TextDecoder().decode(reply.payload)) as { ok: true } | { ok: false; error: SerializedError };
    if (!result.ok) throw deserializeError(result.error);
  }
}

/** Reads an exchange actor's bindings (after it replayed its log). */
export async function fetchBindings(runtime: ActorRuntime, actorId: string): Promise<ExchangeBinding[]> {
  const reply = await runtime.request(actorId, ExchangeRecord.BINDINGS, new Uint8Array(0), { replyType: QueueRecord.RESULT, timeoutMs: 60_000 });
  const result = JSON.parse(new TextDecoder().decode(reply.payload)) as { ok: true; value: ExchangeBinding[] } | { ok: false; error: SerializedError };
  if (!result.ok) throw deserializeError(result.error);
  return result.value;
}
