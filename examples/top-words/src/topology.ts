/**
 * Top words: a rolling "trending words" ranking.
 *
 * `sentence` emits sentences whose words follow a skewed distribution that drifts over time;
 * `split` breaks them into words (shuffle grouping); the `counter` instances count words over a
 * window kept by tick tuples (fields grouping on `word`) and, when the window closes, send their
 * local top N to the single `ranker` (global grouping), which merges them and, on its own tick,
 * publishes the overall ranking: on its output stream, and as a JSON file when `outputFile` is set.
 *
 * Settable at submit with `--config-property` (see README.md): `sentence.rate`, `sentence.trendMs`,
 * `counter.windowMs`, `counter.tickFrequencyMs`, `ranker.tickFrequencyMs`, `ranker.outputFile`,
 * `topology.topN` and `<component>.parallelism`.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  Bolt,
  BoltOutputCollector,
  ComponentContext,
  Spout,
  SpoutOutputCollector,
  TICK_FREQUENCY_KEY,
  TopologyBuilder,
  Tuple,
} from '@ardea/core/api';

/** The words sentences are made of, most popular first when the trend has not moved yet. */
export const VOCABULARY: readonly string[] = [
  'heron',
  'egret',
  'stream',
  'river',
  'marsh',
  'reed',
  'fish',
  'wing',
  'feather',
  'dawn',
  'dusk',
  'tide',
  'shore',
  'pond',
  'frog',
  'willow',
  'mist',
  'stone',
  'current',
  'delta',
  'lagoon',
  'bittern',
  'crane',
  'ibis',
  'stork',
  'pelican',
  'kingfisher',
  'otter',
  'beaver',
  'rush',
  'sedge',
  'lily',
  'ripple',
  'eddy',
  'rapids',
  'estuary',
  'mudflat',
  'dragonfly',
  'minnow',
  'perch',
  'carp',
  'trout',
  'salmon',
  'eel',
  'newt',
  'toad',
  'heronry',
  'nest',
];

export const DEFAULT_TOP_N = 10;
export const DEFAULT_WINDOW_MS = 1000;
const DEFAULT_RANKER_TICK_MS = 1000;
const DEFAULT_SENTENCE_RATE = 1000;
const DEFAULT_TREND_MS = 5000;
const WORDS_PER_SENTENCE = 8;

export interface WordCount {
  readonly word: string;
  readonly count: number;
}

/** What the ranker publishes: the file's content and the values of its output tuple. */
export interface Ranking {
  /** End of the newest counter window merged into this ranking (ms since the epoch). */
  readonly windowEndsAt: number;
  readonly top: readonly WordCount[];
}

