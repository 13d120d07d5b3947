import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ComponentMetrics, HealthActionRecord, HealthLog } from '@ardea/core';
import { ardea, CLEANUP_TIMEOUT_MS, E2E_WAIT_MS, freshHome, removeHome, repoRoot } from './support.js';

const TOPOLOGIES = path.join(repoRoot, 'test', 'topologies');
const AUTO_RESTART = 'healthmgr.policies.auto-restart';
/** Rounds every 3 s on 6 s windows, metrics every 0.5 s: the policy's defaults, ten times faster. */
const FAST = [`${AUTO_RESTART}.intervalMs=3000`, `${AUTO_RESTART}.windowMs=6000`, 'topology.metricsIntervalMs=500'];
let home: string;

beforeEach(() => {
  home = freshHome('ardea-health-failures-');
});

afterEach(async () => {
  await removeHome(home);
}, CLEANUP_TIMEOUT_MS);

async function submit(topology: string, ...properties: string[]): Promise<void> {
  // `act` whatever the default mode: these tests are about what the manager does by itself.
  const args = [...FAST, 'topology.healthManager=act', ...properties].flatMap((p) => ['--config-property', p]);
  const result = await ardea(home, 'submit', 'local', path.join(TOPOLOGIES, topology), ...args);
  expect(result.code, result.stderr).toBe(0);
}

