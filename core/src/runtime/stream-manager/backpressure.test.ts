import { beforeEach, describe, expect, it } from 'vitest';
import { BackpressureController, type BackpressureSettings } from './backpressure.js';

const HIGH = 1000;
const LOW = 500;

let time: number;
const clock = () => time;
const controllerWith = (settings: Partial<BackpressureSettings> = {}) =>
  new BackpressureController({ highWatermarkBytes: HIGH, lowWatermarkBytes: LOW, ...settings }, clock);
const start = { announce: 'bp-start', spouts: 'pause' };
const stop = { announce: 'bp-stop', spouts: 'resume' };

beforeEach(() => {
  time = 1000;
});

describe('the backpressure controller, on an instance queue', () => {
  it('starts above the high watermark and stops at the low one, not in between', () => {
    const bp = controllerWith();
    const load = bp.track(7);
    expect(bp.delivered(load, 600)).toBeUndefined();
    expect(bp.delivered(load, 400)).toBeUndefined(); // exactly at the high watermark
    expect(bp.delivered(load, 1)).toMatchObject({ ...start, cause: 'task-7' });
    expect(bp.spoutsPaused).toBe(true);
    expect(bp.announcing).toBe(true);
    expect(bp.consumed(load, 300)).toBeUndefined(); // 701: below high, still above low
    expect(bp.delivered(load, 200)).toBeUndefined(); // 901: no second start
    expect(bp.consumed(load, 400)).toBeUndefined(); // 501
    expect(bp.consumed(load, 1)).toMatchObject({ ...stop, cause: 'task-7' }); // 500: at the low watermark
    expect(bp.spoutsPaused).toBe(false);
    expect(bp.announcing).toBe(false);
    expect(bp.delivered(load, 500)).toBeUndefined(); // 1000 again: not above high, so no start
    expect(load.pendingBytes).toBe(1000);
    expect(load.maxPendingBytes).toBe(1001);
  });

  it('ends the cause of an instance that is removed while over the watermark', () => {
    const bp = controllerWith();
    const removed = bp.track(1);
    const quiet = bp.track(2);
    bp.delivered(quiet, 10);
    expect(bp.delivered(removed, 2000)).toMatchObject(start);
    expect(bp.untrack(quiet)).toBeUndefined();
    expect(bp.untrack(removed)).toMatchObject({ ...stop, cause: 'task-1' });
    expect(bp.announcing).toBe(false);
  });

  it('counts only the backlog of a worker that died, and starts the stall clock again for its successor', () => {
    const bp = controllerWith({ stallMs: 100 });
    const load = bp.track(3);
    bp.delivered(load, 900);
    expect(bp.delivered(load, 900)).toMatchObject(start);
    // 1800 pending, of which 800 arrived after the worker died and wait in its backlog.
    expect(bp.workerLost(load, 800)).toBeUndefined();
    expect(load.pendingBytes).toBe(800);
    expect(load.deliveries).toEqual([]);
    expect(bp.workerLost(load, 300)).toMatchObject(stop);
    expect(load.pendingBytes).toBe(300);

    time += 1000;
    bp.redelivered(load, 2);
    expect(load.deliveries).toEqual([time, time]);
    time += 100;
    expect(bp.checkStalls()).toBeUndefined();
  });
});

describe('the backpressure controller, with several causes', () => {
  it('announces once for all its causes and stops when the last one ends', () => {
    const bp = controllerWith();
    const a = bp.track(1);
    const b = bp.track(2);
    expect(bp.delivered(a, 1500)).toMatchObject({ ...start, cause: 'task-1' });
    expect(bp.delivered(b, 1500)).toBeUndefined();
    expect(bp.peerBacklog(4, 1500)).toBeUndefined();
    expect(bp.peerCongested(4)).toBe(true);
    expect(bp.unplacedBacklog(1500)).toBeUndefined();

    expect(bp.consumed(a, 1500)).toBeUndefined();
    expect(bp.peerBacklog(4, 0)).toBeUndefined();
    expect(bp.unplacedBacklog(0)).toBeUndefined();
    expect(bp.announcing).toBe(true);
    expect(bp.spoutsPaused).toBe(true);
    expect(bp.consumed(b, 1500)).toMatchObject({ ...stop, cause: 'task-2' });
  });

  it('treats a peer connection backlog with the same hysteresis', () => {
    const bp = controllerWith();
    expect(bp.peerBacklog(2, HIGH)).toBeUndefined();
    expect(bp.peerCongested(2)).toBe(false);
    expect(bp.peerBacklog(2, HIGH + 1)).toMatchObject({ ...start, cause: 'peer-2' });
    expect(bp.peerBacklog(2, LOW + 1)).toBeUndefined();
    expect(bp.peerCongested(2)).toBe(true);
    expect(bp.peerBacklog(2, LOW)).toMatchObject({ ...stop, cause: 'peer-2' });
    expect(bp.peerCongested(2)).toBe(false);
  });

  it('treats frames waiting for a plan with the same hysteresis', () => {
    const bp = controllerWith();
    expect(bp.unplacedBacklog(HIGH)).toBeUndefined();
    expect(bp.unplacedBacklog(HIGH + 1)).toMatchObject({ ...start, cause: 'unplaced' });
    expect(bp.unplacedBacklog(LOW + 1)).toBeUndefined();
    expect(bp.unplacedBacklog(LOW)).toMatchObject({ ...stop, cause: 'unplaced' });
  });
});

