import { afterEach, describe, expect, it, vi } from 'vitest';
import { ardea, CLEANUP_TIMEOUT_MS, commandLine, E2E_WAIT_MS, processesOf } from '../support.js';
import { expectMetricsCountEveryId, expectNothingLost, report, SequenceRun, type FaultWindow, type IdCheck } from './sequence-run.js';

let run: SequenceRun | undefined;

afterEach(async () => {
  await run?.cleanup();
  run = undefined;
}, CLEANUP_TIMEOUT_MS);

const RATE = 500;
/**
 * What a killed process may have counted and not yet published: its stream manager sends the
 * counters every 250 ms, so a second of its work (four heartbeats) at `RATE` ids per second.
 */
const UNPUBLISHED_BOUND = RATE;

const sleepUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

/**
 * Runs `fault` at `at` (default: in 2 s) and returns marks of the spout logs from 2 s before it to
 * 1 s after it: what it may lose was emitted in between.
 */
async function around(fault: () => void | Promise<void>, at = Date.now() + 2000): Promise<FaultWindow> {
  await sleepUntil(at - 2000);
  const before = run!.mark();
  await sleepUntil(at);
  await fault();
  await sleepUntil(Date.now() + 1000);
  return { before, after: run!.mark() };
}

/** Drains, then checks that nothing was duplicated and that only ids in flight around the faults are missing. */
async function expectOnlyInFlightLost(scenario: string, ...windows: FaultWindow[]): Promise<IdCheck> {
  await run!.drain();
  const check = run!.check();
  report(scenario, check);
  expect(check.duplicates).toEqual([]);
  expect(run!.missingOutside(check.missing, windows)).toEqual([]);
  expect(check.received).toBeGreaterThan(0);
  return check;
}

/**
 * After a process was killed: the metrics count what the ids show, short only of what the dead
 * process counted after its last heartbeat, and no stream manager dropped a frame.
 */
async function expectMetricsAccountForTheCrash(check: IdCheck): Promise<void> {
  let previous = '';
  await vi.waitFor(
    async () => {
      const view = await run!.metrics();
      const now = JSON.stringify([view.components.ids?.emitted, view.components.sink?.executed]);
      const settled = now === previous;
      previous = now;
      expect(settled).toBe(true);
    },
    { timeout: E2E_WAIT_MS, interval: 2500 },
  );
  const view = await run!.metrics();
  const unpublishedEmits = check.emitted - view.components.ids!.emitted;
  const unpublishedExecutes = check.received - view.components.sink!.executed;
  process.stdout.write(`  not in the metrics: ${unpublishedEmits} emits, ${unpublishedExecutes} executes of the killed process\n`);
  expect(unpublishedEmits).toBeGreaterThanOrEqual(0);
  expect(unpublishedEmits).toBeLessThanOrEqual(UNPUBLISHED_BOUND);
  expect(unpublishedExecutes).toBeGreaterThanOrEqual(0);
  expect(unpublishedExecutes).toBeLessThanOrEqual(UNPUBLISHED_BOUND);
  expect(view.droppedTuples).toBe(0);
}

async function killContainer(id: number, at?: number): Promise<FaultWindow> {
  const pid = (await run!.pids()).get(id)!;
  const window = await around(() => {
    process.kill(pid, 'SIGKILL');
  }, at);
  await run!.restarted(id, pid);
  await run!.receives(2 * RATE);
  return window;
}

async function relayIn(containerId: number): Promise<number> {
  return (await run!.tasks('relay')).find((t) => t.containerId === containerId)!.taskId;
}

