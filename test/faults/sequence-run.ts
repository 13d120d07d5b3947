import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, vi } from 'vitest';
import { createArdea, type Ardea, type MetricsView } from '@ardea/core';
import { ardea, E2E_WAIT_MS, freshHome, localContainerLogTails, removeHome, repoRoot } from '../support.js';

export const SEQUENCE = path.join(repoRoot, 'test', 'topologies', 'sequence');
export const NAME = 'sequence';

/** Where each emitted id stands in its spout process's log: a position marks a point in time. */
export type LogMark = ReadonlyMap<string, number>;

/** Marks taken before and after a fault: ids emitted in between may have been in flight when it struck. */
export interface FaultWindow {
  readonly before: LogMark;
  readonly after: LogMark;
}

export interface IdCheck {
  readonly emitted: number;
  readonly received: number;
  /** Emitted (written to a spout's log) and never received. */
  readonly missing: readonly string[];
  /** Received more than once. */
  readonly duplicates: readonly string[];
}

function readLines(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return text.length === 0 ? [] : text.slice(0, text.endsWith('\n') ? -1 : undefined).split('\n');
}

/**
 * One submission of the sequence topology (test/topologies/sequence) under its own ARDEA_HOME, and
 * the exact accounting of its ids: which were emitted, which arrived, which were lost.
 */
export class SequenceRun {
  private constructor(
    readonly home: string,
    readonly logDir: string,
    readonly client: Ardea,
  ) {}

  /** Submits the topology: `rate` ids per second per spout instance, and any further properties. */
  static async submit(options: { rate?: number; metricsIntervalMs?: number; properties?: readonly string[] } = {}): Promise<SequenceRun> {
    const home = freshHome('ardea-faults-');
    const logDir = path.join(home, 'ids');
    mkdirSync(logDir);
    const properties = [
      `topology.metricsIntervalMs=${options.metricsIntervalMs ?? 500}`,
      'topology.healthManager=false',
      `ids.rate=${options.rate ?? 500}`,
      ...['ids', 'relay', 'sink'].map((component) => `${component}.logDir=${logDir}`),
      ...(options.properties ?? []),
    ];
    const client = await createArdea({ cluster: 'local', env: { ...process.env, ARDEA_HOME: home } });
    const run = new SequenceRun(home, logDir, client);
    const submit = await ardea(home, 'submit', 'local', SEQUENCE, ...properties.flatMap((p) => ['--config-property', p]));
    if (submit.code !== 0) {
      await run.cleanup();
      throw new Error(`submitting the sequence topology failed: ${submit.stderr}`);
    }
    return run;
  }

  /** Stops everything the run started, whatever state it is in (stopped processes too), and removes its files. */
  async cleanup(): Promise<void> {
    await this.client.close().catch(() => undefined);
    await removeHome(this.home);
  }

  private logs(kind: 'emitted' | 'relayed' | 'received'): string[] {
    return readdirSync(this.logDir)
      .filter((name) => name.startsWith(`${kind}-`) && name.endsWith('.log'))
      .map((name) => path.join(this.logDir, name));
  }

  /** How far every spout process's log has got: ids after a mark were emitted after it was taken. */
  mark(): LogMark {
    return new Map(this.logs('emitted').map((file) => [path.basename(file), readLines(file).length]));
  }

  private counts(): { emitted: number; received: number } {
    const sum = (files: string[]) => files.reduce((acc, file) => acc + readLines(file).length, 0);
    return { emitted: sum(this.logs('emitted')), received: sum(this.logs('received')) };
  }

  /** Waits until `count` more ids have arrived than now. */
  async receives(count: number, timeoutMs = E2E_WAIT_MS): Promise<void> {
    const before = this.counts().received;
    await vi.waitFor(() => expect(this.counts().received).toBeGreaterThanOrEqual(before + count), { timeout: timeoutMs, interval: 200 });
  }

  /**
   * Deactivates the topology and waits until nothing is emitted or received any more. With
   * `expectAll`, ids still missing must stay missing for 10 s before the drain counts as over: on a
   * loaded machine a worker can run its last frames seconds late, and that is not a loss.
   */
  async drain(options: { expectAll?: boolean } = {}): Promise<void> {
    const result = await ardea(this.home, 'deactivate', 'local', NAME);
    expect(result.code, result.stderr).toBe(0);
    let previous = '';
    let unchangedSince = Date.now();
    await vi.waitFor(
      () => {
        const now = JSON.stringify(this.counts());
        const settled = now === previous;
        if (!settled) unchangedSince = Date.now();
        previous = now;
        expect(settled).toBe(true);
        if (options.expectAll && this.check().missing.length > 0) expect(Date.now() - unchangedSince).toBeGreaterThanOrEqual(10_000);
      },
      { timeout: E2E_WAIT_MS, interval: 1500 },
    );
  }

  /** Compares every id the spouts wrote down with every id the sinks received. */
  check(): IdCheck {
    const emitted = new Set<string>();
    for (const file of this.logs('emitted')) for (const id of readLines(file)) emitted.add(id);
    const seen = new Map<string, number>();
    for (const file of this.logs('received')) for (const id of readLines(file)) seen.set(id, (seen.get(id) ?? 0) + 1);
    const missing = [...emitted].filter((id) => !seen.has(id));
    const duplicates = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    const received = [...seen.values()].reduce((a, b) => a + b, 0);
    return { emitted: emitted.size, received, missing, duplicates };
  }

