export { MemoryCoordinator } from './store.js';
export type { MemoryCoordinatorOptions } from './store.js';
export { KvStore, DEFAULT_HISTORY_LIMIT } from './kv-store.js';
export type { KvStoreOptions, HistoryListener } from './kv-store.js';
export { StoreRecordSchema, StoreSnapshotSchema, KeyValueSchema, WatchEventSchema } from './records.js';
export type { StoreRecord, StoreSnapshot, HistoryEntry, Change } from './records.js';
