/**
 * Word count, the classic streaming example: `sentence` emits sentences, `split` breaks them into
 * words (shuffle grouping), `count` keeps a count per word (fields grouping on `word`, so each word
 * is always counted by the same instance).
 *
 * Settable at submit with `--config-property`: `sentence.rate=<sentences per second>` (0: as fast as
 * possible), `<component>.parallelism=<n>`, and `count.costMicros=<µs>` to make counting slower.
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

export class SentenceSpout implements Spout {
  private sentences: string[] = [];
  private next = 0;
  private collector!: SpoutOutputCollector;
  private rate = 0;
  private startedAt = 0;
  private emittedSinceStart = 0;

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
    this.startedAt = performance.now();
    this.emittedSinceStart = 0;
  }

  nextTuple(): void {
    if (this.rate > 0) {
      const allowed = ((performance.now() - this.startedAt) / 1000) * this.rate;
      if (this.emittedSinceStart >= allowed) return;
    }
    this.emittedSinceStart++;
    this.collector.emit([this.sentences[this.next]!]);
    this.next = this.next + 1 === this.sentences.length ? 0 : this.next + 1;
  }

  activate(): void {
    this.startedAt = performance.now();
    this.emittedSinceStart = 0;
  }
}

export class SplitBolt implements Bolt {
  private collector!: BoltOutputCollector;

  prepare(_context: ComponentContext, collector: BoltOutputCollector): void {
    this.collector = collector;
  }

  execute(tuple: Tuple): void {
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
    if (this.costMicros > 0) {
      // Waiting rather than computing models a bolt bound by an external call: its capacity grows
      // with parallelism even on a machine with few cores.
      const until = performance.now() + this.costMicros / 1000;
      while (performance.now() < until);
    }
  }
}

const builder = new TopologyBuilder('word-count').containers(2);
builder.setSpout('sentence', () => new SentenceSpout(), 1).outputFields('sentence').config('rate', 0);
builder.setBolt('split', () => new SplitBolt(), 2).shuffleGrouping('sentence').outputFields('word');
builder.setBolt('count', () => new CountBolt(), 2).fieldsGrouping('split', ['word']);

export default builder.build();
