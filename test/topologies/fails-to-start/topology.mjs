// Components that throw while starting, to check that submit and update fail at once with the
// instance, its component and the exception, instead of waiting for containers that cannot run.
// `sink.failFromIndex=<n>`: sink instances with componentIndex >= n throw in prepare (default 0: all).
// `source.failInOpen=true`: the spout throws in open.
import { TopologyBuilder } from '@ardea/core/api';

class Source {
  open(context, collector) {
    if (context.config.failInOpen === true) throw new Error('source cannot open its queue');
    this.collector = collector;
    this.next = 0;
  }
  nextTuple() {
    this.collector.emit([this.next++]);
  }
}

class Sink {
  prepare(context) {
    if (context.componentIndex >= Number(context.config.failFromIndex ?? 0)) {
      throw new Error(`sink ${context.componentIndex} cannot reach its database`);
    }
  }
  execute() {}
}

const builder = new TopologyBuilder('fails-to-start').containers(2);
builder
  .setSpout('source', () => new Source())
  .outputFields('n')
  .config('rate', 1000);
builder.setBolt('sink', () => new Sink()).shuffleGrouping('source');
export default builder.build();
