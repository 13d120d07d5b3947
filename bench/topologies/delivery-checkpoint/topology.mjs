// Benchmark-only effectively-once topology for bench/delivery.mjs: what a checkpoint of a large keyed
// state costs the bolt that holds it. `keys` -> fields(key) -> `store` (x `store.parallelism`, default 1),
// in 2 containers, so the tuples cross the stream managers' mesh as in a real deployment.
//
// `keys` first emits keys 0..`keys.keys`-1 (round 0, unthrottled) with a `keys.valueBytes`-character
// value each, so `store` puts every key once: with the defaults, 1M entries of 100-byte values, about
// 115 MB encoded. Then it goes round again and again at `keys.rate` tuples/s, each tuple replacing one
// key's value, so the state keeps its size while checkpoints are taken. Every tuple carries its emit
// time (performance.timeOrigin + performance.now(), comparable across processes and threads).
//
// `store` puts each value into its keyed state and watches its own executes once round 0 is done. It
// appends to <topology.benchDir>/store-<task>.jsonl:
//   {e:'filled', at, size}       the first tuple of round 1 (the state is full)
//   {e:'checkpoint', id, pre, post, size, maxGapMs, maxGapEnd, maxLatencyMs, maxPutMs, putMs, executed}
//                                for every checkpoint, from preSave (its markers aligned here, the
//                                snapshot begins) to postSave (committed): the longest gap between two
//                                consecutive executes that ended in that span and when it ended, the
//                                longest emit -> execute time of a tuple executed in it, and the
//                                longest and the total time its state.put calls took (a put to a key
//                                group the snapshot has not encoded yet encodes that group first)
//   {e:'second', at, maxGapMs, maxGapEnd, maxLatencyMs, maxPutMs, putMs, executed}
//                                the same for every whole second in which no checkpoint was under way
//                                here: the baseline a checkpoint is compared with
//   {e:'gc', at, ms, kind}       every garbage collection of the bolt's thread of GC_LOG_MS or more
//                                (`at` is when it started)
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { TopologyBuilder } from '@ardea/core/api';

const VALUE_POOL = 1024;
const STATS_EVERY_MS = 1000;
const GC_LOG_MS = 5;
const NEXT_KEY = 'next';

const now = () => performance.timeOrigin + performance.now();

function whole(config, component, key, fallback, min) {
  const raw = config[key] ?? fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min)
    throw new Error(`${component}.${key} must be a whole number of at least ${min}, got ${JSON.stringify(raw)}`);
  return value;
}

function benchDir(config) {
  const dir = config.benchDir;
  if (typeof dir !== 'string' || !path.isAbsolute(dir))
    throw new Error('delivery-checkpoint needs --config-property topology.benchDir=<absolute dir>');
  return dir;
}

/** Distinct printable values of `bytes` characters; a decoded tuple value is a string of its own in the bolt. */
function valuePool(bytes) {
  const values = [];
  let seed = 0x9e3779b9;
  for (let v = 0; v < VALUE_POOL; v++) {
    let value = '';
    for (let c = 0; c < bytes; c++) {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      value += String.fromCharCode(33 + ((seed >>> 0) % 94));
    }
    values.push(value);
  }
  return values;
}

export class KeySpout {
  next = 0;

  open(context, collector) {
    this.collector = collector;
    const config = context.config;
    this.keys = whole(config, 'keys', 'keys', 1_000_000, 1);
    this.rate = whole(config, 'keys', 'rate', 20_000, 1);
    this.values = valuePool(whole(config, 'keys', 'valueBytes', 100, 1));
    this.tokens = 0;
    this.refilledAt = performance.now();
  }

  initState(state) {
    this.state = state;
    const next = state.get(NEXT_KEY);
    if (typeof next === 'number') this.next = next;
  }

  preSave() {
    this.state?.put(NEXT_KEY, this.next);
  }

  nextTuple() {
    const round = Math.floor(this.next / this.keys);
    if (round > 0) {
      // At most 50 ms of tuples at once: time paused by backpressure is not made up in a burst.
      const t = performance.now();
      this.tokens = Math.min(Math.max(1, this.rate * 0.05), this.tokens + ((t - this.refilledAt) / 1000) * this.rate);
      this.refilledAt = t;
      if (this.tokens < 1) return;
      this.tokens--;
    }
    const i = this.next++;
    this.collector.emit([i % this.keys, round, this.values[i % VALUE_POOL], now()]);
  }
}

/** What the store bolt watches over a span of time. */
const newSpan = () => ({ maxGapMs: 0, maxGapEnd: 0, maxLatencyMs: 0, maxPutMs: 0, putMs: 0, executed: 0 });

export class StoreBolt {
  state = undefined;
  filled = false;
  lastExecute = 0;
  /** The checkpoint under way here (preSave seen, postSave not yet). */
  window = undefined;
  /** The current second, and whether a checkpoint was under way in it. */
  second = newSpan();
  checkpointInSecond = false;

  prepare(context) {
    this.file = path.join(benchDir(context.config), `store-${context.taskId}.jsonl`);
    setInterval(() => this.endSecond(), STATS_EVERY_MS).unref();
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries())
        if (entry.duration >= GC_LOG_MS)
          this.line({ e: 'gc', at: performance.timeOrigin + entry.startTime, ms: entry.duration, kind: entry.detail?.kind });
    }).observe({ entryTypes: ['gc'] });
  }

  line(record) {
    appendFileSync(this.file, `${JSON.stringify(record)}\n`);
  }

  initState(state) {
    this.state = state;
  }

  execute(tuple) {
    const start = now();
    this.state.put(tuple.getNumber('key'), tuple.getString('value'));
    const t = now();
    if (!this.filled) {
      if (tuple.getNumber('round') === 0) return;
      this.filled = true;
      this.lastExecute = t;
      this.line({ e: 'filled', at: t, size: this.state.size });
      return;
    }
    const gap = t - this.lastExecute;
    const latency = t - tuple.getNumber('ts');
    this.lastExecute = t;
    const into = this.window ?? this.second;
    if (gap > into.maxGapMs) {
      into.maxGapMs = gap;
      into.maxGapEnd = t;
    }
    if (latency > into.maxLatencyMs) into.maxLatencyMs = latency;
    const put = t - start;
    if (put > into.maxPutMs) into.maxPutMs = put;
    into.putMs += put;
    into.executed++;
  }

  preSave(checkpointId) {
    // A checkpoint still open here was abandoned: its postSave never comes.
    this.window = { id: checkpointId, pre: now(), size: this.state?.size ?? 0, ...newSpan() };
    this.checkpointInSecond = true;
  }

  postSave(checkpointId) {
    const window = this.window;
    if (!window || window.id !== checkpointId) return;
    this.window = undefined;
    if (this.filled) this.line({ e: 'checkpoint', ...window, post: now() });
  }

  endSecond() {
    const second = this.second;
    const clean = !this.checkpointInSecond;
    this.second = newSpan();
    this.checkpointInSecond = this.window !== undefined;
    if (this.filled && clean && second.executed > 0) this.line({ e: 'second', at: now(), ...second });
  }
}

const builder = new TopologyBuilder('delivery-checkpoint').containers(2).config('reliability', 'effectively-once');
builder.setSpout('keys', () => new KeySpout(), 1).outputFields('key', 'round', 'value', 'ts');
builder
  .setBolt('store', () => new StoreBolt(), 1)
  .fieldsGrouping('keys', ['key'])
  // The state, its snapshot under way and the chunks on their way out, with room to spare.
  .resources({ ram: '2GiB' });

export default builder.build();