describe('the backpressure controller, with peers announcing', () => {
  it('pauses the local spouts while any peer announces, without announcing itself', () => {
    const bp = controllerWith();
    const paused = bp.peerAnnounced({ type: 'bp-start', containerId: 2 });
    expect(paused).toEqual({ spouts: 'pause', cause: 'peer-2' });
    expect(bp.peerAnnounced({ type: 'bp-start', containerId: 3 })).toBeUndefined();
    expect(bp.peerAnnounced({ type: 'bp-stop', containerId: 2 })).toBeUndefined();
    expect(bp.spoutsPaused).toBe(true);
    expect(bp.peerAnnounced({ type: 'bp-stop', containerId: 3 })).toEqual({ spouts: 'resume', cause: 'peer-3' });
    expect(bp.announcing).toBe(false);
  });

  it('stops announcing when its own causes end but keeps the spouts paused while a peer announces', () => {
    const bp = controllerWith();
    const load = bp.track(1);
    expect(bp.delivered(load, 2000)).toMatchObject(start);
    expect(bp.peerAnnounced({ type: 'bp-start', containerId: 2 })).toBeUndefined();
    expect(bp.consumed(load, 2000)).toEqual({ announce: 'bp-stop', cause: 'task-1' });
    expect(bp.spoutsPaused).toBe(true);
    expect(bp.peerAnnounced({ type: 'bp-stop', containerId: 2 })).toMatchObject({ spouts: 'resume' });
  });

  it('forgets what a peer announced once its connection closes', () => {
    const bp = controllerWith();
    expect(bp.peerGone(2)).toBeUndefined();
    bp.peerAnnounced({ type: 'bp-start', containerId: 2 });
    bp.peerAnnounced({ type: 'bp-start', containerId: 3 });
    expect(bp.peerGone(2)).toBeUndefined();
    expect(bp.peerGone(3)).toMatchObject({ spouts: 'resume', cause: 'peer-3' });
    expect(bp.spoutsPaused).toBe(false);
  });
});

describe('the backpressure controller, holding spout output', () => {
  it('releases what the spouts emitted while paused, in order, after the resume', () => {
    const bp = controllerWith();
    const [a, b, c] = [new ArrayBuffer(1), new ArrayBuffer(2), new ArrayBuffer(3)];
    bp.peerAnnounced({ type: 'bp-start', containerId: 2 });
    bp.hold([a, b]);
    bp.hold([c]);
    const routed: ArrayBuffer[] = [];
    bp.releaseHeld((frame) => routed.push(frame));
    expect(routed).toEqual([]); // still paused: nothing leaves
    expect(bp.peerAnnounced({ type: 'bp-stop', containerId: 2 })).toEqual({ spouts: 'resume', cause: 'peer-2' });
    bp.releaseHeld((frame) => routed.push(frame));
    expect(routed).toHaveLength(3);
    expect(routed[0]).toBe(a);
    expect(routed[1]).toBe(b);
    expect(routed[2]).toBe(c);
    bp.releaseHeld((frame) => routed.push(frame));
    expect(routed).toHaveLength(3);
  });

  it('stops releasing at the frame that starts backpressure again, so a queue passes the high watermark by one frame at most', () => {
    const bp = controllerWith();
    const load = bp.track(4);
    bp.peerAnnounced({ type: 'bp-start', containerId: 2 });
    const held = Array.from({ length: 10 }, () => new ArrayBuffer(300)); // 3000 bytes, three times the high watermark
    bp.hold(held);
    bp.peerAnnounced({ type: 'bp-stop', containerId: 2 });
    const routed: ArrayBuffer[] = [];
    const deliver = (frame: ArrayBuffer) => {
      routed.push(frame);
      bp.delivered(load, frame.byteLength);
    };
    bp.releaseHeld(deliver);
    expect(routed.length).toBe(4); // 1200 bytes: the fourth frame crossed 1000
    expect(load.maxPendingBytes).toBe(1200);
    expect(bp.spoutsPaused).toBe(true);
    expect(bp.consumed(load, 900)).toMatchObject({ ...stop, cause: 'task-4' }); // 300 left, below the low watermark
    bp.releaseHeld(deliver);
    expect(routed.length).toBe(7); // 300 + 3 × 300 = 1200: again one frame past it
    expect(load.maxPendingBytes).toBe(1200);
    expect(bp.consumed(load, 1200)).toMatchObject({ ...stop, cause: 'task-4' });
    bp.releaseHeld(deliver);
    expect(routed.length).toBe(10);
    routed.forEach((frame, i) => expect(frame).toBe(held[i]));
  });

  it('hands the held output over once, for a plan change to route before its fence', () => {
    const bp = controllerWith();
    const frame = new ArrayBuffer(8);
    bp.peerAnnounced({ type: 'bp-start', containerId: 2 });
    bp.hold([frame]);
    expect(bp.takeHeld()).toEqual([frame]);
    expect(bp.takeHeld()).toEqual([]);
    bp.peerAnnounced({ type: 'bp-stop', containerId: 2 });
    const routed: ArrayBuffer[] = [];
    bp.releaseHeld((held) => routed.push(held));
    expect(routed).toEqual([]);
  });
});

