import { execFile } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createArdea, INSTALLED_EXECUTOR_BIN, type Ardea, type ContainerStatus, type PackingPlan } from '@ardea/core';
import { ardea, ardeaBin, CLEANUP_TIMEOUT_MS, E2E_WAIT_MS, processesOf, repoRoot, stopEverything } from '../support.js';

const run = promisify(execFile);
const TOPOLOGY = 'word-count';
const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
const isRoot = process.getuid?.() === 0;
const inCi = process.env.CI === 'true';

/**
 * Runs a script as `nobody`, which owns nothing Ardea made: what it can see is what any other local
 * user can. The script gets its input as JSON in argv and answers with JSON on stdout.
 */
async function asNobody<T>(script: string, input: unknown): Promise<T> {
  const { stdout } = await run(
    'setpriv',
    ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '--input-type=module', '-e', script, JSON.stringify(input)],
    {
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return JSON.parse(stdout) as T;
}

/** Every path under `root` (the root included) whose mode lets group or others in. */
function openToOthers(root: string): string[] {
  const open: string[] = [];
  const visit = (file: string) => {
    const stat = lstatSync(file);
    if (stat.isSymbolicLink()) return;
    if ((stat.mode & 0o077) !== 0) open.push(`${file} ${(stat.mode & 0o777).toString(8)}`);
    if (stat.isDirectory()) for (const entry of readdirSync(file)) visit(path.join(file, entry));
  };
  visit(root);
  return open;
}

function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** Resident and peak resident memory of a process, in bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

// The other-user checks need root (to become `nobody`); CI runs as root, so there they must run.
if (inCi && !isRoot) {
  it('runs as root in CI', () => {
    throw new Error(`the security suite must run as root in CI to act as another user (uid ${process.getuid?.()})`);
  });
}
if (!isRoot && !inCi) process.stderr.write('test/security: skipped, not root (the suite runs processes as nobody)\n');

describe.runIf(isRoot)('security of a running topology', { timeout: 300_000 }, () => {
  let parent: string;
  let home: string;
  let client: Ardea;
  let secret: string;
  let schedulerEndpoint: string;
  let controller: string;

  const call = async (base: string, method: 'GET' | 'POST', route: string, body?: string | Buffer, bearer: string | undefined = secret) => {
    const response = await fetch(`${base}${route}`, {
      method,
      headers: {
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, body: json as { error?: string; code?: string } };
  };
  const statuses = () => client.status(TOPOLOGY);
  const pidsOf = (list: readonly ContainerStatus[]) => list.map((s) => [s.containerId, s.state, s.handle]);

  beforeAll(async () => {
    // The checks below mean something only if `nobody` can run node at all.
    const uid = await asNobody<number>('process.stdout.write(JSON.stringify(process.getuid()))', null).catch((error: unknown) => {
      throw new Error(`nobody cannot run ${process.execPath} (${String(error)}); the suite needs a node binary other users may execute`);
    });
    expect(uid).toBe(65534);
    // A parent others may enter, and an ARDEA_HOME that does not exist yet: Ardea creates it.
    parent = mkdtempSync(path.join(os.tmpdir(), 'ardea-security-'));
    chmodSync(parent, 0o755);
    home = path.join(parent, 'home');
    const submit = await ardea(
      home,
      'submit',
      'local',
      WORD_COUNT,
      '--deploy-deactivated',
      '--config-property',
      'topology.metricsIntervalMs=500',
    );
    expect(submit.code, submit.stderr).toBe(0);
    client = await createArdea({ cluster: 'local', env: { ...process.env, ARDEA_HOME: home } });
    const description = await client.describe(TOPOLOGY);
    secret = description.executionState!.secret;
    schedulerEndpoint = description.scheduler!.endpoint!;
    const master = (await client.state.get('topologyMaster', TOPOLOGY))!;
    controller = `http://${master.host}:${master.controllerPort}`;
  }, 300_000);

  afterAll(async () => {
    await client?.close();
    try {
      if (home) await stopEverything(home);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  }, CLEANUP_TIMEOUT_MS);

  it('keeps every directory and file under a fresh ARDEA_HOME private to its owner', () => {
    expect(filesUnder(home).some((file) => file.includes(`executionstate${path.sep}`))).toBe(true);
    expect(filesUnder(home).some((file) => file.endsWith('.log'))).toBe(true);
    expect(openToOthers(home)).toEqual([]);
  });

  it('lets another user read neither the secret nor anything else Ardea keeps, and drive no API', async () => {
    const pids = processesOf(home);
    expect(pids.length).toBeGreaterThanOrEqual(4);
    const routes: Array<[string, 'GET' | 'POST', string]> = [
      [schedulerEndpoint, 'GET', '/status'],
      [schedulerEndpoint, 'POST', '/restart'],
      [schedulerEndpoint, 'POST', '/update'],
      [schedulerEndpoint, 'POST', '/kill'],
      [controller, 'GET', '/physical-plan'],
      [controller, 'GET', '/plan-status'],
      [controller, 'GET', '/metrics'],
      [controller, 'POST', '/activate'],
      [controller, 'POST', '/deactivate'],
      [controller, 'POST', '/runtime-config'],
    ];
    const input = {
      files: [...filesUnder(home), ...pids.flatMap((pid) => [`/proc/${pid}/cmdline`, `/proc/${pid}/environ`])],
      routes,
    };
    const seen = await asNobody<{ uid: number; readable: string[]; commandLines: Record<string, string>; statuses: number[] }>(
      `
      import { readFileSync } from 'node:fs';
      const { files, routes } = JSON.parse(process.argv[1]);
      const readable = [];
      const commandLines = {};
      for (const file of files) {
        try {
          const content = readFileSync(file, 'latin1');
          readable.push(file);
          if (file.endsWith('/cmdline')) commandLines[file] = content;
        } catch {}
      }
      const statuses = [];
      for (const [base, method, route] of routes) {
        const body = method === 'POST' ? { body: '{}' } : {};
        const response = await fetch(base + route, { method, headers: { 'content-type': 'application/json' }, ...body });
        statuses.push(response.status);
      }
      process.stdout.write(JSON.stringify({ uid: process.getuid(), readable, commandLines, statuses }));
      `,
      input,
    );
    expect(seen.uid).toBe(65534);
    // Only the command lines of processes are visible to others, and they hold no secret.
    expect(seen.readable.filter((file) => !file.endsWith('/cmdline'))).toEqual([]);
    expect(Object.keys(seen.commandLines)).toHaveLength(pids.length);
    expect(Object.entries(seen.commandLines).filter(([, content]) => content.includes(secret))).toEqual([]);
    expect(seen.statuses).toEqual(routes.map(() => 401));
    expect(await statuses()).toHaveLength(3);
  });

  it('runs the executor the supervisor computes, never one named in an /update body', async () => {
    const before = await statuses();
    const current = (await client.state.get('packingPlan', TOPOLOGY))!;
    const added = { ...current.containers[0]!, id: 7, instances: [] };
    const proposed: PackingPlan = { ...current, containers: [...current.containers, added] };
    const marker = path.join(parent, 'chosen-by-the-caller');
    const executor = { argv: ['/bin/sh', '-c', `id > ${marker}; exec sleep 600`], env: {} };

    const rejected = await call(schedulerEndpoint, 'POST', '/update', JSON.stringify({ current, proposed, executor }));
    expect(rejected.status).toBe(400);
    expect(rejected.body.error).toMatch(/executor/);
    expect(pidsOf(await statuses())).toEqual(pidsOf(before));

    // The same change without the key runs the core's own executor for the added container.
    const accepted = await call(schedulerEndpoint, 'POST', '/update', JSON.stringify({ current, proposed }));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    try {
      // The pool logs the command line of every container it starts.
      const log = path.join(home, 'topologies', 'local', TOPOLOGY, 'logs', 'container-7.log');
      await vi.waitFor(() => expect(existsSync(log)).toBe(true), { timeout: E2E_WAIT_MS });
      const started = readFileSync(log, 'utf8').split('\n')[0]!;
      expect(started).toMatch(/starting container 7: /);
      // The supervisor's own logical command: this installation's ardea-executor, run by this Node.
      expect(started.endsWith(`: ${process.execPath} ${INSTALLED_EXECUTOR_BIN} --topology word-count --container 7`)).toBe(true);
    } finally {
      expect((await call(schedulerEndpoint, 'POST', '/update', JSON.stringify({ current: proposed, proposed: current }))).status).toBe(200);
    }
    expect(existsSync(marker)).toBe(false);
    expect(pidsOf(await statuses())).toEqual(pidsOf(before));
  });

  it('rejects malformed bodies of every API with 400 and oversized ones with 413, changing nothing', async () => {
    const before = await statuses();
    const current = (await client.state.get('packingPlan', TOPOLOGY))!;
    const cases: Array<[string, string, string, RegExp]> = [
      [schedulerEndpoint, '/restart', '{"containerId":"2"}', /containerId/],
      [schedulerEndpoint, '/restart', '{"containerId":-1}', /containerId/],
      [schedulerEndpoint, '/restart', '{', /JSON/],
      [schedulerEndpoint, '/update', '{}', /current/],
      [schedulerEndpoint, '/update', JSON.stringify({ current, proposed: { ...current, containers: 'all' } }), /proposed\.containers/],
      [schedulerEndpoint, '/update', '[1,2', /JSON/],
      [schedulerEndpoint, '/kill', '{"now":true}', /now/],
      [controller, '/activate', '{"state":"RUNNING"}', /state/],
      [controller, '/deactivate', 'null', /body/],
      [controller, '/runtime-config', '{"component":"count"}', /array/],
      [controller, '/runtime-config', '[{"component":"count","key":7,"value":1}]', /body\[0\]\.key/],
      [controller, '/runtime-config', 'not json', /JSON/],
    ];
    for (const [base, route, body, field] of cases) {
      const answer = await call(base, 'POST', route, body);
      expect({ route, body, status: answer.status }).toEqual({ route, body, status: 400 });
      expect(answer.body.error, `${route} ${body}`).toMatch(field);
      expect(answer.body.code).toBe('http.invalid-request');
    }
    const metrics = await call(controller, 'GET', '/metrics?windowMs=soon');
    expect(metrics.status).toBe(400);
    expect(metrics.body.error).toMatch(/windowMs/);

    const oversized = JSON.stringify({ current, proposed: current, padding: 'x'.repeat(16 * 1024 * 1024) });
    for (const [base, route] of [
      [schedulerEndpoint, '/update'],
      [schedulerEndpoint, '/restart'],
      [controller, '/runtime-config'],
    ] as const) {
      const answer = await call(base, 'POST', route, oversized);
      expect({ route, status: answer.status }).toEqual({ route, status: 413 });
      expect(answer.body.code).toBe('http.body-too-large');
    }
    expect(pidsOf(await statuses())).toEqual(pidsOf(before));
    expect((await client.state.get('physicalPlan', TOPOLOGY))!.state).toBe('PAUSED');
  });

  it('keeps the memory a stream manager spends on unauthenticated connections to a few MiB each', async () => {
    const container = (await statuses()).find((s) => s.containerId === 1)!;
    const pid = Number(container.handle);
    const location = (await client.state.get('physicalPlan', TOPOLOGY))!.streamManagers.find((s) => s.containerId === 1)!;
    const connections = 16;
    const sentPerConnection = 24 * 1024 * 1024;
    // Resets the peak resident size to the current one, so the peak below is the attack's.
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const before = memoryOf(pid);
    const chunk = Buffer.alloc(256 * 1024, 7);
    const sockets: net.Socket[] = [];
    const attack = async () => {
      const socket = net.connect({ host: location.host, port: location.dataPort });
      sockets.push(socket);
      socket.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      // A data frame announcing 60 MiB, then its body as fast as the server takes it.
      const header = Buffer.alloc(17);
      header.writeUInt32LE(60 * 1024 * 1024, 0);
      header[4] = 1;
      socket.write(header);
      for (let sent = 0; sent < sentPerConnection && !socket.destroyed; sent += chunk.length) {
        if (!socket.write(chunk)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closed]);
      }
    };
    try {
      await Promise.all(Array.from({ length: connections }, attack));
      // What the server read is in its memory now (or was, and the peak shows it).
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = memoryOf(pid);
      const grewBy = after.peak - before.rss;
      expect(grewBy, `peak grew by ${(grewBy / 2 ** 20).toFixed(1)} MiB`).toBeLessThan(connections * 2 * 1024 * 1024);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    // The stream manager is unharmed.
    expect((await statuses()).find((s) => s.containerId === 1)).toEqual(container);
  });

  it('makes `ardea metrics` give up with one clear line when container 0 does not answer', async () => {
    const master = (await statuses()).find((s) => s.containerId === 0)!;
    const pid = Number(master.handle);
    process.kill(pid, 'SIGSTOP');
    try {
      const result = await run(process.execPath, [ardeaBin, 'metrics', 'local', TOPOLOGY], {
        env: { ...process.env, ARDEA_HOME: home },
        timeout: 25_000,
      }).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code?: number | string; killed?: boolean; stderr?: string }) => ({
          code: error.killed ? 'killed after 25 s' : error.code,
          stderr: error.stderr ?? '',
        }),
      );
      expect(result.code).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        new RegExp(
          `^ardea: the topology master of '${TOPOLOGY}' at 127\\.0\\.0\\.1:\\d+ did not ` +
            `answer GET /metrics within 5 s; container 0 .*'ardea restart local ${TOPOLOGY} 0'$`,
        ),
      );
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await vi.waitFor(async () => expect((await ardea(home, 'metrics', 'local', TOPOLOGY)).code).toBe(0), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });
  });
});

