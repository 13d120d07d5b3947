import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createArdea } from '@ardea/core';
import {
  ardea,
  CLEANUP_TIMEOUT_MS,
  commandLine,
  E2E_WAIT_MS,
  freshHome,
  metrics,
  processesOf,
  removeHome,
  repoRoot,
  startArdea,
} from './support.js';

const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
const FAILS_TO_START = path.join(repoRoot, 'test', 'topologies', 'fails-to-start');
const NAME = 'word-count';
let home: string;

beforeEach(() => {
  home = freshHome('ardea-lifecycle-');
});

afterEach(async () => {
  await removeHome(home);
}, CLEANUP_TIMEOUT_MS);

async function submitWordCount(): Promise<void> {
  const submit = await ardea(
    home,
    'submit',
    'local',
    WORD_COUNT,
    ...['topology.metricsIntervalMs=500', 'sentence.rate=2000', 'topology.healthManager=false'].flatMap((p) => ['--config-property', p]),
  );
  expect(submit.code, submit.stderr).toBe(0);
}

function supervisorOf(): number {
  const supervisors = processesOf(home).filter((pid) => commandLine(pid).includes('supervisor-main.js'));
  expect(supervisors).toHaveLength(1);
  return supervisors[0]!;
}

async function listed(): Promise<string> {
  return (await ardea(home, 'list', 'local')).stdout;
}

/** `kill` left nothing: no process, no state, no package; and the name can be submitted again. */
async function nothingLeft(): Promise<void> {
  expect(processesOf(home)).toEqual([]);
  expect(await listed()).toBe('no topologies on cluster local\n');
  const stateRoot = path.join(home, 'state', 'local');
  const files = readdirSync(stateRoot, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !e.name.startsWith('.'));
  expect(files.map((e) => path.join(e.parentPath, e.name))).toEqual([]);
  expect(existsSync(path.join(home, 'packages', 'local', NAME))).toBe(false);
}

describe('a supervisor that dies', () => {
  it('takes its executors with it; list says so; restart starts a new one; kill then leaves nothing', async () => {
    await submitWordCount();
    const supervisor = supervisorOf();
    expect(processesOf(home).length).toBe(4);
    process.kill(supervisor, 'SIGKILL');
    await vi.waitFor(() => expect(processesOf(home)).toEqual([]), { timeout: E2E_WAIT_MS, interval: 100 });
    expect(await listed()).toMatch(/^word-count\s+SUPERVISOR-LOST\s/m);
    expect((await ardea(home, 'restart', 'local', NAME, '1')).stderr).toMatch(
      new RegExp(
        String.raw`^ardea: the supervisor of 'word-count' is gone, so container 1 cannot be restarted alone; 'ardea restart local ` +
          String.raw`word-count' \(no container\) starts a new supervisor`,
        'm',
      ),
    );

    const restart = await ardea(home, 'restart', 'local', NAME);
    expect(restart, restart.stderr).toMatchObject({ code: 0, stdout: 'restarted every container of word-count\n' });
    expect(await listed()).toMatch(/^word-count\s+RUNNING\s/m);
    expect(supervisorOf()).not.toBe(supervisor);
    const before = (await metrics(home, NAME)).count?.executed ?? 0;
    await vi.waitFor(async () => expect((await metrics(home, NAME)).count!.executed).toBeGreaterThan(before + 2000), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });

    expect(await ardea(home, 'kill', 'local', NAME)).toMatchObject({ code: 0, stdout: 'topology word-count killed\n' });
    await nothingLeft();
  }, 400_000);

  it('kill finds and stops executors that outlived it', async () => {
    await submitWordCount();
    const supervisor = supervisorOf();
    const executors = processesOf(home).filter((pid) => pid !== supervisor);
    expect(executors).toHaveLength(3);
    // Stopped processes cannot notice that their supervisor is gone: they stand for executors that
    // hang, or that a supervisor without the parent watch left behind.
    for (const pid of executors) process.kill(pid, 'SIGSTOP');
    process.kill(supervisor, 'SIGKILL');
    await vi.waitFor(() => expect(processesOf(home).sort()).toEqual([...executors].sort()), { timeout: E2E_WAIT_MS, interval: 100 });

    const kill = await ardea(home, 'kill', 'local', NAME);
    expect(kill, kill.stderr).toMatchObject({ code: 0, stdout: 'topology word-count killed\n' });
    await nothingLeft();
  }, 300_000);
});

