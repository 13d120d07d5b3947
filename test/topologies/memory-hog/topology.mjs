// A bolt with 256 MiB of RAM whose instance that gets tuple number `hogAt` starts holding Buffers
// (outside the V8 heap, which resourceLimits does not bound): 32 MiB every 50 ms, up to `maxBytes`
// (a cap, so a build without RAM enforcement does not take the machine's memory). Once only: a
// marker file remembers it. Events go to the file `log` as JSON lines.
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { TopologyBuilder } from '@ardea/core/api';
import { PacedNumbers } from '../support/paced-numbers.mjs';

class Hog {
  prepare(context) {
    this.log = String(context.config.log);
    this.task = context.taskId;
    this.hogAt = Number(context.config.hogAt);
    this.maxBytes = Number(context.config.maxBytes);
    this.kept = [];
    this.write({ event: 'prepared', task: this.task, at: Date.now() });
  }
  execute(tuple) {
    if (tuple.getNumber('n') !== this.hogAt || existsSync(`${this.log}.hogged`)) return;
    writeFileSync(`${this.log}.hogged`, String(this.task));
    this.write({ event: 'hogging', task: this.task, at: Date.now() });
    const timer = setInterval(() => {
      if (this.kept.length * 32 * 1024 * 1024 >= this.maxBytes) return clearInterval(timer);
      this.kept.push(Buffer.alloc(32 * 1024 * 1024, 1));
    }, 50);
  }
  write(entry) {
    appendFileSync(this.log, `${JSON.stringify(entry)}\n`);
  }
}

const builder = new TopologyBuilder('memory-hog').containers(1);
builder
  .setSpout('numbers', () => new PacedNumbers())
  .outputFields('n', 'emittedAt')
  .config('rate', 200)
  .resources({ ram: '192MiB' });
builder
  .setBolt('hog', () => new Hog())
  .shuffleGrouping('numbers')
  .resources({ ram: '256MiB' })
  .config('hogAt', 200)
  .config('maxBytes', 1536 * 1024 * 1024);
export default builder.build();
