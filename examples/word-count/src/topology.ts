/**
 * Word count, the classic streaming example: `sentence` emits sentences, `split` breaks them into
 * words (shuffle grouping), `count` keeps a count per word (fields grouping on `word`, so each word
 * is always counted by the same instance).
 *
 * Settable at submit with `--config-property` (and at run time with `ardea update --runtime-config`,
 * which takes only the keys declared with `runtimeConfig` below):
 * `sentence.rate=<sentences per second>` (0: as fast as possible), `<component>.parallelism=<n>`,
 * `count.costMicros=<µs>` and `split.costMicros=<µs>` to give each tuple a cost, and
 * `split.slowInstance=<index>` with `split.slowFactor=<f>` to make one split instance f times slower.
 *
 * Replaying source, for the delivery guarantees (`topology.reliability`, docs/delivery.md):
 * - `sentence.sentences=<N>`: emit sentences 0..N-1 and stop; sentence i is the same text in every
 *   run and every process. With more than one spout instance, instance k takes the i with
 *   i % parallelism == k. 0 (the default) emits for ever.
 * - Under `at-least-once` every sentence is emitted with its index as message id. The spout keeps
 *   the ids emitted and not yet acked, re-emits failed (and timed-out) ids before new ones, and
 *   counts what it acked and replayed. `split` and `count` ack through `autoAck`, so a sentence is
 *   acked once each of its words was counted.
 * - `sentence.ackLog=<file>` (at-least-once): every acked id is appended to the file, and on open the
 *   ids already in it are skipped, as a queue consumer commits offsets: a spout restarted after its
 *   process died replays only what was not acked instead of starting over.
 * - Under `effectively-once` the spout keeps its next index in its checkpointed state, so after a
 *   rollback it emits again from where the restored checkpoint stood; no message ids are needed.
 * - `count.log=<directory>`: every word `count` executes is appended, before it is acked, to a file of
 *   the directory (one per instance process), so that after a crash one can check that every word
 *   was counted at least once, and how many twice.
 * Under `at-most-once` (the default) none of this tracking happens.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { Bolt, BoltOutputCollector, ComponentContext, Spout, SpoutOutputCollector, State, TopologyBuilder, Tuple } from '@ardea/core/api';

const VOCABULARY_SIZE = 10_000;
const WORDS_PER_SENTENCE = 10;
const SENTENCE_POOL = 4096;

/** A deterministic vocabulary of pronounceable words, so every run counts the same words. */
function vocabulary(): string[] {
  const syllables = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'ha', 'po', 'gu', 'de', 'fi', 'ja', 'wu'];
  const words: string[] = [];
  for (let i = 0; i < VOCABULARY_SIZE; i++) {
    let word = '';
    for (let n = i + 1; n > 0; n = Math.floor(n / syllables.length)) word += syllables[n % syllables.length];
    words.push(word);
  }
  return words;
}

/**
 * Waits without using CPU, like a bolt blocked on a database call: its capacity then grows with
 * parallelism even on a machine with few cores.
 */
const sleeper = new Int32Array(new SharedArrayBuffer(4));
function costOf(micros: number): void {
  if (micros > 0) Atomics.wait(sleeper, 0, 0, micros / 1000);
}

/** The sentences a spout task draws from: random words of the vocabulary, the same for the same task id. */
function sentencePool(taskId: number): string[] {
  const words = vocabulary();
  let seed = 0x2545f491 ^ taskId;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const sentences: string[] = [];
  for (let i = 0; i < SENTENCE_POOL; i++) {
    const sentence: string[] = [];
    for (let w = 0; w < WORDS_PER_SENTENCE; w++) sentence.push(words[Math.floor(random() * words.length)]!);
    sentences.push(sentence.join(' '));
  }
  return sentences;
}

type Reliability = 'at-most-once' | 'at-least-once' | 'effectively-once';

/** The pool a finite source draws from is the same in every instance, so sentence i is one text everywhere. */
const FINITE_POOL_SEED_TASK = 0;
let finitePool: string[] | undefined;

/** Sentence `index` of a finite source (`sentence.sentences=<N>`): what a test expects the spout to emit. */
export function finiteSentence(index: number): string {
  finitePool ??= sentencePool(FINITE_POOL_SEED_TASK);
  return finitePool[index % SENTENCE_POOL]!;
}

/** The key of the spout's next index in its state (effectively-once). */
const NEXT_KEY = 'next';

/** A whole number of at least 0 from the component's config, with the key named in the error a user sees. */
function wholeNumber(config: Readonly<Record<string, unknown>>, key: string): number {
  const raw = config[key] ?? 0;
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new Error(`sentence.${key} must be a whole number of at least 0, got ${JSON.stringify(raw)}`);
  return value;
}

