#!/usr/bin/env node
// Sample HTTP service for the demo and the tests. Plain Node, no dependencies.
//
//   HOST (127.0.0.1), PORT (8080)      where to listen
//   GET /        200 {"node","epoch","pid","startedAt"}
//   GET /health  200 "ok"
//   SAMPLE_RECORD_FILE                 append one JSON line per event, fsynced:
//                                      {"event":"start"|"stop"|"alive","node","group","epoch","pid","at"}
//                                      (a checker uses them to prove that no two actives overlapped)
//   SAMPLE_HEARTBEAT=1                 also append an "alive" line every 100 ms while running
//   SAMPLE_CRASH_AFTER_MS              exit(1) after that many ms
//   SAMPLE_START_DELAY_MS              wait that long before listening
//
// SIGTERM/SIGINT: stop accepting, record "stop", exit 0.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';

const env = process.env;
const host = env.HOST || '127.0.0.1';
const port = Number(env.PORT || 8080);
const node = env.HALO_NODE ?? null;
const group = env.HALO_GROUP ?? null;
const epoch = env.HALO_EPOCH === undefined ? null : Number(env.HALO_EPOCH);
const recordFile = env.SAMPLE_RECORD_FILE || null;
const startedAt = Date.now();

function record(event) {
  if (recordFile === null) return;
  const line = JSON.stringify({ event, node, group, epoch, pid: process.pid, at: Date.now() }) + '\n';
  const fd = openSync(recordFile, 'a');
  try {
    writeSync(fd, line);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function intEnv(name) {
  const v = env[name];
  if (v === undefined || v === '') return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`sample-service: ${name} must be a non-negative number, got ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return n;
}

const crashAfterMs = intEnv('SAMPLE_CRASH_AFTER_MS');
const startDelayMs = intEnv('SAMPLE_START_DELAY_MS') ?? 0;

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'GET' && path === '/') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ node, epoch, pid: process.pid, startedAt }));
  } else if (req.method === 'GET' && path === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  }
});

let heartbeat = null;
let stopping = false;
let started = false;

function stop(signal) {
  if (stopping) return;
  stopping = true;
  if (heartbeat !== null) clearInterval(heartbeat);
  process.stdout.write(`sample-service: ${signal}, stopping\n`);
  server.close();
  server.closeAllConnections();
  if (started) record('stop');
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

server.on('error', (e) => {
  process.stderr.write(`sample-service: ${e.message}\n`);
  process.exit(1);
});

setTimeout(() => {
  server.listen(port, host, () => {
    started = true;
    record('start');
    process.stdout.write(`sample-service: node=${node} epoch=${epoch} pid=${process.pid} listening on ${host}:${port}\n`);
    if (env.SAMPLE_HEARTBEAT === '1') heartbeat = setInterval(() => record('alive'), 100);
  });
}, startDelayMs);

if (crashAfterMs !== null) {
  setTimeout(() => {
    process.stderr.write(`sample-service: crashing after ${crashAfterMs} ms as configured\n`);
    process.exit(1);
  }, crashAfterMs);
}
