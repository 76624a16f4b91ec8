/**
 * Baton's public entry: everything users program against is exported here, and nothing else is
 * reachable (package.json `exports`). The contract is docs/api.md. The broker (queues, topics,
 * exchanges) runs on the actor runtime exported below, which custom actors can use directly.
 */
export { Broker, type BrokerOptions, type QueueDeclareOptions } from './broker/broker.js';
export { Queue, type BatchItem, type SendOptions } from './broker/queue/queue.js';
export { Exchange } from './broker/exchange/exchange.js';
export type { BindOptions, ExchangeBinding, ExchangeType } from './broker/exchange/exchange-routing.js';
export { QueueConsumer, type BatchHandler, type ConsumeBatchOptions, type ConsumeOptions, type MessageHandler } from './broker/queue/queue-consumer.js';
export { QueueDelivery } from './broker/queue/queue-delivery.js';
export { QueueProcess, type ProcessOptions } from './broker/queue/queue-process.js';
export type { QueueStats } from './broker/queue/queue-protocol.js';
export { Topic, type TopicBatchItem, type TopicSendOptions, type TopicSendResult } from './broker/topic/topic.js';
export { TopicSubscription, type SubscribeOptions, type TopicBatchHandler, type TopicMessageHandler } from './broker/topic/topic-subscription.js';
export { TopicMessage } from './broker/topic/topic-message.js';
export { TopicProcess, type TopicProcessOptions } from './broker/topic/topic-process.js';
export type { TopicDeclareOptions } from './broker/topic/topic-registry.js';
export type { FromSpec, TopicAckMode } from './broker/topic/topic-protocol.js';
export type { CodecName } from './broker/codec.js';
export { ActorRuntime, type ActorRuntimeOptions, type ReplyRecord } from './actor/actor-runtime.js';
export type { ActorDeclaration, RuntimeEvent, RuntimeStats } from './actor/runtime-protocol.js';
export type { ActorBehavior, ActorContext, ActorFactory, ActorRecord } from './actor/actor-behavior.js';
export type {
  ActorLog,
  ActorLogOptions,
  ActorSnapshot,
  ActorStorage,
  AppendResult,
  LogKind,
  LogRecord,
  RecordInput,
} from './wal/actor-storage.js';
export type { RestartType, Strategy, SupervisorPolicyOptions } from './actor/supervision.js';
export {
  AlreadyAckedError,
  BatonError,
  type BatonErrorOptions,
  ClosedError,
  CodecError,
  CorruptLogError,
  DataDirLockedError,
  HandlerThreadLostError,
  InvalidArgumentError,
  InvalidNameError,
  MessageTooLargeError,
  NotFoundError,
  QueueFullError,
  QueueMismatchError,
  RingLayoutError,
  StorageFailedError,
  TimeoutError,
  TopicFullError,
  TopicMismatchError,
} from './errors.js';