describe.runIf(isRoot)('an ARDEA_HOME that an older version left open', { timeout: 300_000 }, () => {
  it('is made private again when Ardea starts, so another user cannot read the secret', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'ardea-security-'));
    try {
      chmodSync(parent, 0o755);
      const home = path.join(parent, 'home');
      const executionDirectory = path.join(home, 'state', 'local', 'executionstate');
      mkdirSync(executionDirectory, { recursive: true, mode: 0o755 });
      const node = path.join(executionDirectory, 'old');
      writeFileSync(node, JSON.stringify({ secret: 'an-old-topology-secret' }), { mode: 0o644 });
      chmodSync(node, 0o644);
      expect(
        await asNobody<boolean>(
          `import { readFileSync } from 'node:fs'; ` +
            `process.stdout.write(JSON.stringify(readFileSync(JSON.parse(process.argv[1])).length > 0))`,
          node,
        ),
      ).toBe(true);

      expect((await ardea(home, 'list', 'local')).code).toBe(0);

      expect(openToOthers(path.join(home, 'state', 'local'))).toEqual([]);
      const denied = await asNobody<string>(
        `import { readFileSync } from 'node:fs'; try { readFileSync(JSON.parse(process.argv[1])); ` +
          `process.stdout.write('"read"'); } catch (error) { process.stdout.write(JSON.stringify(error.code)); }`,
        node,
      );
      expect(denied).toBe('EACCES');
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
