// A spout as fast as it can go (or `numbers.rate` tuples per second, made up after pauses) into a
// bolt that takes `sink.costMicros` per tuple: the bolt's queue fills, so the engine must apply
// backpressure rather than queue without bound or drop.
import { TopologyBuilder } from '@ardea/core/api';

class Numbers {
  open(context, collector) {
    this.collector = collector;
    this.next = 0;
    this.payload = 'x'.repeat(Number(context.config.payloadBytes ?? 100));
    this.rate = Number(context.config.rate ?? 0);
    this.startedAt = performance.now();
  }
  nextTuple() {
    if (this.rate > 0 && this.next >= ((performance.now() - this.startedAt) / 1000) * this.rate) return;
    this.collector.emit([this.next++, this.payload]);
  }
}

class Sink {
  prepare(context) {
    this.costMicros = Number(context.config.costMicros ?? 200);
  }
  execute() {
    const until = performance.now() + this.costMicros / 1000;
    while (performance.now() < until);
  }
}

const builder = new TopologyBuilder('slow-sink').containers(1);
builder.setSpout('numbers', () => new Numbers()).outputFields('n', 'payload');
builder.setBolt('sink', () => new Sink()).shuffleGrouping('numbers');
export default builder.build();
