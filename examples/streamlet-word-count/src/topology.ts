/**
 * Word count with the Streamlet API: the same job as examples/word-count, written as a chain of
 * operators instead of a spout and bolts. Compiled, it is an ordinary topology of five components:
 * `sentence` (source) → `split` (flatMap) → `word` (keyBy) → `count` (countByKey, fields grouping on
 * the word) → `counts` (sink).
 *
 * Settable at submit with `--config-property`:
 * - `sentence.sentences=<N>`: emit sentences 0..N-1 and stop (sentence i is the same text in every
 *   run, see {@link sentenceAt}); 0 (the default) emits for ever.
 * - `counts.out=<directory>`: every count update (`<word> <count>`, one per word read) is appended to
 *   a file of the directory, one per sink instance; without it the sink keeps only the latest count
 *   of each word and logs how many words it has seen at shutdown.
 * - `<component>.parallelism=<n>` as for any topology.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { ComponentContext } from '@ardea/core/api';
import { type Sink, StreamletBuilder } from '@ardea/core/streamlet';

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo'];
const WORDS_PER_SENTENCE = 8;
const VOCABULARY = 500;

function word(index: number): string {
  let text = '';
  for (let n = index + 1; n > 0; n = Math.floor(n / SYLLABLES.length)) text += SYLLABLES[n % SYLLABLES.length];
  return text;
}

/** Sentence `index` of the finite source: the same words in every run, so a test knows every count. */
export function sentenceAt(index: number): string {
  let seed = (0x9e3779b9 ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  const words: string[] = [];
  for (let w = 0; w < WORDS_PER_SENTENCE; w++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    words.push(word(seed % VOCABULARY));
  }
  return words.join(' ');
}

function* sentences(context: ComponentContext): Iterable<string> {
  const raw = context.config.sentences ?? 0;
  const limit = Number(raw);
  if (!Number.isSafeInteger(limit) || limit < 0)
    throw new Error(`sentence.sentences must be a whole number of at least 0, got ${JSON.stringify(raw)}`);
  // Instance k of n takes sentences k, k+n, k+2n…, so any parallelism emits each sentence once.
  for (let i = context.componentIndex; limit === 0 || i < limit; i += context.parallelism) yield sentenceAt(i);
}

/** Appends each update to a file of `out`, or keeps the latest counts when no directory is given. */
class CountsSink implements Sink<[string, number]> {
  private file: number | undefined;
  private readonly latest = new Map<string, number>();
  private context!: ComponentContext;

  open(context: ComponentContext): void {
    this.context = context;
    const out = context.config.out;
    if (out === undefined) return;
    if (typeof out !== 'string' || !path.isAbsolute(out))
      throw new Error(`counts.out must be an absolute directory path, got ${JSON.stringify(out)}`);
    this.file = openSync(path.join(out, `counts-${context.taskId}.txt`), 'a');
  }

  put([word, count]: [string, number]): void {
    if (this.file !== undefined) writeSync(this.file, `${word} ${count}\n`);
    else this.latest.set(word, count);
  }

  close(): void {
    if (this.file !== undefined) closeSync(this.file);
    else this.context.logger.info(`counts: ${this.latest.size} distinct words counted`);
  }
}

const builder = StreamletBuilder.create('streamlet-word-count').containers(2);
builder
  .fromIterable(sentences)
  .setName('sentence')
  .flatMap((sentence) => sentence.split(' '))
  .setName('split')
  .setNumPartitions(2)
  .keyBy((w) => w)
  .setName('word')
  .countByKey()
  .setName('count')
  .setNumPartitions(2)
  .toSink(() => new CountsSink())
  .setName('counts')
  .setNumPartitions(1);

export default builder.build();