/**
 * Offers `rate` sentences per second. A token bucket holding at most 50 ms of sentences: time the
 * spout spends paused by backpressure is not made up later, so its emit rate while running is the
 * offered rate. Replays spend tokens like new sentences.
 *
 * Sentence i is `sentences[i % sentences.length]`; `next` is the index of the next new sentence.
 */
export class SentenceSpout implements Spout {
  private sentences: string[] = [];
  private next = 0;
  private collector!: SpoutOutputCollector;
  private rate = 0;
  private tokens = 0;
  private refilledAt = 0;
  /** At-least-once: sentences carry message ids and are replayed when they fail. */
  private tracked = false;
  private reliability: Reliability = 'at-most-once';
  /** Sentences in all, 0 for an endless source; an instance emits every `stride`-th index from its own. */
  private limit = 0;
  private stride = 1;
  /** At-least-once: ids emitted and not yet acked, and the failed ones waiting to be emitted again. */
  private readonly pending = new Set<number>();
  private replays: number[] = [];
  private replayHead = 0;
  /** Ids the ack log held at open: acked by an earlier process, so not emitted again. */
  private readonly committed = new Set<number>();
  private ackLog: number | undefined;
  /** Of this instance's share of a finite source, the ids not acked yet. */
  private unacked = 0;
  private state: State | undefined;
  private logger: ComponentContext['logger'] | undefined;
  /** At-least-once: sentences acked, failed (timeouts included) and emitted again. */
  acked = 0;
  failed = 0;
  replayed = 0;

  open(context: ComponentContext, collector: SpoutOutputCollector): void {
    this.collector = collector;
    const config = context.config;
    this.reliability = (config.reliability as Reliability | undefined) ?? 'at-most-once';
    this.tracked = this.reliability === 'at-least-once';
    this.limit = wholeNumber(config, 'sentences');
    this.sentences = sentencePool(this.limit > 0 ? FINITE_POOL_SEED_TASK : context.taskId);
    if (this.limit > 0) {
      this.logger = context.logger;
      this.stride = Math.max(1, context.parallelism);
      this.next = context.componentIndex;
      this.unacked = Math.max(0, Math.ceil((this.limit - this.next) / this.stride));
    }
    if (this.tracked && config.ackLog !== undefined) this.openAckLog(config.ackLog);
    this.configure(config);
  }

  private openAckLog(file: unknown): void {
    if (typeof file !== 'string' || !path.isAbsolute(file))
      throw new Error(`sentence.ackLog must be an absolute file path, got ${JSON.stringify(file)}`);
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    // A process killed mid-write may have left a partial last line: that id was not committed.
    for (const line of text.split('\n')) {
      if (!/^\d+$/.test(line)) continue;
      const id = Number(line);
      if ((id - this.next) % this.stride !== 0 || id < this.next || (this.limit > 0 && id >= this.limit)) continue;
      if (!this.committed.has(id)) this.unacked--;
      this.committed.add(id);
    }
    this.ackLog = openSync(file, 'a');
    if (this.limit > 0)
      this.logger?.info(`sentence ack log ${file}: ${this.committed.size} sentences already acked, ${this.unacked} to go`);
  }

  onConfigChange(config: Readonly<Record<string, unknown>>): void {
    this.configure(config);
  }

  private configure(config: Readonly<Record<string, unknown>>): void {
    this.rate = Number(config.rate ?? 0);
    this.tokens = 0;
    this.refilledAt = performance.now();
  }

