import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allocs, call, job, lastDataDir, runningAllocs, SEC, sleepTask, start, until, type Any } from './test-support.js';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const node = process.execPath;

describe('task runner', () => {
  it('runs a task in its task dir with the NOMAD_* env, meta, interpolation, templates and log files', async () => {
    const e = await start();
    const script = [
      "const fs=require('fs');",
      "fs.writeFileSync('out.json',JSON.stringify({cwd:process.cwd(),env:process.env,argv:process.argv.slice(1)}));",
      'setInterval(()=>{},1000)',
    ].join('');
    const spec = job(
      'envjob',
      [
        {
          Name: 'grp',
          Count: 1,
          Meta: { 'group.key': 'gv' },
          Tasks: [
            {
              Name: 'task',
              Driver: 'exec',
              Config: {
                command: node,
                args: ['-e', script, 'idx=${NOMAD_ALLOC_INDEX}', 'meta=${NOMAD_META_TOPOLOGY_NAME}', 'e=${env["FROM_ENV"]}'],
              },
              Env: { FROM_ENV: 'x-${NOMAD_JOB_ID}', PLAIN: 'p' },
              Meta: { 'task-key': 'tv' },
              Resources: { CPU: 250, MemoryMB: 128 },
              Templates: [
                { EmbeddedTmpl: 'hello', DestPath: 'local/hello.txt' },
                { EmbeddedTmpl: 'TPL_VAR=from-template\n', DestPath: 'secrets/env.txt', Envvars: true },
              ],
            },
          ],
        },
      ],
      { Meta: { 'topology.name': 'wc' } },
    );
    await call(e, 'PUT', '/v1/jobs', { Job: spec });
    const [alloc] = await runningAllocs(e, 'envjob', 1);
    const dataDir = lastDataDir();
    const taskDir = join(dataDir, 'allocs', alloc!.ID, 'task');
    const out = await until('task output', async () => {
      try {
        return JSON.parse(readFileSync(join(taskDir, 'out.json'), 'utf8')) as Any;
      } catch {
        return undefined;
      }
    });
    expect(out.cwd).toBe(taskDir);
    expect(out.argv).toEqual(['idx=0', 'meta=wc', 'e=x-envjob']);
    expect(out.env).toMatchObject({
      NOMAD_ALLOC_ID: alloc!.ID,
      NOMAD_ALLOC_INDEX: '0',
      NOMAD_ALLOC_NAME: 'envjob.grp[0]',
      NOMAD_JOB_ID: 'envjob',
      NOMAD_JOB_NAME: 'envjob',
      NOMAD_GROUP_NAME: 'grp',
      NOMAD_TASK_NAME: 'task',
      NOMAD_NAMESPACE: 'default',
      NOMAD_REGION: 'global',
      NOMAD_DC: 'dc1',
      NOMAD_ALLOC_DIR: join(dataDir, 'allocs', alloc!.ID, 'alloc'),
      NOMAD_TASK_DIR: join(taskDir, 'local'),
      NOMAD_SECRETS_DIR: join(taskDir, 'secrets'),
      NOMAD_CPU_LIMIT: '250',
      NOMAD_MEMORY_LIMIT: '128',
      'NOMAD_META_topology.name': 'wc',
      NOMAD_META_TOPOLOGY_NAME: 'wc',
      NOMAD_META_GROUP_KEY: 'gv',
      NOMAD_META_TASK_KEY: 'tv',
      FROM_ENV: 'x-envjob',
      PLAIN: 'p',
      TPL_VAR: 'from-template',
    });
    expect(out.env.PATH).toBe(process.env.PATH);
    expect(readFileSync(join(taskDir, 'local', 'hello.txt'), 'utf8')).toBe('hello');
    const state = alloc!.TaskStates.task;
    expect(state.State).toBe('running');
    expect(state.StartedAt).not.toBe('0001-01-01T00:00:00Z');
    expect(state.Events.map((ev: Any) => ev.Type)).toEqual(['Received', 'Task Setup', 'Started']);
  });

  it('gives dynamic and reserved ports as NOMAD_PORT_* and in AllocatedResources, and refuses a reserved collision', async () => {
    const e = await start();
    const script = "require('fs').writeFileSync('env.json',JSON.stringify(process.env));setInterval(()=>{},1000)";
    const task = {
      Name: 't',
      Driver: 'raw_exec',
      Config: { command: node, args: ['-e', script] },
      Resources: { CPU: 100, MemoryMB: 64, Networks: [{ DynamicPorts: [{ Label: 'metrics-port' }] }] },
    };
    const group = {
      Name: 'g',
      Count: 2,
      Networks: [{ DynamicPorts: [{ Label: 'server' }], ReservedPorts: [{ Label: 'fixed', Value: 31999 }] }],
      Tasks: [task],
    };
    const reg = await call(e, 'PUT', '/v1/jobs', { Job: job('ports', [group]) });
    // Both allocations want the same reserved port on the one node: only one is placed.
    const evaluation = (await call(e, 'GET', `/v1/evaluation/${reg.json.EvalID}`)).json;
    expect(evaluation.FailedTGAllocs.g.DimensionExhausted).toEqual({ 'network: reserved port collision fixed=31999': 1 });
    const [alloc] = await runningAllocs(e, 'ports', 1);
    const full = (await call(e, 'GET', `/v1/allocation/${alloc!.ID}`)).json;
    const shared = full.AllocatedResources.Shared.Ports as Any[];
    expect(shared.map((p) => p.Label).sort()).toEqual(['fixed', 'server']);
    const server = shared.find((p) => p.Label === 'server')!.Value as number;
    expect(server).toBeGreaterThanOrEqual(20000);
    expect(shared.find((p) => p.Label === 'fixed')!.Value).toBe(31999);
    const metrics = full.AllocatedResources.Tasks.t.Networks[0].DynamicPorts[0];
    expect(metrics.Label).toBe('metrics-port');
    expect(metrics.Value).not.toBe(server);
    const env = await until('env', async () => {
      try {
        return JSON.parse(readFileSync(join(lastDataDir(), 'allocs', alloc!.ID, 't', 'env.json'), 'utf8')) as Any;
      } catch {
        return undefined;
      }
    });
    expect(env).toMatchObject({
      NOMAD_PORT_server: String(server),
      NOMAD_HOST_PORT_server: String(server),
      NOMAD_IP_server: '127.0.0.1',
      NOMAD_ADDR_fixed: '127.0.0.1:31999',
      'NOMAD_PORT_metrics-port': String(metrics.Value),
      NOMAD_PORT_metrics_port: String(metrics.Value),
    });
    // Without the reserved port, two allocations get different dynamic ports.
    const dynamicOnly = { ...group, Networks: [{ DynamicPorts: [{ Label: 'server' }] }] };
    await call(e, 'PUT', '/v1/jobs', { Job: job('dyn', [dynamicOnly]) });
    const two = await runningAllocs(e, 'dyn', 2);
    const values = two.map((a) => a.AllocatedResources.Shared.Ports[0].Value);
    expect(new Set(values).size).toBe(2);
    expect(values).not.toContain(server);
  });

  it('writes stdout and stderr to alloc/logs', async () => {
    const e = await start();
    const t = {
      Name: 'w',
      Driver: 'raw_exec',
      Config: { command: node, args: ['-e', 'console.log("to-out");console.error("to-err");setInterval(()=>{},1000)'] },
    };
    await call(e, 'PUT', '/v1/jobs', { Job: job('logs', [{ Name: 'g', Tasks: [t] }]) });
    const [alloc] = await runningAllocs(e, 'logs', 1);
    const logs = join(lastDataDir(), 'allocs', alloc!.ID, 'alloc', 'logs');
    await until('logs', async () => {
      try {
        return readFileSync(join(logs, 'w.stdout.0'), 'utf8').includes('to-out') &&
          readFileSync(join(logs, 'w.stderr.0'), 'utf8').includes('to-err')
          ? true
          : undefined;
      } catch {
        return undefined;
      }
    });
  });

  it("serves an allocation's files: ls, stat and readat at an offset, inside its directory only", async () => {
    const e = await start();
    const t = {
      Name: 'w',
      Driver: 'raw_exec',
      Config: { command: node, args: ['-e', 'console.log("0123456789");setInterval(()=>{},1000)'] },
    };
    await call(e, 'PUT', '/v1/jobs', { Job: job('files', [{ Name: 'g', Tasks: [t] }]) });
    const [alloc] = await runningAllocs(e, 'files', 1);
    const base = `/v1/client/fs`;
    const stdout = await until('stdout written', async () => {
      const stat = await call(e, 'GET', `${base}/stat/${alloc!.ID}?path=alloc/logs/w.stdout.0`);
      return stat.status === 200 && stat.json.Size === 11 ? stat.json : undefined;
    });
    expect(stdout).toMatchObject({ Name: 'w.stdout.0', IsDir: false, Size: 11, FileMode: expect.stringMatching(/^-[rwx-]{9}$/) });
    const listing = await call(e, 'GET', `${base}/ls/${alloc!.ID}?path=/alloc/logs`);
    expect(listing.status).toBe(200);
    expect((listing.json as Any[]).map((entry) => [entry.Name, entry.IsDir])).toEqual([
      ['w.stderr.0', false],
      ['w.stdout.0', false],
    ]);
    const read = await call(e, 'GET', `${base}/readat/${alloc!.ID}?path=alloc/logs/w.stdout.0&offset=3&limit=4`);
    expect(read).toMatchObject({ status: 200, text: '3456' });
    expect((await call(e, 'GET', `${base}/readat/${alloc!.ID}?path=alloc/logs/w.stdout.0&offset=8&limit=100`)).text).toBe('89\n');
    expect((await call(e, 'GET', `${base}/readat/${alloc!.ID}?path=alloc/logs/w.stdout.0&offset=50&limit=100`)).text).toBe('');
    expect((await call(e, 'GET', `${base}/readat/${alloc!.ID}?path=alloc/logs/w.stdout.0&offset=-1&limit=1`)).status).toBe(400);
    expect((await call(e, 'GET', `${base}/stat/${alloc!.ID}?path=alloc/logs/nothing`)).status).toBe(404);
    expect((await call(e, 'GET', `${base}/readat/${alloc!.ID}?path=../../../etc/passwd&offset=0&limit=10`)).status).toBe(400);
    expect((await call(e, 'GET', `${base}/ls/no-such-alloc?path=/`)).status).toBe(404);
  });

  it('restarts an exiting task in place, then fails the alloc and reschedules it with the same name', async () => {
    const e = await start();
    const t = { Name: 't', Driver: 'raw_exec', Config: { command: node, args: ['-e', 'setTimeout(()=>process.exit(3),50)'] } };
    const group = {
      Name: 'g',
      Count: 1,
      Tasks: [t],
      RestartPolicy: { Attempts: 2, Interval: 60 * SEC, Delay: SEC / 10, Mode: 'fail' },
      ReschedulePolicy: { Attempts: 1, Interval: 3600 * SEC, Delay: SEC / 10, DelayFunction: 'constant', Unlimited: false },
    };
    await call(e, 'PUT', '/v1/jobs', { Job: job('crash', [group]) });
    const pair = await until('failed alloc and its replacement', async () => {
      const list = await allocs(e, 'crash');
      const failed = list.find((a) => a.ClientStatus === 'failed' && a.NextAllocation !== '');
      const next = failed && list.find((a) => a.ID === failed.NextAllocation);
      return failed && next ? { failed, next } : undefined;
    });
    const state = pair.failed.TaskStates.t;
    expect(state.Restarts).toBe(2);
    expect([state.State, state.Failed]).toEqual(['dead', true]);
    const types = state.Events.map((ev: Any) => ev.Type);
    expect(types.filter((x: string) => x === 'Restarting')).toHaveLength(2);
    expect(types.at(-1)).toBe('Not Restarting');
    expect(state.Events.find((ev: Any) => ev.Type === 'Terminated').ExitCode).toBe(3);
    expect(pair.failed.FollowupEvalID).not.toBe('');
    expect(pair.next.Name).toBe('crash.g[0]');
    expect(pair.next.PreviousAllocation).toBe(pair.failed.ID);
    expect(pair.next.RescheduleTracker.Events[0].PrevAllocID).toBe(pair.failed.ID);
    // Attempts: 1 — the replacement, once it fails too, is not rescheduled again.
    await until('second failure', async () => {
      const next = (await call(e, 'GET', `/v1/allocation/${pair.next.ID}`)).json;
      return next.ClientStatus === 'failed' ? next : undefined;
    });
    await new Promise((r) => setTimeout(r, 400));
    expect((await allocs(e, 'crash')).length).toBe(2);
    expect((await call(e, 'GET', '/v1/job/crash/summary')).json.Summary.g.Failed).toBe(2);
  });

  it('keeps restarting in mode delay, and completes a batch task that exits 0 without restarting it', async () => {
    const e = await start();
    const crasher = { Name: 't', Driver: 'raw_exec', Config: { command: node, args: ['-e', 'process.exit(1)'] } };
    const delayGroup = {
      Name: 'g',
      Tasks: [crasher],
      RestartPolicy: { Attempts: 1, Interval: SEC / 2, Delay: SEC / 20, Mode: 'delay' },
    };
    await call(e, 'PUT', '/v1/jobs', { Job: job('delayed', [delayGroup]) });
    const alloc = await until('three restarts', async () => {
      const [a] = await allocs(e, 'delayed');
      return a && a.TaskStates.t?.Restarts >= 3 ? a : undefined;
    });
    expect(alloc.ClientStatus).not.toBe('failed');
    expect(alloc.TaskStates.t.Failed).toBe(false);
    const messages = alloc.TaskStates.t.Events.map((ev: Any) => ev.DisplayMessage as string);
    expect(messages.some((m: string) => m.startsWith('Exceeded allowed attempts, applying a delay'))).toBe(true);
    expect((await allocs(e, 'delayed')).length).toBe(1);

    const ok = { Name: 'b', Driver: 'raw_exec', Config: { command: node, args: ['-e', 'process.exit(0)'] } };
    await call(e, 'PUT', '/v1/jobs', { Job: job('batch', [{ Name: 'g', Count: 2, Tasks: [ok] }], { Type: 'batch' }) });
    const done = await until('batch complete', async () => {
      const list = await allocs(e, 'batch');
      return list.length === 2 && list.every((a) => a.ClientStatus === 'complete') ? list : undefined;
    });
    expect(done.every((a) => a.TaskStates.b.Restarts === 0 && a.TaskStates.b.State === 'dead')).toBe(true);
    expect((await call(e, 'GET', '/v1/job/batch')).json.Status).toBe('dead');
    expect((await call(e, 'GET', '/v1/job/batch/summary')).json.Summary.g.Complete).toBe(2);
  });

  it('re-registers a stopped job and separates incarnations after a purge (all=true)', async () => {
    const e = await start();
    await call(e, 'PUT', '/v1/jobs', { Job: job('again') });
    const [first] = await runningAllocs(e, 'again', 1);
    await call(e, 'DELETE', '/v1/job/again');
    await call(e, 'PUT', '/v1/jobs', { Job: job('again') });
    const back = (await call(e, 'GET', '/v1/job/again')).json;
    expect([back.Stop, back.Version]).toEqual([false, 2]);
    const [second] = await runningAllocs(e, 'again', 1);
    expect(second!.ID).not.toBe(first!.ID);
    await call(e, 'DELETE', '/v1/job/again?purge=true');
    await call(e, 'PUT', '/v1/jobs', { Job: job('again') });
    const [third] = await runningAllocs(e, 'again', 1);
    expect((await allocs(e, 'again')).map((a) => a.ID)).toEqual([third!.ID]);
    const all = (await allocs(e, 'again', '?all=true')).map((a) => a.ID);
    expect(all.sort()).toEqual([first!.ID, second!.ID, third!.ID].sort());
  });

  it('restarts an allocation in place on request', async () => {
    const e = await start();
    await call(e, 'PUT', '/v1/jobs', { Job: job('r') });
    const [alloc] = await runningAllocs(e, 'r', 1);
    const res = await call(e, 'PUT', `/v1/client/allocation/${alloc!.ID}/restart`, { TaskName: 'main' });
    expect([res.status, res.json]).toEqual([200, { Index: 0 }]);
    const after = await until('restarted', async () => {
      const a = (await call(e, 'GET', `/v1/allocation/${alloc!.ID}`)).json;
      return a.TaskStates.main.Restarts === 1 && a.TaskStates.main.State === 'running' ? a : undefined;
    });
    const types = after.TaskStates.main.Events.map((ev: Any) => ev.Type);
    expect(types.slice(types.indexOf('Restart Signaled'))).toEqual(['Restart Signaled', 'Terminated', 'Restarting', 'Started']);
    expect((await allocs(e, 'r')).map((a) => a.ID)).toEqual([alloc!.ID]);
    expect((await call(e, 'POST', '/v1/client/allocation/nope/restart', {})).status).toBe(404);
  });

  it('stops one allocation and places a replacement with the same name', async () => {
    const e = await start();
    await call(e, 'PUT', '/v1/jobs', { Job: job('st', [{ Name: 'g', Count: 2, Tasks: [sleepTask()] }]) });
    const [a0, a1] = await runningAllocs(e, 'st', 2);
    const res = await call(e, 'POST', `/v1/allocation/${a1!.ID}/stop`);
    expect(res.json.EvalID).not.toBe('');
    const list = await runningAllocs(e, 'st', 2);
    expect(list.map((a) => a.Name)).toEqual(['st.g[0]', 'st.g[1]']);
    expect(list[0]!.ID).toBe(a0!.ID);
    expect(list[1]!.ID).not.toBe(a1!.ID);
    expect(list[1]!.PreviousAllocation).toBe(a1!.ID);
    const old = (await call(e, 'GET', `/v1/allocation/${a1!.ID}`)).json;
    expect(old.DesiredStatus).toBe('stop');
    expect(old.NextAllocation).toBe(list[1]!.ID);
    expect((await call(e, 'PUT', '/v1/allocation/nope/stop')).text).toBe('allocation not found');
  });

  it('stops with KillSignal, escalates to SIGKILL after KillTimeout, and close() leaves no process', async () => {
    const e = await start();
    const pidFile = 'pid';
    // Ignores SIGTERM (so only SIGKILL ends it) but exits on SIGINT, to tell KillSignal from the escalation.
    const stubborn = [
      `require('fs').writeFileSync('${pidFile}',String(process.pid));`,
      "process.on('SIGTERM',()=>{});process.on('SIGINT',()=>process.exit(0));setInterval(()=>{},1000)",
    ].join('');
    const tasks = (signal: string) => [
      { Name: 't', Driver: 'raw_exec', Config: { command: node, args: ['-e', stubborn] }, KillSignal: signal, KillTimeout: SEC / 5 },
    ];
    await call(e, 'PUT', '/v1/jobs', {
      Job: job('kill', [
        { Name: 'term', Tasks: tasks('SIGTERM') },
        { Name: 'int', Tasks: tasks('SIGINT') },
      ]),
    });
    const list = await runningAllocs(e, 'kill', 2);
    const pids = await Promise.all(
      list.map((a) =>
        until('pid', async () => {
          try {
            return Number(readFileSync(join(lastDataDir(), 'allocs', a.ID, 't', pidFile), 'utf8'));
          } catch {
            return undefined;
          }
        }),
      ),
    );
    await call(e, 'DELETE', '/v1/job/kill');
    const done = await until('both killed', async () => {
      const all = await allocs(e, 'kill');
      return all.every((a) => a.ClientStatus === 'complete') ? all : undefined;
    });
    const byGroup = Object.fromEntries(done.map((a) => [a.TaskGroup, a.TaskStates.t]));
    const termEvents = byGroup.term.Events.map((ev: Any) => ev.Type);
    expect(termEvents.slice(-3)).toEqual(['Killing', 'Terminated', 'Killed']);
    expect(byGroup.term.Events.find((ev: Any) => ev.Type === 'Terminated').Signal).toBe(9);
    expect(byGroup.int.Events.find((ev: Any) => ev.Type === 'Terminated').ExitCode).toBe(0);
    for (const pid of pids) expect(pidAlive(pid)).toBe(false);

    await call(e, 'PUT', '/v1/jobs', { Job: job('left', [{ Name: 'g', Tasks: tasks('SIGTERM') }]) });
    const [alloc] = await runningAllocs(e, 'left', 1);
    const leftPid = await until('pid', async () => {
      try {
        return Number(readFileSync(join(lastDataDir(), 'allocs', alloc!.ID, 't', pidFile), 'utf8'));
      } catch {
        return undefined;
      }
    });
    await e.close();
    expect(pidAlive(leftPid)).toBe(false);
    await e.close();
    await expect(fetch(`${e.address}/v1/jobs`)).rejects.toThrow();
  });
});
