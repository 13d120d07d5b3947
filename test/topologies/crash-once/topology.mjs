// A bolt whose worker dies once (an uncaught asynchronous error), to check that the stream manager
// restarts that instance alone: the container process and the other instances keep running.
import { existsSync, writeFileSync } from 'node:fs';
import { TopologyBuilder } from '@ardea/core/api';

class Numbers {
  open(_context, collector) {
    this.collector = collector;
    this.next = 0;
  }
  nextTuple() {
    this.collector.emit([this.next++]);
  }
}

class Fragile {
  prepare(context) {
    this.marker = String(context.config.markerFile);
    this.seen = 0;
  }
  execute() {
    if (++this.seen === 1000 && !existsSync(this.marker)) {
      writeFileSync(this.marker, 'crashed once\n');
      setTimeout(() => {
        throw new Error('fragile bolt crashes on purpose');
      });
    }
  }
}

const builder = new TopologyBuilder('crash-once').containers(1);
builder
  .setSpout('numbers', () => new Numbers())
  .outputFields('n')
  .config('rate', 0);
builder.setBolt('fragile', () => new Fragile()).shuffleGrouping('numbers');
export default builder.build();
