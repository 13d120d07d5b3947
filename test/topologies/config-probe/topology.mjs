// Records the config each instance of `probe` opens with and every change it is given, one JSON line
// per event in the file `probe.log`. It refuses `mode: picky` in onConfigChange, and its worker dies
// once (an uncaught asynchronous error) when `limit` becomes 13. `plain` declares no runtime keys.
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { TopologyBuilder } from '@ardea/core/api';

class Probe {
  open(context) {
    this.log = String(context.config.log);
    this.task = context.taskId;
    this.record('open', context.config);
  }
  onConfigChange(config) {
    if (config.mode === 'picky') throw new Error('picky mode is not supported by this probe');
    this.record('change', config);
    if (config.limit === 13 && !existsSync(`${this.log}.crashed`)) {
      writeFileSync(`${this.log}.crashed`, 'crashed once\n');
      setTimeout(() => {
        throw new Error('probe crashes on purpose');
      });
    }
  }
  record(event, config) {
    appendFileSync(this.log, `${JSON.stringify({ event, task: this.task, limit: config.limit, mode: config.mode ?? null })}\n`);
  }
  nextTuple() {}
}

class Plain {
  execute() {}
}

const builder = new TopologyBuilder('config-probe').containers(1);
builder
  .setSpout('probe', () => new Probe())
  .outputFields('n')
  .config('limit', 10)
  .runtimeConfig('limit', { type: 'integer', min: 0 })
  .runtimeConfig('mode', { type: 'enum', values: ['calm', 'picky'] });
builder
  .setBolt('plain', () => new Plain())
  .shuffleGrouping('probe')
  .config('threshold', 5);
export default builder.build();
