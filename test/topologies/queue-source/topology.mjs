// A spout reading an external queue that `rate` messages per second arrive in, whether or not the
// spout keeps up, into a bolt that waits `sink.costMicros` per message (no CPU): the queue's backlog
// grows, and the spout reports it through `backlog()`. With `source.log=<file>`, every call of
// `backlog()` appends `<Date.now()> <messages arrived so far>` to the file.
import { appendFileSync } from 'node:fs';
import { TopologyBuilder } from '@ardea/core/api';

class QueueConsumer {
  open(context, collector) {
    this.collector = collector;
    this.rate = Number(context.config.rate ?? 1000);
    this.startedAt = performance.now();
    this.consumed = 0;
    this.payload = 'x'.repeat(200);
    this.log = context.config.log;
  }
  arrived() {
    return Math.floor(((performance.now() - this.startedAt) / 1000) * this.rate);
  }
  nextTuple() {
    if (this.consumed < this.arrived()) this.collector.emit([this.consumed++, this.payload]);
  }
  backlog() {
    const arrived = this.arrived();
    if (this.log) appendFileSync(this.log, `${Date.now()} ${arrived}\n`);
    return arrived - this.consumed;
  }
}

class Sink {
  prepare(context) {
    this.costMicros = Number(context.config.costMicros ?? 1000);
    this.wait = new Int32Array(new SharedArrayBuffer(4));
  }
  execute() {
    Atomics.wait(this.wait, 0, 0, this.costMicros / 1000);
  }
}

const builder = new TopologyBuilder('queue-source').containers(1);
builder.setSpout('source', () => new QueueConsumer()).outputFields('n', 'payload');
builder.setBolt('sink', () => new Sink()).shuffleGrouping('source');
export default builder.build();