/** Each scenario submits, runs, breaks, drains and kills a topology: it takes tens of seconds. */
describe('faults in a running sequence topology', { timeout: 600_000 }, () => {
  it('a worker exit, then SIGKILL of container 1, lose only what was in flight; its counts and restarts stay in the metrics', async () => {
    const interval = 4000;
    run = await SequenceRun.submit({ rate: RATE, metricsIntervalMs: interval });
    await run.receives(2 * RATE);
    const relay = await relayIn(1);
    const exit = await around(() => run!.exitWorker(relay));
    await vi.waitFor(async () => expect((await run!.metrics()).components.relay?.restarts).toBe(1), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });
    // Just before a metrics sample, when the most is unsampled: only heartbeats carry it.
    const at = Date.now() + 2000 + interval - ((Date.now() + 2000) % interval) - 400;
    const kill = await killContainer(1, at);
    const check = await expectOnlyInFlightLost('worker exit and SIGKILL of container 1', exit, kill);
    await expectMetricsAccountForTheCrash(check);
    const view = await run.metrics();
    expect(view.components.relay!.restarts).toBe(1);
    expect(view.streamManagers['stmgr-1']!.restarts).toBe(1);
  });

  it('SIGKILL of container 2 loses only what was in flight in it', async () => {
    run = await SequenceRun.submit({ rate: RATE });
    await run.receives(2 * RATE);
    const window = await killContainer(2);
    const check = await expectOnlyInFlightLost('SIGKILL of container 2', window);
    await expectMetricsAccountForTheCrash(check);
    expect((await run.metrics()).streamManagers['stmgr-2']!.restarts).toBe(1);
  });

  it('SIGKILL of container 0 loses nothing, and the metrics keep what instances scaled away counted', async () => {
    run = await SequenceRun.submit({ rate: RATE });
    await run.update('--component-parallelism', 'relay:1');
    await run.receives(2 * RATE);
    await killContainer(0);
    const check = await expectNothingLost(run, 'SIGKILL of container 0');
    expect((await run.metrics()).components.relay!.executed).toBe(check.received);
  });

  it('a worker that exits loses only what was queued for it; the metrics count it exactly', async () => {
    run = await SequenceRun.submit({ rate: RATE });
    await run.receives(2 * RATE);
    const relay = await relayIn(2);
    const window = await around(() => run!.exitWorker(relay));
    await run.receives(2 * RATE);
    const check = await expectOnlyInFlightLost('worker exit', window);
    await expectMetricsCountEveryId(run, check);
    expect((await run.metrics()).components.relay!.restarts).toBe(1);
  });

  it('SIGKILL of the supervisor stops every container and loses only what was in flight; a restart brings it back', async () => {
    run = await SequenceRun.submit({ rate: RATE });
    await run.receives(2 * RATE);
    const supervisors = processesOf(run.home).filter((pid) => commandLine(pid).includes('supervisor-main.js'));
    expect(supervisors).toHaveLength(1);
    await sleepUntil(Date.now() + 2000);
    const before = run.mark();
    process.kill(supervisors[0]!, 'SIGKILL');
    // Executors notice that their supervisor is gone and stop: no orphan keeps running or emitting.
    await vi.waitFor(() => expect(processesOf(run!.home)).toEqual([]), { timeout: E2E_WAIT_MS, interval: 200 });
    const window = { before, after: run.mark() };
    const listed = await ardea(run.home, 'list', 'local');
    expect(listed.stdout).toMatch(/^sequence\s+SUPERVISOR-LOST\b/m);
    const restart = await ardea(run.home, 'restart', 'local', 'sequence');
    expect(restart.code, restart.stderr).toBe(0);
    await run.receives(2 * RATE);
    const check = await expectOnlyInFlightLost('SIGKILL of the supervisor', window);
    expect((await run.metrics()).droppedTuples).toBe(0);
    expect(check.emitted - check.received).toBe(check.missing.length);
  });

  it('SIGSTOP of a container for a few seconds, then SIGCONT, loses nothing', async () => {
    run = await SequenceRun.submit({ rate: RATE });
    await run.receives(2 * RATE);
    const pid = (await run.pids()).get(1)!;
    process.kill(pid, 'SIGSTOP');
    try {
      await sleepUntil(Date.now() + 3000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await run.receives(2 * RATE);
    expect((await run.pids()).get(1)).toBe(pid);
    await expectNothingLost(run, 'SIGSTOP of container 1');
  });
});
