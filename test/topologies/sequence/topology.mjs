// Every tuple is a unique id, written down where it is emitted and where it arrives, so a test can
// tell exactly which tuples a fault lost or duplicated (see test/faults/).
//
// `ids` (spout) emits `<task>.<process>.<sequence>` at `ids.rate` ids per second per instance and
// appends each id to its log before emitting it: the emitted logs hold a superset of what left the
// spouts. `relay` passes ids on (shuffle grouping from ids) to `sink` (fields grouping on the id),
// which appends every id it receives to its log; each relay logs what it passed on, too. Logs are per process (`<task>-<process>`), in the
// directory named by the `logDir` config of each component. Both bolts write their
// `context.parallelism` to `parallelism-<component>-<task>` whenever it changes, and a bolt
// instance whose trigger file `exit-<task>` appears takes it and ends its worker thread.
import { randomBytes } from 'node:crypto';
import { openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { TopologyBuilder } from '@ardea/core/api';

function openLog(context, kind) {
  const dir = String(context.config.logDir);
  const file = path.join(dir, `${kind}-${context.taskId}-${randomBytes(4).toString('hex')}.log`);
  return { dir, fd: openSync(file, 'a') };
}

class Ids {
  open(context, collector) {
    this.collector = collector;
    this.prefix = `${context.taskId}.${randomBytes(4).toString('hex')}.`;
    this.log = openLog(context, 'emitted');
    this.sequence = 0;
    this.rate = Number(context.config.rate ?? 500);
    this.tokens = 0;
    this.refilledAt = performance.now();
  }
  nextTuple() {
    const now = performance.now();
    // At most 20 ms of ids at once: time spent paused or deactivated is not made up in a burst.
    this.tokens = Math.min(this.rate / 50, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
    if (this.tokens < 1) return;
    this.tokens--;
    const id = this.prefix + this.sequence++;
    writeSync(this.log.fd, `${id}\n`);
    this.collector.emit([id]);
  }
}

/** Reports the instance's parallelism when it changes, and ends the worker when its trigger appears. */
class Observed {
  prepare(context, collector) {
    this.context = context;
    this.collector = collector;
    this.dir = String(context.config.logDir);
    this.reported = undefined;
    this.report();
    const trigger = path.join(this.dir, `exit-${context.taskId}`);
    setInterval(() => {
      try {
        // Only one process can take the trigger, so a restarted worker does not exit again.
        renameSync(trigger, `${trigger}.taken`);
      } catch {
        return;
      }
      process.exit(3);
    }, 50).unref();
  }
  report() {
    if (this.context.parallelism === this.reported) return;
    this.reported = this.context.parallelism;
    writeFileSync(path.join(this.dir, `parallelism-${this.context.componentName}-${this.context.taskId}`), String(this.reported));
  }
}

class Relay extends Observed {
  prepare(context, collector) {
    super.prepare(context, collector);
    this.log = openLog(context, 'relayed');
  }
  execute(tuple) {
    this.report();
    const id = tuple.getString('id');
    // Where a lost id got to: a relay's log tells a loss before the relay from one after it.
    writeSync(this.log.fd, `${id}\n`);
    this.collector.emit([id]);
  }
}

class Sink extends Observed {
  prepare(context, collector) {
    super.prepare(context, collector);
    this.log = openLog(context, 'received');
  }
  execute(tuple) {
    this.report();
    writeSync(this.log.fd, `${tuple.getString('id')}\n`);
  }
}

const builder = new TopologyBuilder('sequence').containers(2);
builder.setSpout('ids', () => new Ids(), 2).outputFields('id');
builder
  .setBolt('relay', () => new Relay(), 2)
  .shuffleGrouping('ids')
  .outputFields('id');
builder.setBolt('sink', () => new Sink(), 2).fieldsGrouping('relay', ['id']);
export default builder.build();