/** A numeric setting from the component's config, with the key named in the error a user sees. */
function setting(
  context: Pick<ComponentContext, 'componentName'>,
  config: Readonly<Record<string, unknown>>,
  key: string,
  fallback: number,
  min: number,
): number {
  const raw = config[key] ?? fallback;
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new Error(`${context.componentName}.${key} must be a number of at least ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** The `n` largest counts, ties broken by word so every run and every instance agree on the order. */
export function topOf(counts: Iterable<readonly [string, number]>, n: number): WordCount[] {
  return [...counts]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, n)
    .map(([word, count]) => ({ word, count }));
}

export class SentenceSpout implements Spout {
  private collector!: SpoutOutputCollector;
  private context!: ComponentContext;
  /** Cumulative Zipf weights by popularity rank, so a sample is one binary search. */
  private readonly cumulative: number[] = [];
  private random: () => number = Math.random;
  private rate = DEFAULT_SENTENCE_RATE;
  private trendMs = DEFAULT_TREND_MS;
  private startedAt = 0;
  private emittedSinceStart = 0;

  open(context: ComponentContext, collector: SpoutOutputCollector): void {
    this.context = context;
    this.collector = collector;
    let total = 0;
    for (let rank = 0; rank < VOCABULARY.length; rank++) this.cumulative.push((total += 1 / (rank + 1)));
    // A seeded xorshift rather than Math.random: each instance produces the same sentences on every run.
    let seed = 0x9e3779b9 ^ Math.imul(context.taskId + 1, 0x85ebca6b);
    this.random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    this.configure(context.config);
  }

  onConfigChange(config: Readonly<Record<string, unknown>>): void {
    this.configure(config);
  }

  activate(): void {
    // Restart the rate budget so a pause is not followed by a burst that "catches up".
    this.startedAt = performance.now();
    this.emittedSinceStart = 0;
  }

  nextTuple(): void {
    if (this.rate > 0 && this.emittedSinceStart >= ((performance.now() - this.startedAt) / 1000) * this.rate) return;
    this.emittedSinceStart++;
    // The shift follows the wall clock, not this instance's start, so every spout instance trends alike.
    const shift = this.trendMs > 0 ? Math.floor(Date.now() / this.trendMs) : 0;
    const words: string[] = [];
    for (let i = 0; i < WORDS_PER_SENTENCE; i++) words.push(VOCABULARY[(this.sampleRank() + shift) % VOCABULARY.length]!);
    this.collector.emit([words.join(' ')]);
  }

  private sampleRank(): number {
    const target = this.random() * this.cumulative[this.cumulative.length - 1]!;
    let low = 0;
    let high = this.cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.cumulative[middle]! < target) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private configure(config: Readonly<Record<string, unknown>>): void {
    this.rate = setting(this.context, config, 'rate', DEFAULT_SENTENCE_RATE, 0);
    this.trendMs = setting(this.context, config, 'trendMs', DEFAULT_TREND_MS, 0);
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
    for (const word of tuple.getString('sentence').split(' ')) if (word) this.collector.emit([word]);
  }
}

/**
 * Counts the words of its share of the stream over a window and, when the window closes, sends its
 * local top N. The whole list goes out as one tuple so the ranker replaces this counter's previous
 * list in one step, and an empty window clears it instead of leaving a stale list behind.
 */
export class CounterBolt implements Bolt {
  private collector!: BoltOutputCollector;
  private context!: ComponentContext;
  private counts = new Map<string, number>();
  private topN = DEFAULT_TOP_N;
  private tickMs = 0;
  private ticksPerWindow = 1;
  private ticksInWindow = 0;

  prepare(context: ComponentContext, collector: BoltOutputCollector): void {
    this.context = context;
    this.collector = collector;
    // Read once: the engine starts the tick timer from the submitted config and never changes it,
    // so a later runtime value for this key would not describe the real ticks.
    this.tickMs = setting(context, context.config, TICK_FREQUENCY_KEY, 0, 0);
    if (this.tickMs <= 0)
      throw new Error(
        `${context.componentName} needs tick tuples to close its windows; ` +
          `set ${context.componentName}.${TICK_FREQUENCY_KEY} to a positive number`,
      );
    this.configure(context.config);
  }

  onConfigChange(config: Readonly<Record<string, unknown>>): void {
    this.configure(config);
  }

  execute(tuple: Tuple): void {
    if (tuple.isTick) {
      if (++this.ticksInWindow >= this.ticksPerWindow) this.closeWindow();
      return;
    }
    const word = tuple.getString('word');
    this.counts.set(word, (this.counts.get(word) ?? 0) + 1);
  }

  private closeWindow(): void {
    this.ticksInWindow = 0;
    this.collector.emit([Date.now(), topOf(this.counts, this.topN)]);
    this.counts = new Map();
  }

  private configure(config: Readonly<Record<string, unknown>>): void {
    this.topN = setting(this.context, config, 'topN', DEFAULT_TOP_N, 1);
    const windowMs = setting(this.context, config, 'windowMs', DEFAULT_WINDOW_MS, 1);
    // The engine takes the tick period only from its own key, so `windowMs` cannot set it; the
    // window is counted in ticks instead, and with the defaults one tick is one window.
    this.ticksPerWindow = Math.max(1, Math.round(windowMs / this.tickMs));
    if (this.ticksPerWindow * this.tickMs !== windowMs) {
      this.context.logger.warn('window is not a whole number of ticks; rounding it', {
        windowMs,
        tickFrequencyMs: this.tickMs,
        effectiveWindowMs: this.ticksPerWindow * this.tickMs,
      });
    }
  }
}

interface PartialRanking {
  readonly component: string;
  readonly windowEndsAt: number;
  readonly top: readonly WordCount[];
}

/**
 * Merges the counters' local top-N lists into the overall ranking. Fields grouping gives each word
 * to exactly one counter, so the overall top N is always among the union of the local top Ns and the
 * merge is exact, not an approximation.
 */
export class RankerBolt implements Bolt {
  private collector!: BoltOutputCollector;
  private context!: ComponentContext;
  private readonly partials = new Map<number, PartialRanking>();
  /** Whether a partial arrived since the last ranking, so an idle ranker does not rewrite the same file. */
  private changed = false;
  private topN = DEFAULT_TOP_N;
  private outputFile: string | undefined;

  prepare(context: ComponentContext, collector: BoltOutputCollector): void {
    this.context = context;
    this.collector = collector;
    this.configure(context.config);
  }

  onConfigChange(config: Readonly<Record<string, unknown>>): void {
    this.configure(config);
  }

  execute(tuple: Tuple): void {
    if (tuple.isTick) {
      this.publish();
      return;
    }
    this.partials.set(tuple.sourceTask, {
      component: tuple.sourceComponent,
      windowEndsAt: tuple.getNumber('windowEndsAt'),
      top: tuple.get('top') as readonly WordCount[],
    });
    this.changed = true;
  }

  private publish(): void {
    if (!this.changed) return;
    this.changed = false;
    const merged = new Map<string, number>();
    let windowEndsAt = 0;
    for (const [task, partial] of this.partials) {
      // A counter that scaling removed would otherwise keep its last list in the ranking forever.
      if (!this.context.taskIdsOf(partial.component).includes(task)) {
        this.partials.delete(task);
        continue;
      }
      windowEndsAt = Math.max(windowEndsAt, partial.windowEndsAt);
      for (const { word, count } of partial.top) merged.set(word, (merged.get(word) ?? 0) + count);
    }
    const ranking: Ranking = { windowEndsAt, top: topOf(merged, this.topN) };
    if (this.outputFile) this.write(this.outputFile, ranking);
    this.collector.emit([ranking.windowEndsAt, ranking.top]);
  }

  /**
   * Readers must never see a half-written file, hence a temporary file renamed over the target.
   * Synchronous on purpose: it happens once per tick, and two rankings can never race to the rename.
   */
  private write(file: string, ranking: Ranking): void {
    const temporary = `${file}.${process.pid}-${this.context.taskId}.tmp`;
    try {
      writeFileSync(temporary, `${JSON.stringify(ranking, null, 2)}\n`);
      renameSync(temporary, file);
    } catch (error) {
      this.collector.reportError(error);
    }
  }

  private configure(config: Readonly<Record<string, unknown>>): void {
    this.topN = setting(this.context, config, 'topN', DEFAULT_TOP_N, 1);
    const file = config.outputFile;
    // Relative paths are refused: they would resolve against the container's working directory,
    // not the directory the user submitted from.
    if (file !== undefined && file !== '' && (typeof file !== 'string' || !path.isAbsolute(file))) {
      throw new Error(`${this.context.componentName}.outputFile must be an absolute file path, got ${JSON.stringify(file)}`);
    }
    this.outputFile = file || undefined;
    if (this.outputFile) mkdirSync(path.dirname(this.outputFile), { recursive: true });
  }
}

const builder = new TopologyBuilder('top-words').containers(2).config('topN', DEFAULT_TOP_N);
builder
  .setSpout('sentence', () => new SentenceSpout(), 1)
  .outputFields('sentence')
  .config('rate', DEFAULT_SENTENCE_RATE)
  .config('trendMs', DEFAULT_TREND_MS);
builder
  .setBolt('split', () => new SplitBolt(), 2)
  .shuffleGrouping('sentence')
  .outputFields('word');
builder
  .setBolt('counter', () => new CounterBolt(), 2)
  .fieldsGrouping('split', ['word'])
  .outputFields('windowEndsAt', 'top')
  .config('windowMs', DEFAULT_WINDOW_MS)
  .tickFrequency(DEFAULT_WINDOW_MS);
builder
  .setBolt('ranker', () => new RankerBolt(), 1)
  .globalGrouping('counter')
  .outputFields('windowEndsAt', 'top')
  .tickFrequency(DEFAULT_RANKER_TICK_MS);

export default builder.build();
