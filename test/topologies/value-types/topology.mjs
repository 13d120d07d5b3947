// Sends one tuple of every supported value type, a tuple just under the size limit and one just over
// it, to a sink in the spout's container (delivered in process) and one in another container (over
// TCP). Each sink checks every value against what was sent and writes its verdicts to `outDir`.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual, inspect } from 'node:util';
import { TopologyBuilder } from '@ardea/core/api';
import { cases } from './cases.mjs';

class Source {
  open(context, collector) {
    this.collector = collector;
    this.outDir = String(context.config.outDir);
    this.nearLimitBytes = Number(context.config.nearLimitBytes);
    this.steps = [
      ...cases().map(
        ([name, value]) =>
          () =>
            collector.emit([name, value]),
      ),
      () => collector.emit(['near limit', Buffer.alloc(this.nearLimitBytes, 0x5a)]),
      () => this.refused(() => collector.emit(['over limit', Buffer.alloc(this.nearLimitBytes + 1, 0x5a)])),
      () => this.refused(() => collector.emit(['function', { items: [0, { fn: () => 1 }] }])),
      // Left uncaught, so the runner counts it as an error.
      () => collector.emit(['uncaught', Symbol('never sent')]),
      () => collector.emit(['done', null]),
    ];
    this.refusals = [];
  }

  refused(emit) {
    try {
      emit();
      this.refusals.push({ name: 'none' });
    } catch (error) {
      this.refusals.push({ name: error.name, code: error.code, message: error.message });
    }
  }

  nextTuple() {
    const step = this.steps.shift();
    if (!step) return;
    if (this.steps.length === 0) writeFileSync(path.join(this.outDir, 'source.json'), JSON.stringify({ refusals: this.refusals }));
    step();
  }
}

class Sink {
  prepare(context) {
    this.outDir = String(context.config.outDir);
    this.taskId = context.taskId;
    this.expected = new Map(cases());
    this.expected.set('near limit', Buffer.alloc(Number(context.config.nearLimitBytes), 0x5a));
    this.verdicts = [];
  }

  execute(tuple) {
    const name = tuple.getString('name');
    if (name === 'done') {
      writeFileSync(path.join(this.outDir, `sink-${this.taskId}.json`), JSON.stringify(this.verdicts));
      return;
    }
    const value = tuple.get('value');
    const same = this.expected.has(name) && isDeepStrictEqual(value, this.expected.get(name));
    this.verdicts.push([name, same ? 'same' : `differs: ${inspect(value, { depth: 4, maxArrayLength: 20, maxStringLength: 80 })}`]);
  }
}

const builder = new TopologyBuilder('value-types').containers(2);
builder.setSpout('source', () => new Source()).outputFields('name', 'value');
builder.setBolt('sink', () => new Sink(), 2).allGrouping('source');
export default builder.build();