describe('kill during an update', () => {
  it('wins: nothing is left, whatever the moment of the kill, and the name can be submitted again', async () => {
    // A user's `ardea kill` next to the update, then kills at three moments of the update: once it
    // stored its plan, while it starts containers, and while it waits for them to run the new plan.
    // Those go through the API the CLI calls, so that they land at the moment and not a CLI start-up later.
    const client = await createArdea({ cluster: 'local', env: { ...process.env, ARDEA_HOME: home } });
    try {
      const moments = [
        undefined,
        /stored the new packing plan/,
        /starting container\(s\)/,
        /waiting for new containers|published; waiting/,
      ];
      for (const moment of moments) {
        await submitWordCount();
        const update = startArdea(home, 'update', 'local', NAME, '--component-parallelism', 'count:6');
        let killed: string;
        if (moment) {
          await update.stderrMatches(moment);
          const progress: string[] = [];
          await client.kill(NAME, (line) => progress.push(line));
          killed = progress.join('; ');
        } else {
          const kill = await ardea(home, 'kill', 'local', NAME);
          expect(kill, kill.stderr).toMatchObject({ code: 0, stdout: 'topology word-count killed\n' });
          killed = kill.stderr;
        }
        const updated = await update.result;
        const context = `kill at ${String(moment ?? 'the start, from the CLI')}: kill said ${killed}; update said ${updated.stderr}`;
        expect(processesOf(home), context).toEqual([]);
        expect(await listed(), context).toBe('no topologies on cluster local\n');
        expect(await ardea(home, 'kill', 'local', NAME), context).toMatchObject({
          code: 1,
          stderr: "ardea: no topology 'word-count' on cluster local\n",
        });
      }
    } finally {
      await client.close();
    }
    await submitWordCount();
    expect(await listed()).toMatch(/^word-count\s+RUNNING\s/m);
  }, 900_000);
});

describe('an instance that fails to start', () => {
  it.each([
    ['a bolt whose prepare throws', [], 'sink', /^container_\d+_sink_\d+$/, 'sink 0 cannot reach its database', 'Sink.prepare'],
    [
      'a spout whose open throws',
      ['source.failInOpen=true', 'sink.failFromIndex=1'],
      'source',
      /^container_\d+_source_\d+$/,
      'source cannot open its queue',
      'Source.open',
    ],
  ])(
    '%s fails submit at once with the instance, the exception and its stack, and leaves nothing',
    async (_, properties, component, instance, message, frame) => {
      const submit = await ardea(home, 'submit', 'local', FAILS_TO_START, ...properties.flatMap((p) => ['--config-property', p]));
      expect(submit.code).toBe(1);
      const lines = submit.stderr.split('\n');
      const error = lines.findIndex((line) => line.startsWith('ardea:'));
      const match = /^ardea: instance (\S+) of component '(\w+)' failed to start: (.*)$/.exec(lines[error] ?? '');
      expect(match, submit.stderr).not.toBeNull();
      expect(match![1]).toMatch(instance);
      expect(match![2]).toBe(component);
      expect(match![3]).toBe(message);
      // The stack follows, indented, down to the user's code.
      expect(lines[error + 1]).toBe(`  Error: ${message}`);
      expect(lines[error + 2]).toMatch(new RegExp(`^ {6}at ${frame.replace('.', '\\.')} \\(file://.*topology\\.mjs:\\d+:\\d+\\)$`));
      expect(submit.stderr).not.toMatch(/did not start within/);

      expect(processesOf(home)).toEqual([]);
      expect(await listed()).toBe('no topologies on cluster local\n');
      expect(existsSync(path.join(home, 'packages', 'local', 'fails-to-start'))).toBe(false);
    },
    300_000,
  );

  it('fails an update that adds it, which rolls back to the running plan', async () => {
    const submit = await ardea(home, 'submit', 'local', FAILS_TO_START, '--config-property', 'sink.failFromIndex=1');
    expect(submit.code, submit.stderr).toBe(0);
    const update = await ardea(home, 'update', 'local', 'fails-to-start', '--component-parallelism', 'sink:2');
    expect(update.code).toBe(1);
    expect(update.stderr).toMatch(
      new RegExp(
        String.raw`^ardea: update of 'fails-to-start' failed and was rolled back to the previous plan: instance ` +
          String.raw`container_\d+_sink_\d+ of component 'sink' failed to start: sink 1 cannot reach its database\n {2}Error: sink 1 ` +
          String.raw`cannot reach its database\n {6}at Sink\.prepare `,
        'm',
      ),
    );
    const described = await ardea(home, 'describe', 'local', 'fails-to-start', '--json');
    const sink = (
      JSON.parse(described.stdout) as { topology: { components: Array<{ name: string; parallelism: number }> } }
    ).topology.components.find((c) => c.name === 'sink');
    expect(sink?.parallelism).toBe(1);
    await vi.waitFor(async () => expect(await listed()).toMatch(/^fails-to-start\s+RUNNING\s/m), { timeout: E2E_WAIT_MS, interval: 500 });
  }, 300_000);
});
