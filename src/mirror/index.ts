export { MirrorClient } from './client.js';
export { BLOCK_SIZE, encodeFrame, FrameDecoder, MAX_FRAME_BYTES, OpSchema, RequestSchema, ResponseSchema } from './protocol.js';
export { MirrorReceiver } from './receiver.js';
export { fsyncPath, Replica } from './replica.js';
export { MirrorSource } from './source.js';
export type { Entry, Op, Request, Response } from './protocol.js';
export type { ReceiverEvent, ReceiverOptions, ReceiverStatus } from './receiver.js';
export type { ApplyResult, EpochFile, ReplicaOptions } from './replica.js';
export type { LinkStatus, MirrorSourceOptions, ResyncProgress, SourceEvent, StandbyTarget } from './source.js';
