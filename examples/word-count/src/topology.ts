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
 */
import { Bolt, BoltOutputCollector, ComponentContext, Spout, SpoutOutputCollector, TopologyBuilder, Tuple } from '@ardea/core/api';

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

/**
 * Offers `rate` sentences per second. A token bucket holding at most 50 ms of sentences: time the
 * spout spends paused by backpressure is not made up later, so its emit rate while running is the
 * offered rate.
 */
export class SentenceSpout implements Spout {
  private sentences: string[] = [];
  private next = 0;
  private collector!: SpoutOutputCollector;
  private rate = 0;
  private tokens = 0;
  private refilledAt = 0;

  open(context: ComponentContext, collector: SpoutOutputCollector): void {
    this.collector = collector;
    const words = vocabulary();
    let seed = 0x2545f491 ^ context.taskId;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    for (let i = 0; i < SENTENCE_POOL; i++) {
      const sentence: string[] = [];
      for (let w = 0; w < WORDS_PER_SENTENCE; w++) sentence.push(words[Math.floor(random() * words.length)]!);
      this.sentences.push(sentence.join(' '));
    }
    this.configure(context.config);
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
    if (this.rate > 0) {
      const now = performance.now();
      this.tokens = Math.min(Math.max(1, this.rate * 0.05), this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
      this.refilledAt = now;
      if (this.tokens < 1) return;
      this.tokens--;
    }
    this.collector.emit([this.sentences[this.next]!]);
    this.next = this.next + 1 === this.sentences.length ? 0 : this.next + 1;
  }

  activate(): void {
    this.tokens = 0;
    this.refilledAt = performance.now();
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

  prepare(context: ComponentContext): void {
    this.costMicros = Number(context.config.costMicros ?? 0);
  }

  onConfigChange(config: Readonly<Record<string, unknown>>): void {
    this.costMicros = Number(config.costMicros ?? 0);
  }

  execute(tuple: Tuple): void {
    const word = tuple.getString('word');
    this.counts.set(word, (this.counts.get(word) ?? 0) + 1);
    costOf(this.costMicros);
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
builder
  .setBolt('split', () => new SplitBolt(), 2)
  .shuffleGrouping('sentence')
  .outputFields('word')
  .runtimeConfig('costMicros', micros)
  .runtimeConfig('slowInstance', { type: 'integer', min: 0 })
  .runtimeConfig('slowFactor', { type: 'number', min: 0 });
builder
  .setBolt('count', () => new CountBolt(), 2)
  .fieldsGrouping('split', ['word'])
  .runtimeConfig('costMicros', micros);

export default builder.build();
