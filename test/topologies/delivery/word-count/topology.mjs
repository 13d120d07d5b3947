// A stateful word count for the effectively-once tests: every word's final count is known exactly
// (sentences.mjs), and the output only ever shows committed checkpoints, so a test can tell whether a
// failure or a rescale lost an update or applied one twice.
//
// `sentence` (parallelism 1) emits sentences 0..`sentence.sentences`-1 at `sentence.rate` per second
// and keeps its next index in its state. `split` (shuffle) breaks them into words. `count` (fields
// grouping on the word) keeps each word's count in keyed state and emits (word, count) on every
// update; `count.costMicros` makes each word wait that long (no CPU), to saturate it. `sink` (global
// grouping, parallelism 1) keeps the highest count seen per word in its state — counts of one word
// only grow, so that is its latest, however a rescale interleaved the streams of two count instances
// — and when checkpoint c is committed (postSave) writes the counts as of c, staged in preSave(c), to
// `<sink.outputDir>/counts.json` (tmp + rename), as {checkpointId, words, counts, regressions,
// updatesByCountTask}. The last two are what this sink process saw, not state: `regressions` counts
// updates that arrived no higher than a count already seen (reordered or repeated), and
// `updatesByCountTask` the updates from each count task — instances a rescale added show there only
// if they counted words, that is if the rescale came while the source still ran.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TopologyBuilder } from '@ardea/core/api';
import { sentenceOf } from './sentences.mjs';

/** The sink's state key of the checkpoint its state belongs to; words never start with '#'. */
const CHECKPOINT_KEY = '#checkpoint';
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function wholeNumber(context, key, min) {
  const value = Number(context.config[key] ?? 0);
  if (!Number.isSafeInteger(value) || value < min) {
    const raw = JSON.stringify(context.config[key]);
    throw new Error(`${context.componentName}.${key} must be a whole number of at least ${min}, got ${raw}`);
  }
  return value;
}

class Sentences {
  open(context, collector) {
    this.collector = collector;
    this.limit = wholeNumber(context, 'sentences', 1);
    this.rate = wholeNumber(context, 'rate', 0);
    this.next = 0;
    this.tokens = 0;
    this.refilledAt = performance.now();
  }
  initState(state) {
    this.state = state;
    this.next = state.get('next') ?? 0;
  }
  preSave() {
    this.state.put('next', this.next);
  }
  nextTuple() {
    if (this.next >= this.limit) return;
    if (this.rate > 0) {
      // At most 50 ms of sentences at once: time paused by backpressure is not made up in a burst.
      const now = performance.now();
      this.tokens = Math.min(Math.max(1, this.rate * 0.05), this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
      this.refilledAt = now;
      if (this.tokens < 1) return;
      this.tokens--;
    }
    this.collector.emit([sentenceOf(this.next++)]);
  }
}

class Split {
  prepare(context, collector) {
    this.collector = collector;
  }
  execute(tuple) {
    for (const word of tuple.getString('sentence').split(' ')) this.collector.emit([word]);
  }
}

class Count {
  prepare(context, collector) {
    this.collector = collector;
    this.costMicros = Number(context.config.costMicros ?? 0);
  }
  onConfigChange(config) {
    this.costMicros = Number(config.costMicros ?? 0);
  }
  initState(state) {
    this.state = state;
  }
  execute(tuple) {
    const word = tuple.getString('word');
    const count = (this.state.get(word) ?? 0) + 1;
    this.state.put(word, count);
    if (this.costMicros > 0) Atomics.wait(sleeper, 0, 0, this.costMicros / 1000);
    this.collector.emit([word, count]);
  }
}

class LatestCounts {
  prepare(context) {
    const dir = context.config.outputDir;
    if (typeof dir !== 'string' || !path.isAbsolute(dir))
      throw new Error(`sink.outputDir must be an absolute directory path, got ${JSON.stringify(dir)}`);
    mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, 'counts.json');
    this.staged = new Map();
    this.regressions = 0;
    this.updatesByCountTask = {};
  }
  initState(state) {
    this.state = state;
    this.staged.clear();
    // Restored from checkpoint c: publish it again, in case the process died after c was committed
    // and before its postSave wrote it. The same c always has the same counts.
    const checkpoint = state.get(CHECKPOINT_KEY);
    if (typeof checkpoint === 'number') this.publish(checkpoint, this.snapshot());
  }
  execute(tuple) {
    const word = tuple.getString('word');
    const count = tuple.getNumber('count');
    this.updatesByCountTask[tuple.sourceTask] = (this.updatesByCountTask[tuple.sourceTask] ?? 0) + 1;
    const held = this.state.get(word) ?? 0;
    if (count > held) this.state.put(word, count);
    else this.regressions++;
  }
  preSave(checkpointId) {
    this.state.put(CHECKPOINT_KEY, checkpointId);
    this.staged.set(checkpointId, this.snapshot());
  }
  postSave(checkpointId) {
    const counts = this.staged.get(checkpointId);
    for (const id of this.staged.keys()) if (id <= checkpointId) this.staged.delete(id);
    if (counts) this.publish(checkpointId, counts);
  }
  snapshot() {
    const counts = {};
    for (const [word, count] of this.state.entries()) if (word !== CHECKPOINT_KEY) counts[word] = count;
    return counts;
  }
  publish(checkpointId, counts) {
    // A restore goes back to the latest committed checkpoint, never behind what was published; the
    // check keeps it so even if hooks arrive late.
    try {
      if (JSON.parse(readFileSync(this.file, 'utf8')).checkpointId > checkpointId) return;
    } catch {
      // Nothing published yet.
    }
    const words = Object.values(counts).reduce((a, b) => a + b, 0);
    const tmp = `${this.file}.${process.pid}.tmp`;
    const seen = { regressions: this.regressions, updatesByCountTask: this.updatesByCountTask };
    writeFileSync(tmp, JSON.stringify({ checkpointId, words, counts, ...seen }));
    renameSync(tmp, this.file);
  }
}

const builder = new TopologyBuilder('stateful-word-count').containers(2).config('reliability', 'effectively-once');
builder.setSpout('sentence', () => new Sentences(), 1).outputFields('sentence');
builder
  .setBolt('split', () => new Split(), 2)
  .shuffleGrouping('sentence')
  .outputFields('word');
builder
  .setBolt('count', () => new Count(), 2)
  .fieldsGrouping('split', ['word'])
  .outputFields('word', 'count');
builder.setBolt('sink', () => new LatestCounts(), 1).globalGrouping('count');
export default builder.build();
