import { describe, expect, it } from 'vitest';
import { allocs, call, job, runningAllocs, SEC, sleepTask, start, until, type Any } from './test-support.js';

describe('jobs API', () => {
  it('registers a job, canonicalizes it and reads it back with index headers', async () => {
    const e = await start();
    const reg = await call(e, 'PUT', '/v1/jobs', { Job: job('web') });
    expect(reg.status).toBe(200);
    expect(reg.json.EvalID).toMatch(/^[0-9a-f-]{36}$/);
    expect(reg.json.JobModifyIndex).toBeGreaterThan(0);
    // Nomad writes the job and its evaluation in one raft entry and answers that entry's index.
    expect(reg.json.EvalCreateIndex).toBe(reg.json.JobModifyIndex);
    expect(Number(reg.headers.get('x-nomad-index'))).toBe(reg.json.JobModifyIndex);
    const read = await call(e, 'GET', '/v1/job/web');
    expect(read.headers.get('x-nomad-knownleader')).toBe('true');
    expect(read.headers.get('x-nomad-lastcontact')).toBe('0');
    const j = read.json;
    expect(j).toMatchObject({
      ID: 'web',
      Name: 'web',
      Type: 'service',
      Priority: 50,
      Region: 'global',
      Namespace: 'default',
      Version: 0,
      Stop: false,
    });
    expect(j.TaskGroups[0].Count).toBe(1);
    expect(j.TaskGroups[0].RestartPolicy).toEqual({ Attempts: 2, Interval: 1800 * SEC, Delay: 15 * SEC, Mode: 'fail' });
    expect(j.TaskGroups[0].ReschedulePolicy).toMatchObject({
      Delay: 30 * SEC,
      DelayFunction: 'exponential',
      MaxDelay: 3600 * SEC,
      Unlimited: true,
    });
    expect(j.TaskGroups[0].Tasks[0].Resources).toMatchObject({ CPU: 100, MemoryMB: 300 });
    expect(j.CreateIndex).toBeGreaterThan(0);
    expect(j.JobModifyIndex).toBe(reg.json.JobModifyIndex);
    const evaluation = await call(e, 'GET', `/v1/evaluation/${reg.json.EvalID}`);
    expect(evaluation.json).toMatchObject({ ID: reg.json.EvalID, Status: 'complete', TriggeredBy: 'job-register', JobID: 'web' });
    const evals = await call(e, 'GET', '/v1/job/web/evaluations');
    expect(evals.json.map((x: Any) => x.ID)).toContain(reg.json.EvalID);
  });

  it('increments Version only on a spec change', async () => {
    const e = await start();
    await call(e, 'POST', '/v1/jobs', { Job: job('v') });
    await call(e, 'POST', '/v1/jobs', { Job: job('v') });
    expect((await call(e, 'GET', '/v1/job/v')).json.Version).toBe(0);
    await call(e, 'POST', '/v1/job/v', { Job: job('v', undefined, { Meta: { a: 'b' } }) });
    expect((await call(e, 'GET', '/v1/job/v')).json.Version).toBe(1);
  });

  it('lists jobs with prefix and namespace, and rejects unknown namespaces', async () => {
    const e = await start({ namespaces: ['default', 'team'] });
    await call(e, 'PUT', '/v1/jobs', { Job: job('alpha') });
    await call(e, 'PUT', '/v1/jobs', { Job: job('beta') });
    await call(e, 'PUT', '/v1/jobs?namespace=team', { Job: job('alpha2') });
    const list = await call(e, 'GET', '/v1/jobs');
    expect(list.json.map((j: Any) => j.ID)).toEqual(['alpha', 'beta']);
    expect(list.json[0].JobSummary.Summary.g).toBeDefined();
    expect((await call(e, 'GET', '/v1/jobs?prefix=al')).json.map((j: Any) => j.ID)).toEqual(['alpha']);
    expect((await call(e, 'GET', '/v1/jobs?namespace=team')).json.map((j: Any) => j.ID)).toEqual(['alpha2']);
    expect((await call(e, 'GET', '/v1/jobs?namespace=*')).json).toHaveLength(3);
    expect((await call(e, 'GET', '/v1/job/alpha2')).status).toBe(404);
    const bad = await call(e, 'GET', '/v1/jobs?namespace=nope');
    expect(bad.status).toBe(400);
    expect(bad.text).toBe('namespace "nope" does not exist');
    expect((await call(e, 'PUT', '/v1/jobs?namespace=nope', { Job: job('x') })).status).toBe(400);
  });

  it("answers with Nomad's plain-text errors", async () => {
    const e = await start();
    const missing = await call(e, 'GET', '/v1/job/none');
    expect([missing.status, missing.text]).toEqual([404, 'job not found']);
    expect(missing.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await call(e, 'PUT', '/v1/jobs', {})).text).toBe('Job must be specified');
    expect((await call(e, 'PUT', '/v1/jobs', { Job: { Name: 'x' } })).text).toBe("Job ID hasn't been provided");
    const mismatch = await call(e, 'PUT', '/v1/job/other', { Job: job('web') });
    expect([mismatch.status, mismatch.text]).toEqual([400, 'Job ID does not match name']);
    const invalid = await call(e, 'PUT', '/v1/jobs', { Job: { ID: 'x', TaskGroups: [] } });
    expect(invalid.status).toBe(500);
    expect(invalid.text).toContain('Missing job task groups');
    const noDriver = await call(e, 'PUT', '/v1/jobs', { Job: job('x', [{ Name: 'g', Tasks: [{ Name: 't' }] }]) });
    expect(noDriver.status).toBe(500);
    expect(noDriver.text).toContain('Missing task driver');
    const malformed = await fetch(`${e.address}/v1/jobs`, { method: 'PUT', body: '{' });
    expect(malformed.status).toBe(400);
    expect((await call(e, 'GET', '/v1/allocation/nope')).text).toBe('allocation not found');
    expect((await call(e, 'GET', '/v1/evaluation/nope')).text).toBe('eval not found');
    expect((await call(e, 'PATCH', '/v1/job/x')).status).toBe(405);
    const del = await call(e, 'DELETE', '/v1/job/none');
    expect([del.status, del.json.EvalID]).toEqual([200, '']);
    await call(e, 'PUT', '/v1/jobs', { Job: job('svc') });
    const typeChange = await call(e, 'PUT', '/v1/jobs', { Job: job('svc', undefined, { Type: 'batch' }) });
    expect(typeChange.text).toBe('cannot update job from type "service" to "batch"');
  });

  it('serves agent, status, regions, namespaces and the one node', async () => {
    const e = await start({ datacenters: ['east'], node: { name: 'n1', cpuMhz: 4000, memoryMb: 2048 } });
    expect((await call(e, 'GET', '/v1/agent/self')).json.config.Datacenter).toBe('east');
    expect((await call(e, 'GET', '/v1/status/leader')).json).toBe('127.0.0.1:4647');
    expect((await call(e, 'GET', '/v1/regions')).json).toEqual(['global']);
    expect((await call(e, 'GET', '/v1/namespaces')).json.map((n: Any) => n.Name)).toEqual(['default']);
    const nodes = (await call(e, 'GET', '/v1/nodes')).json;
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ Name: 'n1', Datacenter: 'east', Status: 'ready' });
    expect(Object.keys(nodes[0].Drivers).sort()).toEqual(['exec', 'raw_exec']);
    expect(nodes[0].NodeResources.Memory.MemoryMB).toBe(2048);
  });
});