describe('the backpressure controller, time trigger', () => {
  it('starts for an instance whose oldest frame waited longer than stallMs, whatever the bytes', () => {
    const bp = controllerWith({ stallMs: 100 });
    const load = bp.track(5);
    bp.delivered(load, 10);
    time += 100;
    expect(bp.checkStalls()).toBeUndefined();
    time += 1;
    expect(bp.checkStalls()).toMatchObject({ ...start, cause: 'task-5' });
    time += 1;
    expect(bp.checkStalls()).toBeUndefined(); // announced once
    expect(bp.consumed(load, 10)).toMatchObject(stop);
  });

  it('ends a stall only when the oldest waiting frame is young again and the bytes are low', () => {
    const bp = controllerWith({ stallMs: 100 });
    const load = bp.track(5);
    bp.delivered(load, 10); // t0
    time += 10;
    bp.delivered(load, 10); // t0 + 10
    time += 91;
    expect(bp.checkStalls()).toMatchObject(start);
    // The next oldest frame has waited 91 ms, more than half the threshold.
    expect(bp.consumed(load, 10)).toBeUndefined();
    time += 40;
    bp.delivered(load, 2000);
    expect(bp.consumed(load, 10)).toBeUndefined(); // young, but 2000 bytes wait
    expect(bp.consumed(load, 1500)).toMatchObject(stop); // 500 bytes, and nothing old waits
  });

  it('waits four typical batch times for an instance whose batches take long', () => {
    const bp = controllerWith({ stallMs: 100 });
    const load = bp.track(5);
    for (let i = 0; i < 100; i++) {
      bp.delivered(load, 10);
      time += 200;
      bp.consumed(load, 10);
    }
    bp.delivered(load, 10);
    time += 500;
    expect(bp.checkStalls()).toBeUndefined();
    time += 500;
    expect(bp.checkStalls()).toMatchObject(start);
  });

  it('is off with stallMs 0', () => {
    const bp = controllerWith({ stallMs: 0 });
    const load = bp.track(5);
    bp.delivered(load, 10);
    time += 3_600_000;
    expect(bp.checkStalls()).toBeUndefined();
  });

  it('leaves an instance that is already a cause alone', () => {
    const bp = controllerWith({ stallMs: 100 });
    const a = bp.track(1);
    const b = bp.track(2);
    expect(bp.delivered(a, 2000)).toMatchObject(start);
    bp.delivered(b, 10);
    time += 200;
    expect(bp.checkStalls()).toBeUndefined();
    expect(bp.consumed(a, 2000)).toBeUndefined(); // b is stalled now
    expect(bp.consumed(b, 10)).toMatchObject({ ...stop, cause: 'task-2' });
  });
});

describe('the backpressure controller, accounting', () => {
  it('counts per instance the time it was a cause, and the time announced and paused', () => {
    const bp = controllerWith();
    const a = bp.track(1);
    const b = bp.track(2);
    bp.delivered(a, 2000);
    time += 50;
    expect(bp.backpressureMs(a)).toBe(50);
    expect(bp.initiatedMs).toBe(50);
    expect(bp.spoutsPausedMs).toBe(50);
    time += 30;
    bp.consumed(a, 2000);
    time += 20;
    bp.peerAnnounced({ type: 'bp-start', containerId: 3 });
    time += 30;
    expect(bp.spoutsPausedMs).toBe(110);
    bp.peerAnnounced({ type: 'bp-stop', containerId: 3 });
    time += 100;
    bp.delivered(a, 2000);
    time += 5;
    expect(bp.backpressureMs(a)).toBe(85);
    expect(bp.backpressureMs(b)).toBe(0);
    expect(bp.initiatedMs).toBe(85);
    expect(bp.spoutsPausedMs).toBe(115);
  });
});