  /** Where each missing id got to: the relay task that passed it on, or nowhere. */
  whereLost(missing: readonly string[]): string {
    const lost = new Set(missing);
    const byRelay = new Map<string, number>();
    let relayed = 0;
    for (const file of this.logs('relayed')) {
      const task = path.basename(file).split('-')[1]!;
      for (const id of readLines(file)) {
        if (!lost.has(id)) continue;
        relayed++;
        byRelay.set(task, (byRelay.get(task) ?? 0) + 1);
      }
    }
    const relays = [...byRelay].map(([task, n]) => `relay task ${task}: ${n}`).join(', ');
    return `${missing.length - relayed} never reached a relay; ${relayed} passed a relay and never reached a sink (${relays || 'none'})`;
  }

  /**
   * The missing ids that were NOT emitted within one of the windows: a fault may lose what was in
   * flight around it, and nothing else.
   */
  missingOutside(missing: readonly string[], windows: readonly FaultWindow[]): string[] {
    const lost = new Set(missing);
    const outside: string[] = [];
    for (const file of this.logs('emitted')) {
      const name = path.basename(file);
      readLines(file).forEach((id, index) => {
        const inWindow = windows.some((w) => index >= (w.before.get(name) ?? 0) && index < (w.after.get(name) ?? 0));
        if (lost.has(id) && !inWindow) outside.push(id);
      });
    }
    return outside;
  }

  async metrics(): Promise<MetricsView> {
    return this.client.metrics(NAME, { windowMs: 2000 });
  }

  /** Pids of the containers, by container id. */
  async pids(): Promise<Map<number, number>> {
    return new Map((await this.client.status(NAME)).map((s) => [s.containerId, Number(s.handle)]));
  }

  /** Waits until container `id` runs again in a process other than `pid`. */
  async restarted(id: number, pid: number): Promise<void> {
    await vi.waitFor(
      async () => {
        const status = (await this.client.status(NAME)).find((s) => s.containerId === id);
        expect(status?.state).toBe('running');
        expect(Number(status?.handle)).not.toBe(pid);
      },
      { timeout: E2E_WAIT_MS, interval: 200 },
    );
  }

  /** Task ids of a component's instances per container, from the physical plan. */
  async tasks(component: string): Promise<Array<{ containerId: number; taskId: number }>> {
    const plan = await this.client.state.get('physicalPlan', NAME);
    return (plan?.instances ?? []).filter((i) => i.component === component).map((i) => ({ containerId: i.containerId, taskId: i.taskId }));
  }

  /** Has the bolt instance of `taskId` end its worker thread (see the topology's exit triggers). */
  async exitWorker(taskId: number): Promise<void> {
    const trigger = path.join(this.logDir, `exit-${taskId}`);
    writeFileSync(trigger, '');
    await vi.waitFor(() => expect(existsSync(`${trigger}.taken`)).toBe(true), { timeout: E2E_WAIT_MS, interval: 50 });
  }

  /** The `context.parallelism` each running instance of `component` last reported, by task id. */
  reportedParallelism(component: string): Map<number, number> {
    const prefix = `parallelism-${component}-`;
    return new Map(
      readdirSync(this.logDir)
        .filter((name) => name.startsWith(prefix))
        .map((name) => [Number(name.slice(prefix.length)), Number(readFileSync(path.join(this.logDir, name), 'utf8'))]),
    );
  }

  async update(...args: string[]): Promise<void> {
    const result = await ardea(this.home, 'update', 'local', NAME, ...args);
    expect(result.code, result.stderr).toBe(0);
  }
}

/** Prints what a fault lost, so a run shows it even when the test passes. */
export function report(scenario: string, check: IdCheck): void {
  process.stdout.write(
    `${scenario}: ${check.emitted} ids emitted, ${check.received} ` +
      `received, ${check.missing.length} lost, ${check.duplicates.length} duplicated\n`,
  );
}

/**
 * Once the metrics have caught up: the spouts' emitted counts equal the ids they wrote down, the
 * sinks' executed counts equal the ids they received, and no stream manager dropped a frame.
 */
export async function expectMetricsCountEveryId(run: SequenceRun, check: IdCheck): Promise<void> {
  await vi.waitFor(
    async () => {
      const view = await run.metrics();
      expect({ emitted: view.components.ids?.emitted, executed: view.components.sink?.executed, dropped: view.droppedTuples }).toEqual({
        emitted: check.emitted,
        executed: check.received,
        dropped: 0,
      });
    },
    { timeout: E2E_WAIT_MS, interval: 500 },
  );
}

/** Drains, then: no id lost or duplicated, no frame dropped, and the metrics count every id. */
export async function expectNothingLost(run: SequenceRun, scenario: string): Promise<IdCheck> {
  await run.drain({ expectAll: true });
  const check = run.check();
  report(scenario, check);
  if (check.missing.length > 0) {
    const metrics = await run.metrics().catch(() => undefined);
    expect.fail(
      `${scenario} lost ${check.missing.length} ids (${check.missing.slice(0, 10).join(', ')}…): ${run.whereLost(check.missing)}; ` +
        `dropped tuples by the metrics: ${metrics?.droppedTuples ?? 'unknown'}\n${localContainerLogTails(run.home, 60)}`,
    );
  }
  expect(check.duplicates).toEqual([]);
  expect(check.received).toBeGreaterThan(0);
  await expectMetricsCountEveryId(run, check);
  return check;
}