describe('ACL', () => {
  it('answers 403 Permission denied without the right token on every route but status', async () => {
    const e = await start({ aclToken: 'secret' });
    for (const path of ['/v1/jobs', '/v1/agent/self', '/v1/job/x', '/v1/nodes', '/v1/regions', '/v1/namespaces']) {
      const res = await call(e, 'GET', path);
      expect([res.status, res.text]).toEqual([403, 'Permission denied']);
      expect((await call(e, 'GET', path, undefined, { 'X-Nomad-Token': 'wrong' })).status).toBe(403);
    }
    expect((await call(e, 'GET', '/v1/jobs', undefined, { 'X-Nomad-Token': 'secret' })).status).toBe(200);
    expect((await call(e, 'GET', '/v1/jobs', undefined, { Authorization: 'Bearer secret' })).status).toBe(200);
    const write = await call(e, 'PUT', '/v1/jobs', { Job: job('x') }, { 'X-Nomad-Token': 'wrong' });
    expect([write.status, write.text]).toEqual([403, 'Permission denied']);
    // As in Nomad, the status endpoints answer whatever the token.
    expect((await call(e, 'GET', '/v1/status/leader', undefined, { 'X-Nomad-Token': 'wrong' })).status).toBe(200);
  });
});

describe('blocking queries', () => {
  it('returns when the index passes, or when wait elapses, and rejects bad values', async () => {
    const e = await start();
    await call(e, 'PUT', '/v1/jobs', { Job: job('b') });
    const first = await call(e, 'GET', '/v1/job/b');
    const index = Number(first.headers.get('x-nomad-index'));
    const timedOut = await call(e, 'GET', `/v1/job/b?index=${index}&wait=300ms`);
    expect(timedOut.status).toBe(200);
    expect(Number(timedOut.headers.get('x-nomad-index'))).toBe(index);
    const blocked = call(e, 'GET', `/v1/job/b?index=${index}&wait=60s`);
    let settled = false;
    void blocked.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(settled).toBe(false);
    await call(e, 'PUT', '/v1/jobs', { Job: job('b', undefined, { Meta: { x: '1' } }) });
    const woke = await blocked;
    expect(Number(woke.headers.get('x-nomad-index'))).toBeGreaterThan(index);
    expect(woke.json.Meta).toEqual({ x: '1' });
    expect((await call(e, 'GET', '/v1/job/b?index=1&wait=banana')).text).toBe('Invalid wait time');
    expect((await call(e, 'GET', '/v1/job/b?index=x')).text).toBe('Invalid index');
  });
});