async function healthLog(topology: string): Promise<HealthLog> {
  const result = await ardea(home, 'health', 'local', topology, '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as HealthLog;
}

const actions = (log: HealthLog): HealthActionRecord[] => log.rounds.flatMap((r) => r.actions);

async function components(topology: string): Promise<Record<string, ComponentMetrics>> {
  const result = await ardea(home, 'metrics', 'local', topology, '--json', '--window', '2000');
  if (result.code !== 0) throw new Error(`ardea metrics failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { components: Record<string, ComponentMetrics> }).components;
}

type Event = { event: 'prepared' | 'hang'; task: number; at: number };
const events = (log: string): Event[] =>
  existsSync(log)
    ? readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Event)
    : [];

describe('a hung worker', () => {
  it('is restarted by the health manager, with no human action, and the verdict shows in ardea health', async () => {
    const log = path.join(home, 'stuck.log');
    // The stream manager's own hung-worker check is off (hungInstanceMs 0), so that what restarts
    // the worker can only be the health manager's auto-restart policy.
    await submit('hang-on-marker', `numbers.log=${log}`, `stuck.log=${log}`, 'topology.hungInstanceMs=0');
    await vi.waitFor(() => expect(events(log).some((e) => e.event === 'hang')).toBe(true), { timeout: E2E_WAIT_MS, interval: 500 });
    const hang = events(log).find((e) => e.event === 'hang')!;

    await vi.waitFor(
      async () => expect(actions(await healthLog('hang-on-marker')).some((a) => a.type === 'restart' && a.verdict)).toBe(true),
      { timeout: 2 * E2E_WAIT_MS, interval: 1000 },
    );
    const health = await healthLog('hang-on-marker');
    const restarts = actions(health).filter((a) => a.type === 'restart');
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toMatchObject({
      diagnosis: { type: 'stalled-instance', component: 'stuck' },
      predictedEffect: { backpressureMsPerSec: 0 },
    });
    // The verdict is shown; whether it reads "helped" depends on the backpressure of the restarted
    // container's catch-up at the moment the topology is judged settled, which a busy machine moves
    // (seen once as "did-not-help" while the bolt recovered): what this test holds to is the restart
    // and the recovery below.
    expect(['helped', 'did-not-help']).toContain(restarts[0]!.verdict);
    const containers = restarts[0]!.parameters.containers as number[];
    expect(containers).toHaveLength(1);
    expect(containers[0]).toBeGreaterThan(0);
    // The stall was seen for its rounds before the restart: backpressured, executing nothing.
    const stalled = health.rounds.filter((r) => r.symptoms.some((s) => s.type === 'stalled' && s.component === 'stuck'));
    expect(stalled.length).toBeGreaterThanOrEqual(2);
    expect(health.rounds.flatMap((r) => r.actions).filter((a) => a.type.startsWith('scale'))).toEqual([]);

    // The bolt runs again in a new worker, which executes what the spout sends after the restart.
    await vi.waitFor(() => expect(events(log).filter((e) => e.event === 'prepared' && e.at > hang.at)).toHaveLength(1), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });
    await vi.waitFor(async () => expect((await components('hang-on-marker')).stuck!.executeRate).toBeGreaterThan(0), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });
    const stuck = (await components('hang-on-marker')).stuck!;
    // Not the stream manager's doing: it restarted no hung worker.
    expect(stuck.hungRestarts).toBe(0);

    const text = await ardea(home, 'health', 'local', 'hang-on-marker');
    expect(text.stdout).toMatch(/diagnosis: stalled-instance on stuck \(container_\d+_stuck_\d+\)/);
    expect(text.stdout).toMatch(/action: stalled instance\(s\) container_\d+_stuck_\d+ of stuck: restart container\(s\) \d+/);
    expect(text.stdout).toMatch(/predicted \{"backpressureMsPerSec":0\}; (helped|did-not-help); observed /);
  }, 600_000);

  it('is restarted by its stream manager when that check is on, and the health manager records it without acting', async () => {
    const log = path.join(home, 'stuck.log');
    await submit('hang-on-marker', `numbers.log=${log}`, `stuck.log=${log}`, 'topology.hungInstanceMs=2000');
    await vi.waitFor(
      async () =>
        expect((await healthLog('hang-on-marker')).rounds.flatMap((r) => r.diagnoses).some((d) => d.type === 'hung-worker')).toBe(true),
      { timeout: 2 * E2E_WAIT_MS, interval: 1000 },
    );
    const health = await healthLog('hang-on-marker');
    expect(health.rounds.flatMap((r) => r.diagnoses).find((d) => d.type === 'hung-worker')).toMatchObject({ component: 'stuck' });
    // The stream manager restarted the worker within seconds; a container restart on top would only
    // have stopped the spout's container-mates too.
    expect(actions(health)).toEqual([]);
    expect((await components('hang-on-marker')).stuck!.hungRestarts).toBe(1);
    await vi.waitFor(() => expect(events(log).filter((e) => e.event === 'prepared')).toHaveLength(2), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });
    const text = await ardea(home, 'health', 'local', 'hang-on-marker');
    expect(text.stdout).toMatch(/diagnosis: hung-worker on stuck \(container_\d+_stuck_\d+\)/);
  }, 600_000);
});

describe('a bolt that throws on every tuple', () => {
  it('is diagnosed as failing with its last exception, reported, and neither scaled nor restarted', async () => {
    // `thrower` throws on every tuple (in explodeOnPurpose); `quiet`, reading the same spout, never does.
    await submit('throwing-bolt');
    await vi.waitFor(
      async () =>
        expect(actions(await healthLog('throwing-bolt')).some((a) => a.type === 'report' && a.component === 'thrower')).toBe(true),
      { timeout: 2 * E2E_WAIT_MS, interval: 1000 },
    );
    const health = await healthLog('throwing-bolt');
    const failing = health.rounds.flatMap((r) => r.diagnoses).filter((d) => d.type === 'failing-instance');
    expect(failing.length).toBeGreaterThan(0);
    expect(new Set(failing.map((d) => d.component))).toEqual(new Set(['thrower']));
    expect(failing[0]!.instances).toEqual([expect.stringMatching(/^container_\d+_thrower_\d+$/)]);
    const symptom = health.rounds.flatMap((r) => r.symptoms).find((s) => s.type === 'error-rate')!;
    expect(symptom.details.errorRate).toBe(1);
    expect(symptom.details.lastException).toMatch(
      /^Error: throwing-bolt refuses tuple \d+ on purpose\nat explodeOnPurpose \(.*\)\nat Thrower\.execute /,
    );
    const report = actions(health).find((a) => a.type === 'report' && a.component === 'thrower')!;
    const instance = String.raw`container_\d+_thrower_\d+`;
    expect(report.description).toMatch(
      new RegExp(
        String.raw`^failing instance\(s\) ${instance} of thrower: 100 % of their tuples failed in the window \(\d+\); ` +
          String.raw`last exception \(${instance}\): Error: throwing-bolt refuses tuple \d+ on purpose at explodeOnPurpose `,
      ),
    );
    // Nothing the manager could change would help: no scaling, no restart, from any policy.
    expect(actions(health).filter((a) => a.type !== 'report')).toEqual([]);
    const provisioning = health.rounds.flatMap((r) => r.diagnoses).filter((d) => d.type.endsWith('-provisioned'));
    expect(provisioning).toEqual([]);

    const text = await ardea(home, 'health', 'local', 'throwing-bolt');
    expect(text.stdout).toMatch(/diagnosis: failing-instance on thrower \(container_\d+_thrower_\d+\)/);
    expect(text.stdout).toContain('Error: throwing-bolt refuses tuple');
    expect(text.stdout).not.toContain('nothing has needed attention');
  }, 600_000);
});
