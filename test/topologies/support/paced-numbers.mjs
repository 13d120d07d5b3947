// A spout emitting [n, emittedAt] for n = 1, 2, … at `rate` tuples per second (its config), paced
// from its start: tuple n is due n / rate seconds in. Shared by test topologies; bundled into each.
export class PacedNumbers {
  open(context, collector) {
    this.collector = collector;
    this.rate = Number(context.config.rate);
    this.next = 1;
    this.started = Date.now();
  }
  nextTuple() {
    if (Date.now() - this.started < (this.next * 1000) / this.rate) return;
    this.collector.emit([this.next++, Date.now()]);
  }
}
