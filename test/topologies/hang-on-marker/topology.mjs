// A bolt that hangs for good on a marker tuple, to check that the health manager finds the hung
// instance and restarts its container with no one's help. The spout emits numbered tuples at `rate`
// per second (dropping what a pause left unsent), each padded to `padBytes` so that the hung instance's queue reaches the backpressure
// watermark within seconds, and emits the marker once, after `markAfter` tuples; a file (`log` +
// '.marked') remembers it, so a spout restarted with its container does not hang the bolt again.
// The bolt logs JSON lines { event, task, at } to the file `log`: 'prepared' each time an instance
// starts, 'hang' when it gets the marker.
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { TopologyBuilder } from '@ardea/core/api';

class MarkerSpout {
  open(context, collector) {
    this.collector = collector;
    this.rate = Number(context.config.rate);
    this.markAfter = Number(context.config.markAfter);
    this.marked = `${String(context.config.log)}.marked`;
    this.pad = 'x'.repeat(Number(context.config.padBytes));
    this.next = 1;
    this.started = Date.now();
  }
  nextTuple() {
    const behind = Date.now() - this.started - (this.next * 1000) / this.rate;
    if (behind < 0) return;
    // Tuples a pause (backpressure, a restart) left unsent are dropped, not sent in a burst after it:
    // the rate stays what a healthy bolt takes with ease.
    if (behind > 100) this.started += behind - 100;
    const n = this.next++;
    const marker = n > this.markAfter && !existsSync(this.marked);
    if (marker) writeFileSync(this.marked, `${n}\n`);
    this.collector.emit([n, marker ? 1 : 0, this.pad]);
  }
}

// Waiting on a shared word nobody wakes: the call never returns, like an endless loop, without
// taking a core from the machine the tests share.
const never = new Int32Array(new SharedArrayBuffer(4));

class Stuck {
  prepare(context) {
    this.log = String(context.config.log);
    this.task = context.taskId;
    this.write('prepared');
  }
  execute(tuple) {
    if (tuple.getNumber('marker') !== 1) return;
    this.write('hang');
    for (;;) Atomics.wait(never, 0, 0, 1000);
  }
  write(event) {
    appendFileSync(this.log, `${JSON.stringify({ event, task: this.task, at: Date.now() })}\n`);
  }
}

const builder = new TopologyBuilder('hang-on-marker').containers(2);
builder
  .setSpout('numbers', () => new MarkerSpout())
  .outputFields('n', 'marker', 'pad')
  .config('rate', 400)
  .config('markAfter', 2000)
  .config('padBytes', 512);
builder.setBolt('stuck', () => new Stuck(), 1).shuffleGrouping('numbers');
export default builder.build();
