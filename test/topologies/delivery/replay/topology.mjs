// At-least-once acking and replay, seen from the spout: a test reads the spout's event log to tell
// which ids were acked and failed, and in what order.
//
// `ids` (parallelism 1) emits ids 0..`ids.count`-1 at `ids.rate` per second, each with itself as
// message id, and re-emits a failed id before any new one. It appends `ack <id>` or `fail <id>` to
// the file `ids.eventLog` for every ack and fail it is called with. `flaky` (fields grouping on the
// id, so a replay reaches the instance that saw the first attempt) acks and fails explicitly, by
// `flaky.mode`:
// - `fail-once`: fails the first attempt of every id; passes the second on (anchored) and acks it.
// - `hold`: never acks or fails the first attempt of id `flaky.holdId`, so only the message timeout
//   fails it; passes every other attempt on and acks it.
// `sink` acks through autoAck.
import { openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { TopologyBuilder } from '@ardea/core/api';

class Ids {
  open(context, collector) {
    this.collector = collector;
    this.count = Number(context.config.count);
    this.rate = Number(context.config.rate ?? 0);
    const log = context.config.eventLog;
    if (!Number.isSafeInteger(this.count) || this.count < 1)
      throw new Error(`ids.count must be a whole number of at least 1, got ${JSON.stringify(context.config.count)}`);
    if (typeof log !== 'string' || !path.isAbsolute(log))
      throw new Error(`ids.eventLog must be an absolute file path, got ${JSON.stringify(log)}`);
    this.log = openSync(log, 'a');
    this.next = 0;
    this.replays = [];
    this.pending = new Set();
    this.started = performance.now();
    this.emitted = 0;
  }
  nextTuple() {
    // Paced from the start, replays included: tuple n is due n / rate seconds in.
    if (this.rate > 0 && this.emitted >= ((performance.now() - this.started) / 1000) * this.rate) return;
    const id = this.replays.length > 0 ? this.replays.shift() : this.next < this.count ? this.next++ : undefined;
    if (id === undefined) return;
    this.emitted++;
    this.pending.add(id);
    this.collector.emit([id], { messageId: id });
  }
  ack(id) {
    writeSync(this.log, `ack ${id}\n`);
    this.pending.delete(id);
  }
  fail(id) {
    writeSync(this.log, `fail ${id}\n`);
    if (this.pending.delete(id)) this.replays.push(id);
  }
}

class Flaky {
  prepare(context, collector) {
    this.collector = collector;
    this.mode = context.config.mode;
    this.holdId = Number(context.config.holdId ?? 0);
    if (this.mode !== 'fail-once' && this.mode !== 'hold')
      throw new Error(`flaky.mode must be 'fail-once' or 'hold', got ${JSON.stringify(this.mode)}`);
    this.seen = new Set();
  }
  execute(tuple) {
    const id = tuple.getNumber('id');
    const first = !this.seen.has(id);
    this.seen.add(id);
    if (first && this.mode === 'fail-once') return this.collector.fail(tuple);
    if (first && this.mode === 'hold' && id === this.holdId) return;
    this.collector.emit([id], { anchors: tuple });
    this.collector.ack(tuple);
  }
}

class Sink {
  execute() {}
}

const builder = new TopologyBuilder('delivery-replay').containers(2).config('reliability', 'at-least-once');
builder.setSpout('ids', () => new Ids(), 1).outputFields('id');
builder
  .setBolt('flaky', () => new Flaky(), 2)
  .fieldsGrouping('ids', ['id'])
  .outputFields('id');
builder
  .setBolt('sink', () => new Sink(), 2)
  .autoAck()
  .shuffleGrouping('flaky');
export default builder.build();