  nextTuple(): void {
    const replay = this.replayHead < this.replays.length;
    let id: number;
    if (replay) {
      id = this.replays[this.replayHead]!;
    } else {
      if (this.committed.size > 0) while (this.committed.has(this.next)) this.next += this.stride;
      if (this.limit > 0 && this.next >= this.limit) return;
      id = this.next;
    }
    if (this.rate > 0) {
      const now = performance.now();
      this.tokens = Math.min(Math.max(1, this.rate * 0.05), this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
      this.refilledAt = now;
      if (this.tokens < 1) return;
      this.tokens--;
    }
    if (replay) {
      if (++this.replayHead === this.replays.length) {
        this.replays = [];
        this.replayHead = 0;
      }
      this.replayed++;
    } else {
      this.next += this.stride;
    }
    const sentence = this.sentences[id % SENTENCE_POOL]!;
    if (this.tracked) {
      this.pending.add(id);
      this.collector.emit([sentence], { messageId: id });
    } else {
      this.collector.emit([sentence]);
    }
  }

  ack(messageId: unknown): void {
    const id = messageId as number;
    // Only an id emitted and not yet acked counts: a late ack for an id already replayed and acked does not.
    if (!this.pending.delete(id)) return;
    this.acked++;
    if (this.ackLog !== undefined) writeSync(this.ackLog, `${id}\n`);
    if (this.limit > 0 && --this.unacked === 0)
      this.logger?.info(`all ${this.acked + this.committed.size} sentences of this spout instance acked, ${this.replayed} replays`);
  }

  fail(messageId: unknown): void {
    const id = messageId as number;
    if (!this.pending.delete(id)) return;
    this.failed++;
    this.replays.push(id);
  }

  initState(state: State): void {
    if (this.reliability !== 'effectively-once') return;
    this.state = state;
    const restored = state.get(NEXT_KEY);
    // A first start has no state: the instance begins where open put it.
    if (typeof restored === 'number') this.next = restored;
  }

  preSave(): void {
    this.state?.put(NEXT_KEY, this.next);
  }

  activate(): void {
    this.tokens = 0;
    this.refilledAt = performance.now();
  }

  close(): void {
    if (this.ackLog !== undefined) closeSync(this.ackLog);
    this.ackLog = undefined;
  }
}

export class SplitBolt implements Bolt {
  private collector!: BoltOutputCollector;
  private index = 0;
  private costMicros = 0;

  prepare(context: ComponentContext, collector: BoltOutputCollector): void {
    this.collector = collector;
    this.index = context.componentIndex;
    this.configure(context.config);
  }

  onConfigChange(config: Readonly<Record<string, unknown>>): void {
    this.configure(config);
  }

  private configure(config: Readonly<Record<string, unknown>>): void {
    const slow = config.slowInstance !== undefined && Number(config.slowInstance) === this.index;
    this.costMicros = Number(config.costMicros ?? 0) * (slow ? Number(config.slowFactor ?? 10) : 1);
  }

  execute(tuple: Tuple): void {
    costOf(this.costMicros);
    for (const word of tuple.getString('sentence').split(' ')) this.collector.emit([word]);
  }
}

export class CountBolt implements Bolt {
  readonly counts = new Map<string, number>();
  private costMicros = 0;
  private log: number | undefined;

  prepare(context: ComponentContext): void {
    this.costMicros = Number(context.config.costMicros ?? 0);
    const dir = context.config.log;
    if (dir !== undefined) {
      if (typeof dir !== 'string' || !path.isAbsolute(dir))
        throw new Error(`count.log must be an absolute directory path, got ${JSON.stringify(dir)}`);
      // One file per instance process: a restarted instance appends next to what the killed one wrote.
      this.log = openSync(path.join(dir, `count-${context.taskId}-${process.pid}-${randomBytes(4).toString('hex')}.log`), 'a');
    }
  }

  onConfigChange(config: Readonly<Record<string, unknown>>): void {
    this.costMicros = Number(config.costMicros ?? 0);
  }

  execute(tuple: Tuple): void {
    const word = tuple.getString('word');
    this.counts.set(word, (this.counts.get(word) ?? 0) + 1);
    // Written before execute returns, so before autoAck acks the word: an acked word is in the log.
    if (this.log !== undefined) writeSync(this.log, `${word}\n`);
    costOf(this.costMicros);
  }

  cleanup(): void {
    if (this.log !== undefined) closeSync(this.log);
    this.log = undefined;
  }
}

const builder = new TopologyBuilder('word-count').containers(2);
// The keys `ardea update --runtime-config` may change, and the values they take: anything else is refused.
const micros = { type: 'number', min: 0 } as const;
builder
  .setSpout('sentence', () => new SentenceSpout(), 1)
  .outputFields('sentence')
  .config('rate', 0)
  .runtimeConfig('rate', { type: 'number', min: 0 });
// autoAck: under at-least-once each word is anchored to its sentence and every input is acked when
// execute returns, so a sentence completes once all its words are counted. Other modes ignore it.
builder
  .setBolt('split', () => new SplitBolt(), 2)
  .autoAck()
  .shuffleGrouping('sentence')
  .outputFields('word')
  .runtimeConfig('costMicros', micros)
  .runtimeConfig('slowInstance', { type: 'integer', min: 0 })
  .runtimeConfig('slowFactor', { type: 'number', min: 0 });
builder
  .setBolt('count', () => new CountBolt(), 2)
  .autoAck()
  .fieldsGrouping('split', ['word'])
  .runtimeConfig('costMicros', micros);

export default builder.build();
