// Benchmark-only word count for bench/delivery.mjs: the shape, sentences and vocabulary of
// examples/word-count (`sentence` -> shuffle -> `split` x2 -> fields(word) -> `count` x2, 2 containers),
// written the way an application would be under each delivery mode (`topology.reliability`):
//   at-most-once      nothing is tracked; count keeps its counts in a Map.
//   at-least-once     the spout emits every sentence with a message id, keeps the ids not acked yet and
//                     emits failed (and timed-out) ones again before new ones; split and count ack
//                     through autoAck, so a sentence completes once each of its words was counted.
//   effectively-once  the spout keeps its position in its checkpointed state, and count keeps each
//                     word's count in keyed state, so both are in every checkpoint and come back with
//                     a rollback. This is where it differs from examples/word-count, whose count keeps
//                     a Map in every mode: the bench charges effectively-once with the state an
//                     application that relies on it has to keep.
// `sentence.rate` (sentences/s, 0 = unthrottled) can be changed while it runs (`ardea update
// --runtime-config sentence:rate=<n>`), so one deployment is measured at a fixed rate and unthrottled.
import { TopologyBuilder } from '@ardea/core/api';

const VOCABULARY_SIZE = 10_000;
const WORDS_PER_SENTENCE = 10;
const SENTENCE_POOL = 4096;
const NEXT_KEY = 'next';

/** The example's vocabulary and sentence pool for a spout task (bench/delivery.mjs checks they match). */
export function sentencePool(taskId) {
  const syllables = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'ha', 'po', 'gu', 'de', 'fi', 'ja', 'wu'];
  const words = [];
  for (let i = 0; i < VOCABULARY_SIZE; i++) {
    let word = '';
    for (let n = i + 1; n > 0; n = Math.floor(n / syllables.length)) word += syllables[n % syllables.length];
    words.push(word);
  }
  let seed = 0x2545f491 ^ taskId;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const sentences = [];
  for (let s = 0; s < SENTENCE_POOL; s++) {
    const sentence = [];
    for (let w = 0; w < WORDS_PER_SENTENCE; w++) sentence.push(words[Math.floor(random() * words.length)]);
    sentences.push(sentence.join(' '));
  }
  return sentences;
}

export class SentenceSpout {
  sentences = [];
  /** Index of the next new sentence; sentence i is sentences[i % SENTENCE_POOL]. */
  next = 0;
  tracked = false;
  pending = new Set();
  replays = [];
  acked = 0;
  failed = 0;

  open(context, collector) {
    this.collector = collector;
    this.tracked = context.config.reliability === 'at-least-once';
    this.sentences = sentencePool(context.taskId);
    this.configure(context.config);
  }

  onConfigChange(config) {
    this.configure(config);
  }

  configure(config) {
    const rate = Number(config.rate ?? 0);
    if (!Number.isFinite(rate) || rate < 0)
      throw new Error(`sentence.rate must be a number of at least 0, got ${JSON.stringify(config.rate)}`);
    this.rate = rate;
    this.tokens = 0;
    this.refilledAt = performance.now();
  }

  nextTuple() {
    if (this.rate > 0) {
      // At most 50 ms of sentences at once: time paused by backpressure is not made up in a burst.
      const now = performance.now();
      this.tokens = Math.min(Math.max(1, this.rate * 0.05), this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
      this.refilledAt = now;
      if (this.tokens < 1) return;
      this.tokens--;
    }
    if (!this.tracked) {
      this.collector.emit([this.sentences[this.next++ % SENTENCE_POOL]]);
      return;
    }
    const id = this.replays.length > 0 ? this.replays.pop() : this.next++;
    this.pending.add(id);
    this.collector.emit([this.sentences[id % SENTENCE_POOL]], { messageId: id });
  }

  ack(id) {
    if (this.pending.delete(id)) this.acked++;
  }

  fail(id) {
    if (!this.pending.delete(id)) return;
    this.failed++;
    this.replays.push(id);
  }

  // Called under effectively-once only: the position comes back with a rollback.
  initState(state) {
    this.state = state;
    const next = state.get(NEXT_KEY);
    if (typeof next === 'number') this.next = next;
  }

  preSave() {
    this.state?.put(NEXT_KEY, this.next);
  }

  activate() {
    this.tokens = 0;
    this.refilledAt = performance.now();
  }
}

export class SplitBolt {
  prepare(_context, collector) {
    this.collector = collector;
  }

  execute(tuple) {
    for (const word of tuple.getString('sentence').split(' ')) this.collector.emit([word]);
  }
}

export class CountBolt {
  counts = new Map();
  state = undefined;

  // Called under effectively-once only; the other modes count in the Map.
  initState(state) {
    this.state = state;
  }

  execute(tuple) {
    const word = tuple.getString('word');
    if (this.state) this.state.put(word, (this.state.get(word) ?? 0) + 1);
    else this.counts.set(word, (this.counts.get(word) ?? 0) + 1);
  }
}

const builder = new TopologyBuilder('delivery-word-count').containers(2);
builder
  .setSpout('sentence', () => new SentenceSpout(), 1)
  .outputFields('sentence')
  .config('rate', 0)
  .runtimeConfig('rate', { type: 'number', min: 0 });
builder
  .setBolt('split', () => new SplitBolt(), 2)
  .autoAck()
  .shuffleGrouping('sentence')
  .outputFields('word');
builder
  .setBolt('count', () => new CountBolt(), 2)
  .autoAck()
  .fieldsGrouping('split', ['word']);

export default builder.build();
