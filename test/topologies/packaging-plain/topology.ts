// A TypeScript entry with no build step and no node_modules of its own: the CLI bundles it as it is
// and takes @ardea/core from its own installation. `numbers` emits 1..`numbers.count`; `squares`
// appends `<n> <n*n>` per tuple to the file `squares.out`.
import { appendFileSync } from 'node:fs';
import { Bolt, ComponentContext, Spout, SpoutOutputCollector, TopologyBuilder, Tuple } from '@ardea/core/api';

class Numbers implements Spout {
  private collector!: SpoutOutputCollector;
  private next = 1;
  private count = 0;
  open(context: ComponentContext, collector: SpoutOutputCollector): void {
    this.collector = collector;
    this.count = Number(context.config['count'] ?? 5);
  }
  nextTuple(): void {
    if (this.next <= this.count) this.collector.emit([this.next++]);
  }
}

class Squares implements Bolt {
  private file = '';
  prepare(context: ComponentContext): void {
    this.file = String(context.config['out']);
  }
  execute(tuple: Tuple): void {
    const n = tuple.getNumber('n');
    appendFileSync(this.file, `${n} ${n * n}\n`);
  }
}

const builder = new TopologyBuilder('packaging-plain');
builder.setSpout('numbers', () => new Numbers()).outputFields('n');
builder.setBolt('squares', () => new Squares()).globalGrouping('numbers');
export default builder.build();
