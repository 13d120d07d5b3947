// A spout with a main and a side stream: of `total` tuples, every `sideEvery`-th goes to `side`, the
// rest to `default`. `main` reads `default`, `audit` reads `side`, and `mirror` (two instances) reads
// `side` with all grouping, so each of its instances gets every side tuple.
import { TopologyBuilder } from '@ardea/core/api';

class Source {
  open(context, collector) {
    this.collector = collector;
    this.total = Number(context.config.total);
    this.sideEvery = Number(context.config.sideEvery);
    this.sent = 0;
  }
  nextTuple() {
    if (this.sent >= this.total) return;
    this.sent++;
    if (this.sent % this.sideEvery === 0) this.collector.emit([this.sent], { stream: 'side' });
    else this.collector.emit([this.sent]);
  }
}

class Sink {
  execute() {}
}

const builder = new TopologyBuilder('side-stream').containers(1);
builder
  .setSpout('source', () => new Source())
  .outputFields('n')
  .stream('side', ['n'])
  .config('total', 14_000)
  .config('sideEvery', 14);
builder.setBolt('main', () => new Sink()).shuffleGrouping('source');
builder.setBolt('audit', () => new Sink()).shuffleGrouping('source', 'side');
builder.setBolt('mirror', () => new Sink(), 2).allGrouping('source', 'side');
export default builder.build();