describe('scheduler', () => {
  it('names allocations job.group[i], scales up lowest-free first and down highest first', async () => {
    const e = await start();
    await call(e, 'PUT', '/v1/jobs', { Job: job('s', [{ Name: 'g', Count: 2, Tasks: [sleepTask()] }]) });
    const two = await runningAllocs(e, 's', 2);
    expect(two.map((a) => a.Name)).toEqual(['s.g[0]', 's.g[1]']);
    const up = await call(e, 'POST', '/v1/job/s/scale', { Count: 4, Target: { Group: 'g' }, Message: 'more' });
    expect(up.status).toBe(200);
    expect(up.json.EvalID).not.toBe('');
    const four = await runningAllocs(e, 's', 4);
    expect(four.map((a) => a.Name)).toEqual(['s.g[0]', 's.g[1]', 's.g[2]', 's.g[3]']);
    // Scaling keeps the existing allocations: only the count changed.
    expect(four.filter((a) => two.some((b) => b.ID === a.ID))).toHaveLength(2);
    await call(e, 'PUT', '/v1/job/s/scale', { Count: 1, Target: { Group: 'g' } });
    const one = await runningAllocs(e, 's', 1);
    expect(one[0]!.ID).toBe(two[0]!.ID);
    const status = (await call(e, 'GET', '/v1/job/s/scale')).json;
    expect(status.TaskGroups.g.Desired).toBe(1);
    expect(status.TaskGroups.g.Events[1].Message).toBe('more');
    const stopped = (await allocs(e, 's')).filter((a) => a.DesiredStatus === 'stop');
    expect(stopped.map((a) => a.Name).sort()).toEqual(['s.g[1]', 's.g[2]', 's.g[3]']);
    await until('stopped allocs complete', async () =>
      (await allocs(e, 's')).filter((a) => a.DesiredStatus === 'stop').every((a) => a.ClientStatus === 'complete') ? true : undefined,
    );
    const summary = (await call(e, 'GET', '/v1/job/s/summary')).json;
    expect(summary.Summary.g).toMatchObject({ Running: 1, Complete: 3, Queued: 0 });
  });

  it("rejects bad scale requests with Nomad's texts", async () => {
    const e = await start();
    await call(e, 'PUT', '/v1/jobs', { Job: job('s', [{ Name: 'g', Count: 1, Tasks: [sleepTask()], Scaling: { Min: 0, Max: 3 } }]) });
    const cases: Array<[unknown, number, string]> = [
      [{ Count: 1 }, 400, 'missing task group name for scaling action'],
      [{ Count: 1, Target: { Group: 'h' } }, 400, 'task group "h" specified for scaling does not exist in job'],
      [{ Count: -1, Target: { Group: 'g' } }, 400, "scaling action count can't be negative"],
      [{ Count: 5, Target: { Group: 'g' } }, 400, 'group count was greater than scaling policy maximum: 5 > 3'],
    ];
    for (const [body, status, text] of cases) {
      const res = await call(e, 'POST', '/v1/job/s/scale', body);
      expect([res.status, res.text]).toEqual([status, text]);
    }
    const missing = await call(e, 'POST', '/v1/job/nope/scale', { Count: 1, Target: { Group: 'g' } });
    expect([missing.status, missing.text]).toEqual([404, 'job "nope" not found']);
  });

  it('replaces allocations on a task change but not on a count change', async () => {
    const e = await start();
    await call(e, 'PUT', '/v1/jobs', { Job: job('d', [{ Name: 'g', Count: 2, Tasks: [sleepTask()] }]) });
    const before = await runningAllocs(e, 'd', 2);
    await call(e, 'PUT', '/v1/jobs', { Job: job('d', [{ Name: 'g', Count: 3, Tasks: [sleepTask()] }]) });
    const three = await runningAllocs(e, 'd', 3);
    expect(three.filter((a) => before.some((b) => b.ID === a.ID))).toHaveLength(2);
    expect(three.every((a) => a.JobVersion === 1)).toBe(true);
    await call(e, 'PUT', '/v1/jobs', { Job: job('d', [{ Name: 'g', Count: 3, Tasks: [sleepTask('main', { Env: { A: '1' } })] }]) });
    const replaced = await until('replacement', async () => {
      const list = (await allocs(e, 'd')).filter((a) => a.DesiredStatus === 'run' && a.ClientStatus === 'running');
      return list.length === 3 && list.every((a) => !three.some((b) => b.ID === a.ID)) ? list : undefined;
    });
    expect(replaced.map((a) => a.Name).sort()).toEqual(['d.g[0]', 'd.g[1]', 'd.g[2]']);
  });

  it('reports placement failures: resources, datacenter, driver; and places when capacity frees', async () => {
    const e = await start({ node: { cpuMhz: 1000, memoryMb: 1000 }, datacenters: ['dc1'] });
    const big = (id: string, mem: number, count = 1) =>
      job(id, [{ Name: 'g', Count: count, Tasks: [sleepTask('main', { Resources: { CPU: 100, MemoryMB: mem } })] }]);
    await call(e, 'PUT', '/v1/jobs', { Job: big('first', 600) });
    await runningAllocs(e, 'first', 1);
    const reg = await call(e, 'PUT', '/v1/jobs', { Job: big('second', 300, 3) });
    const evaluation = (await call(e, 'GET', `/v1/evaluation/${reg.json.EvalID}`)).json;
    expect(evaluation.Status).toBe('complete');
    expect(evaluation.FailedTGAllocs.g).toMatchObject({
      NodesEvaluated: 1,
      NodesExhausted: 1,
      DimensionExhausted: { memory: 1 },
      CoalescedFailures: 1,
    });
    expect(evaluation.BlockedEval).not.toBe('');
    expect((await call(e, 'GET', `/v1/evaluation/${evaluation.BlockedEval}`)).json.Status).toBe('blocked');
    expect((await call(e, 'GET', '/v1/job/second/summary')).json.Summary.g.Queued).toBe(2);
    await runningAllocs(e, 'second', 1);
    await call(e, 'DELETE', '/v1/job/first?purge=true');
    await runningAllocs(e, 'second', 3);
    expect((await call(e, 'GET', `/v1/evaluation/${evaluation.BlockedEval}`)).json.Status).toBe('complete');
    expect((await call(e, 'GET', '/v1/job/second/summary')).json.Summary.g.Queued).toBe(0);

    const dc = await call(e, 'PUT', '/v1/jobs', { Job: job('elsewhere', undefined, { Datacenters: ['dc9'] }) });
    const dcEval = (await call(e, 'GET', `/v1/evaluation/${dc.json.EvalID}`)).json;
    expect(dcEval.FailedTGAllocs.g).toMatchObject({ NodesEvaluated: 0, NodesAvailable: { dc9: 0 } });
    const glob = await call(e, 'PUT', '/v1/jobs', {
      Job: job('glob', [{ Name: 'g', Tasks: [sleepTask('main', { Resources: { CPU: 10, MemoryMB: 10 } })] }], { Datacenters: ['d*'] }),
    });
    expect((await call(e, 'GET', `/v1/evaluation/${glob.json.EvalID}`)).json.FailedTGAllocs).toBeNull();
    const docker = await call(e, 'PUT', '/v1/jobs', {
      Job: job('dock', [{ Name: 'g', Tasks: [{ Name: 't', Driver: 'docker', Config: { image: 'x' } }] }]),
    });
    const dockerEval = (await call(e, 'GET', `/v1/evaluation/${docker.json.EvalID}`)).json;
    expect(dockerEval.FailedTGAllocs.g).toMatchObject({
      NodesEvaluated: 1,
      NodesFiltered: 1,
      ConstraintFiltered: { 'missing drivers': 1 },
    });
  });

  it('stops a job without purge (dead, allocs stopped) and purges it', async () => {
    const e = await start();
    await call(e, 'PUT', '/v1/jobs', { Job: job('k') });
    const [alloc] = await runningAllocs(e, 'k', 1);
    const stop = await call(e, 'DELETE', '/v1/job/k');
    expect(stop.json.EvalID).not.toBe('');
    const j = (await call(e, 'GET', '/v1/job/k')).json;
    expect([j.Stop, j.Status]).toEqual([true, 'dead']);
    const after = (await call(e, 'GET', `/v1/allocation/${alloc!.ID}`)).json;
    expect(after.DesiredStatus).toBe('stop');
    await until('alloc complete', async () =>
      (await call(e, 'GET', `/v1/allocation/${alloc!.ID}`)).json.ClientStatus === 'complete' ? true : undefined,
    );
    await call(e, 'DELETE', '/v1/job/k?purge=true');
    expect((await call(e, 'GET', '/v1/job/k')).status).toBe(404);
  });
});
