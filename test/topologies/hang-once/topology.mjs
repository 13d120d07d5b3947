// A bolt whose instance that gets tuple number `hangAt` loops forever (once: a marker file remembers
// it), to check that the stream manager notices the hung worker, restarts it, and routes around it
// meanwhile. Every executed tuple is logged as a JSON line { task, n, emittedAt } to the file `log`;
// the hang and the restarted instance's prepare (which takes `restartPrepareMs`) are logged too.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { TopologyBuilder } from '@ardea/core/api';
import { PacedNumbers } from '../support/paced-numbers.mjs';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

class Work {
  prepare(context) {
    this.log = String(context.config.log);
    this.task = context.taskId;
    this.hangAt = Number(context.config.hangAt);
    const marker = `${this.log}.hung`;
    if (existsSync(marker) && Number(readFileSync(marker, 'utf8')) === this.task && !existsSync(`${marker}.restarted`)) {
      writeFileSync(`${marker}.restarted`, 'restarted\n');
      Atomics.wait(sleeper, 0, 0, Number(context.config.restartPrepareMs));
      this.write({ event: 'prepared', task: this.task, at: Date.now() });
    }
  }
  execute(tuple) {
    const n = tuple.getNumber('n');
    this.write({ task: this.task, n, emittedAt: tuple.getNumber('emittedAt') });
    if (n === this.hangAt && !existsSync(`${this.log}.hung`)) {
      writeFileSync(`${this.log}.hung`, String(this.task));
      this.write({ event: 'hang', task: this.task, at: Date.now() });
      for (;;);
    }
  }
  write(entry) {
    appendFileSync(this.log, `${JSON.stringify(entry)}\n`);
  }
}

const builder = new TopologyBuilder('hang-once').containers(2);
builder
  .setSpout('numbers', () => new PacedNumbers())
  .outputFields('n', 'emittedAt')
  .config('rate', 300);
builder
  .setBolt('work', () => new Work(), 3)
  .shuffleGrouping('numbers')
  .config('hangAt', 600)
  .config('restartPrepareMs', 2000);
export default builder.build();
