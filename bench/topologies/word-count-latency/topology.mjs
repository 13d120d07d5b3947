// Benchmark-only variant of examples/word-count (bench/word-count.mjs submits it). Same shape, same
// sentences and vocabulary: `sentence` -> shuffle -> `split` x2 -> fields(word) -> `count` x2, in 2
// containers. Differences, all for measuring:
//   - every sentence carries its emit time (ms, performance.timeOrigin + performance.now(), which is
//     wall-clock based and comparable across processes and worker threads), and split forwards it
//     with each word, so count sees (word, ts) and can record emit -> count latency;
//   - the instances watch a control directory (topology config `benchDir`), polled every 5 ms:
//       rate      spout: sentences per second (0 = unthrottled); replaces sentence.rate while present
//       record    count: while it exists, record one latency sample per word; when it disappears,
//                 write them to lat-<task>.f32 (Float32 microseconds) for the bench to merge
//       stall     count: while it exists the bolt is stuck (its thread blocks, as in a hung external
//                 call); it appends {event:'stall'|'unstall', at} to count-<task>.jsonl
//     and the spout appends {event:'stop', lastEmit, detectedAt} to spout-<task>.jsonl when it has
//     emitted nothing for STOP_GAP_MS, and {event:'resume', at} at its next emit.
// The bench never changes the engine: a stall is seen by the engine only as a bolt that stops
// consuming, exactly like a slow user bolt.
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TopologyBuilder } from '@ardea/core/api';

const VOCABULARY_SIZE = 10_000;
const WORDS_PER_SENTENCE = 10;
const SENTENCE_POOL = 4096;
const POLL_MS = 5;
/** A spout that emitted nothing for this long counts as stopped (normal pacing gaps are ~1 ms). */
const STOP_GAP_MS = 100;
/** A paced spout catches up at most this much missed time after a pause, so phases stay independent. */
const MAX_CATCH_UP_S = 0.05;

const now = () => performance.timeOrigin + performance.now();

/** Same vocabulary as examples/word-count. */
function vocabulary() {
  const syllables = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'ha', 'po', 'gu', 'de', 'fi', 'ja', 'wu'];
  const words = [];
  for (let i = 0; i < VOCABULARY_SIZE; i++) {
    let word = '';
    for (let n = i + 1; n > 0; n = Math.floor(n / syllables.length)) word += syllables[n % syllables.length];
    words.push(word);
  }
  return words;
}

function controlDir(config) {
  const dir = config.benchDir;
  if (typeof dir !== 'string' || !dir) throw new Error('word-count-latency needs --config-property topology.benchDir=<dir>');
  return dir;
}

const line = (file, record) => appendFileSync(file, `${JSON.stringify(record)}\n`);

export class SentenceSpout {
  sentences = [];
  next = 0;
  rate = 0;
  rateText = '';
  startedAt = 0;
  emittedSinceStart = 0;
  lastEmit = 0;
  stopped = false;

  open(context, collector) {
    this.collector = collector;
    this.dir = controlDir(context.config);
    this.log = path.join(this.dir, `spout-${context.taskId}.jsonl`);
    const words = vocabulary();
    let seed = 0x2545f491 ^ context.taskId;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    for (let i = 0; i < SENTENCE_POOL; i++) {
      const sentence = [];
      for (let w = 0; w < WORDS_PER_SENTENCE; w++) sentence.push(words[Math.floor(random() * words.length)]);
      this.sentences.push(sentence.join(' '));
    }
    this.setRate(Number(context.config.rate ?? 0));
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  setRate(rate) {
    this.rate = rate;
    this.startedAt = performance.now();
    this.emittedSinceStart = 0;
  }

  poll() {
    const file = path.join(this.dir, 'rate');
    if (existsSync(file)) {
      let text = '';
      try {
        text = readFileSync(file, 'utf8').trim();
      } catch {
        // written concurrently; next poll
      }
      if (text && text !== this.rateText) {
        this.rateText = text;
        this.setRate(Number(text));
      }
    }
    const t = now();
    if (!this.stopped && this.lastEmit > 0 && t - this.lastEmit >= STOP_GAP_MS) {
      this.stopped = true;
      line(this.log, { event: 'stop', lastEmit: this.lastEmit, detectedAt: t });
    }
  }

  nextTuple() {
    if (this.rate > 0) {
      const allowed = ((performance.now() - this.startedAt) / 1000) * this.rate;
      if (this.emittedSinceStart >= allowed) return;
      if (allowed - this.emittedSinceStart > this.rate * MAX_CATCH_UP_S) this.emittedSinceStart = allowed - this.rate * MAX_CATCH_UP_S;
    }
    this.emittedSinceStart++;
    const t = now();
    if (this.stopped) {
      this.stopped = false;
      line(this.log, { event: 'resume', at: t });
    }
    this.lastEmit = t;
    this.collector.emit([this.sentences[this.next], t]);
    this.next = this.next + 1 === this.sentences.length ? 0 : this.next + 1;
  }

  activate() {
    this.startedAt = performance.now();
    this.emittedSinceStart = 0;
  }

  close() {
    clearInterval(this.timer);
  }
}

export class SplitBolt {
  prepare(_context, collector) {
    this.collector = collector;
  }

  execute(tuple) {
    const ts = tuple.getNumber('ts');
    for (const word of tuple.getString('sentence').split(' ')) this.collector.emit([word, ts]);
  }
}

export class CountBolt {
  counts = new Map();
  recording = false;
  samples = new Float32Array(1 << 16);
  sampleCount = 0;
  stallWait = new Int32Array(new SharedArrayBuffer(4));

  prepare(context) {
    this.dir = controlDir(context.config);
    this.taskId = context.taskId;
    this.log = path.join(this.dir, `count-${context.taskId}.jsonl`);
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  poll() {
    const record = existsSync(path.join(this.dir, 'record'));
    if (record && !this.recording) {
      this.sampleCount = 0;
      this.recording = true;
    } else if (!record && this.recording) {
      this.recording = false;
      const out = path.join(this.dir, `lat-${this.taskId}.f32`);
      const bytes = Buffer.from(this.samples.buffer, 0, this.sampleCount * 4);
      writeFileSync(`${out}.tmp`, bytes);
      renameSync(`${out}.tmp`, out);
    }
    const stall = path.join(this.dir, 'stall');
    if (existsSync(stall)) {
      line(this.log, { event: 'stall', at: now() });
      // Stuck: this thread takes no more frames until the file goes away.
      while (existsSync(stall)) Atomics.wait(this.stallWait, 0, 0, 1);
      line(this.log, { event: 'unstall', at: now() });
    }
  }

  execute(tuple) {
    const word = tuple.getString('word');
    this.counts.set(word, (this.counts.get(word) ?? 0) + 1);
    if (this.recording) {
      const latencyUs = (now() - tuple.getNumber('ts')) * 1000;
      if (this.sampleCount === this.samples.length) {
        const grown = new Float32Array(this.samples.length * 2);
        grown.set(this.samples);
        this.samples = grown;
      }
      this.samples[this.sampleCount++] = latencyUs;
    }
  }

  cleanup() {
    clearInterval(this.timer);
  }
}

const builder = new TopologyBuilder('word-count-latency').containers(2);
builder
  .setSpout('sentence', () => new SentenceSpout(), 1)
  .outputFields('sentence', 'ts')
  .config('rate', 0);
builder
  .setBolt('split', () => new SplitBolt(), 2)
  .shuffleGrouping('sentence')
  .outputFields('word', 'ts');
builder.setBolt('count', () => new CountBolt(), 2).fieldsGrouping('split', ['word']);

export default builder.build();
