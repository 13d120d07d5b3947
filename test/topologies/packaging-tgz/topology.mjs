// Uses a real dependency from the registry (camelcase), which a .tgz made by npm pack does not carry:
// the CLI installs it before bundling. `words` emits the phrases below once; `camel` appends each
// in camel case to the file `camel.out`.
import { appendFileSync } from 'node:fs';
import camelCase from 'camelcase';
import { TopologyBuilder } from '@ardea/core/api';

const PHRASES = ['stream processing', 'heron-lineage', 'packages_that_build', 'Ardea topology'];

class Words {
  open(_context, collector) {
    this.collector = collector;
    this.next = 0;
  }
  nextTuple() {
    if (this.next < PHRASES.length) this.collector.emit([PHRASES[this.next++]]);
  }
}

class Camel {
  prepare(context) {
    this.file = String(context.config.out);
  }
  execute(tuple) {
    appendFileSync(this.file, `${camelCase(tuple.getString('phrase'))}\n`);
  }
}

const builder = new TopologyBuilder('packaging-tgz');
builder.setSpout('words', () => new Words()).outputFields('phrase');
builder.setBolt('camel', () => new Camel()).globalGrouping('words');
export default builder.build();
