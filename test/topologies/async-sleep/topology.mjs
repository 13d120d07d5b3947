// An I/O-bound bolt: `lookup` awaits a timer of `lookup.delayMs` per tuple (no CPU), so one instance
// does at most maxInFlight / delay tuples per second. `numbers` emits 0, 1, 2, ... at `numbers.rate`
// per second (0: as fast as backpressure lets it), up to `numbers.count` of them (0: no end).
// `lookup.delayMode=varied` gives every tuple its own delay (1 to 23 ms), so concurrent executes
// finish out of input order; `sink` (one instance) appends what it gets to `sink.logFile` if set.
// `lookup.failEvery=k` makes every k-th execute reject.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { TopologyBuilder } from '@ardea/core/api';

class Numbers {
  open(context, collector) {
    this.collector = collector;
    this.next = 0;
    this.rate = Number(context.config.rate ?? 0);
    this.count = Number(context.config.count ?? 0);
    this.tokens = 0;
    this.refilledAt = performance.now();
  }
  nextTuple() {
    if (this.count > 0 && this.next >= this.count) return;
    if (this.rate > 0) {
      const now = performance.now();
      // At most 20 ms of tuples at once: time spent paused is not made up in a burst.
      this.tokens = Math.min(Math.max(1, this.rate / 50), this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
      this.refilledAt = now;
      if (this.tokens < 1) return;
      this.tokens--;
    }
    this.collector.emit([this.next++]);
  }
}

class Lookup {
  prepare(context, collector) {
    this.collector = collector;
    this.delayMs = Number(context.config.delayMs ?? 20);
    this.varied = context.config.delayMode === 'varied';
    this.failEvery = Number(context.config.failEvery ?? 0);
  }
  async execute(tuple) {
    const n = tuple.values[0];
    await sleep(this.varied ? 1 + ((n * 7919) % 23) : this.delayMs);
    if (this.failEvery > 0 && n % this.failEvery === this.failEvery - 1) throw new Error(`lookup of ${n} failed`);
    this.collector.emit([n, n * 2]);
  }
}

class Sink {
  prepare(context) {
    this.logFile = context.config.logFile === undefined ? undefined : String(context.config.logFile);
  }
  execute(tuple) {
    if (this.logFile === undefined) return;
    appendFileSync(this.logFile, `${tuple.values[0]} ${tuple.values[1]}\n`);
  }
}

const builder = new TopologyBuilder('async-sleep').containers(1);
builder.setSpout('numbers', () => new Numbers()).outputFields('n');
builder
  .setBolt('lookup', () => new Lookup())
  .shuffleGrouping('numbers')
  .outputFields('n', 'doubled');
builder.setBolt('sink', () => new Sink()).globalGrouping('lookup');
export default builder.build();
