import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { NomadEmulator } from './index.js';
import { call, start, type Any } from './test-support.js';

/** A request whose path goes out as written: fetch would resolve `..` and `%2E%2E` segments before sending. */
function raw(e: NomadEmulator, method: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${e.address}/`, { method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('variables API', () => {
  it('creates, reads, updates, lists and deletes a variable with Nomad indexes, times and statuses', async () => {
    const e = await start();
    const put = await call(e, 'PUT', '/v1/var/nomad/jobs/web', {
      Namespace: '',
      Path: 'ignored',
      Items: { password: 's3cret', user: 'u' },
    });
    expect(put.status).toBe(200);
    const created = put.json as Any;
    expect(created).toMatchObject({ Namespace: 'default', Path: 'nomad/jobs/web', Items: { password: 's3cret', user: 'u' } });
    expect(created.CreateIndex).toBeGreaterThan(0);
    expect(created.ModifyIndex).toBe(created.CreateIndex);
    expect(Number(put.headers.get('x-nomad-index'))).toBe(created.ModifyIndex);
    // int64 nanoseconds since the epoch, as Nomad's UnixNano()
    expect(created.CreateTime).toBeGreaterThan(Date.now() * 1e6 - 60e9 * 1e3);
    expect(created.ModifyTime).toBe(created.CreateTime);
    expect(Object.keys(created).sort()).toEqual(['CreateIndex', 'CreateTime', 'Items', 'ModifyIndex', 'ModifyTime', 'Namespace', 'Path']);

    const read = await call(e, 'GET', '/v1/var/nomad/jobs/web');
    expect(read.status).toBe(200);
    expect(read.json).toEqual(created);
    expect(Number(read.headers.get('x-nomad-index'))).toBeGreaterThanOrEqual(created.ModifyIndex);

    const update = await call(e, 'PUT', `/v1/var/nomad/jobs/web?cas=${created.ModifyIndex}`, { Items: { password: 'new' } });
    expect(update.status).toBe(200);
    expect(update.json.ModifyIndex).toBeGreaterThan(created.ModifyIndex);
    expect(update.json).toMatchObject({ CreateIndex: created.CreateIndex, CreateTime: created.CreateTime, Items: { password: 'new' } });

    await call(e, 'PUT', '/v1/var/other/thing', { Items: { a: '1' } });
    const all = await call(e, 'GET', '/v1/vars');
    expect(all.status).toBe(200);
    expect((all.json as Any[]).map((v) => v.Path)).toEqual(['nomad/jobs/web', 'other/thing']);
    // List entries are metadata: no Items.
    expect(Object.keys((all.json as Any[])[0]!).sort()).toEqual([
      'CreateIndex',
      'CreateTime',
      'ModifyIndex',
      'ModifyTime',
      'Namespace',
      'Path',
    ]);
    const prefixed = await call(e, 'GET', '/v1/vars?prefix=nomad/');
    expect((prefixed.json as Any[]).map((v) => v.Path)).toEqual(['nomad/jobs/web']);
    expect(Number(prefixed.headers.get('x-nomad-index'))).toBeGreaterThan(update.json.ModifyIndex);

    const del = await call(e, 'DELETE', '/v1/var/nomad/jobs/web');
    expect([del.status, del.text]).toEqual([204, '']);
    const gone = await call(e, 'GET', '/v1/var/nomad/jobs/web');
    expect([gone.status, gone.text, gone.headers.get('content-type')]).toEqual([404, 'variable not found', 'text/plain; charset=utf-8']);
    // Deleting what is not there succeeds, as in Nomad.
    expect((await call(e, 'DELETE', '/v1/var/nomad/jobs/web')).status).toBe(204);
    expect(((await call(e, 'GET', '/v1/vars')).json as Any[]).map((v) => v.Path)).toEqual(['other/thing']);
  });

  it('answers a lost check-and-set with 409 and the variable it lost to', async () => {
    const e = await start();
    const first = (await call(e, 'PUT', '/v1/var/app/config?cas=0', { Items: { k: 'v1' } })).json as Any;
    expect(first.Items).toEqual({ k: 'v1' });
    // cas=0: create only if absent.
    const again = await call(e, 'PUT', '/v1/var/app/config?cas=0', { Items: { k: 'v2' } });
    expect(again.status).toBe(409);
    expect(again.json).toEqual(first);
    expect(Number(again.headers.get('x-nomad-index'))).toBe(first.ModifyIndex);
    const stale = await call(e, 'PUT', `/v1/var/app/config?cas=${first.ModifyIndex + 100}`, { Items: { k: 'v3' } });
    expect([stale.status, stale.json.Items]).toEqual([409, { k: 'v1' }]);
    // A check-and-set on a variable that does not exist loses to the zero variable at that path.
    const missing = await call(e, 'PUT', '/v1/var/app/none?cas=7', { Items: { k: 'v' } });
    expect([missing.status, missing.json]).toEqual([
      409,
      { Namespace: 'default', Path: 'app/none', CreateIndex: 0, ModifyIndex: 0, CreateTime: 0, ModifyTime: 0, Items: null },
    ]);
    const badDelete = await call(e, 'DELETE', `/v1/var/app/config?cas=${first.ModifyIndex + 1}`);
    expect([badDelete.status, badDelete.json.Items]).toEqual([409, { k: 'v1' }]);
    expect((await call(e, 'GET', '/v1/var/app/config')).json.Items).toEqual({ k: 'v1' });
    expect((await call(e, 'DELETE', `/v1/var/app/config?cas=${first.ModifyIndex}`)).status).toBe(204);
    expect((await call(e, 'GET', '/v1/var/app/config')).status).toBe(404);
    const unparsable = await call(e, 'PUT', '/v1/var/app/config?cas=x', { Items: { k: 'v' } });
    expect([unparsable.status, unparsable.text]).toEqual([400, 'can not parse cas: strconv.ParseUint: parsing "x": invalid syntax']);
  });

  it("refuses what Nomad refuses, with Nomad's texts", async () => {
    const e = await start();
    const cases: Array<[string, string, unknown, number, string]> = [
      ['PUT', '/v1/var/', { Items: { a: 'b' } }, 400, 'missing variable path'],
      ['PUT', '/v1/var/a/../b', { Items: { a: 'b' } }, 500, 'invalid path "a/../b"'],
      ['PUT', '/v1/var/a/%2E%2E', { Items: { a: 'b' } }, 500, 'invalid path "a/.."'],
      ['PUT', '/v1/var/has space', { Items: { a: 'b' } }, 500, 'invalid path "has space"'],
      ['PUT', `/v1/var/${'x'.repeat(129)}`, { Items: { a: 'b' } }, 500, `invalid path "${'x'.repeat(129)}"`],
      [
        'PUT',
        '/v1/var/nomad',
        { Items: { a: 'b' } },
        500,
        '"nomad" is a reserved top-level directory path, but you may write variables to "nomad/jobs", "nomad/job-templates", or below',
      ],
      [
        'PUT',
        '/v1/var/nomad/other',
        { Items: { a: 'b' } },
        500,
        'only paths at "nomad/jobs" or "nomad/job-templates" and below are valid paths under the top-level "nomad" directory',
      ],
      ['PUT', '/v1/var/a', { Items: {} }, 400, 'variable missing required Items object'],
      ['PUT', '/v1/var/a', {}, 400, 'variable missing required Items object'],
      [
        'PUT',
        '/v1/var/a',
        { Items: { n: 1 } },
        400,
        'json: cannot unmarshal number into Go struct field VariableDecrypted.Items of type string',
      ],
      ['PUT', '/v1/var/a', { Items: { big: 'x'.repeat(64 * 1024) } }, 500, 'variables are limited to 64KiB in total size'],
      ['PUT', '/v1/var/a?namespace=nope', { Items: { a: 'b' } }, 400, 'namespace "nope" does not exist'],
      ['PUT', '/v1/var/a?namespace=*', { Items: { a: 'b' } }, 500, 'can not target wildcard ("*")namespace'],
      ['PATCH', '/v1/var/a', undefined, 400, 'Invalid method'],
      ['POST', '/v1/vars', undefined, 405, 'Invalid method'],
      ['PUT', '/v1/var/a?lock-acquire', { Items: { a: 'b' } }, 400, 'variable locks are not emulated'],
    ];
    for (const [method, path, body, status, text] of cases) {
      const res = /\.|%2E/iu.test(path) ? await raw(e, method, path, body) : await call(e, method, path, body);
      expect({ method, path, status: res.status, text: res.text }).toEqual({ method, path, status, text });
    }
    expect((await call(e, 'GET', '/v1/vars')).json).toEqual([]);
  });

  it('keeps namespaces apart, lists across them with *, and needs the ACL token', async () => {
    const e = await start({ namespaces: ['default', 'prod'], aclToken: 'tok' });
    const auth = { 'X-Nomad-Token': 'tok' };
    expect((await call(e, 'PUT', '/v1/var/nomad/jobs/web', { Items: { a: 'b' } })).status).toBe(403);
    expect((await call(e, 'GET', '/v1/vars', undefined, { 'X-Nomad-Token': 'wrong' })).text).toBe('Permission denied');
    await call(e, 'PUT', '/v1/var/nomad/jobs/web?namespace=prod', { Items: { env: 'prod' } }, auth);
    // The body's namespace wins over the request's, as in Nomad.
    const viaBody = await call(
      e,
      'PUT',
      '/v1/var/nomad/jobs/web',
      { Namespace: 'default', Items: { env: 'dev' } },
      { Authorization: 'Bearer tok' },
    );
    expect(viaBody.json.Namespace).toBe('default');
    expect((await call(e, 'GET', '/v1/var/nomad/jobs/web?namespace=prod', undefined, auth)).json.Items).toEqual({ env: 'prod' });
    expect((await call(e, 'GET', '/v1/var/nomad/jobs/web', undefined, auth)).json.Items).toEqual({ env: 'dev' });
    const all = (await call(e, 'GET', '/v1/vars?namespace=*', undefined, auth)).json as Any[];
    expect(all.map((v) => `${v.Namespace}:${v.Path}`)).toEqual(['default:nomad/jobs/web', 'prod:nomad/jobs/web']);
    expect(((await call(e, 'GET', '/v1/vars?namespace=prod', undefined, auth)).json as Any[]).length).toBe(1);
    await call(e, 'DELETE', '/v1/var/nomad/jobs/web?namespace=prod', undefined, auth);
    expect((await call(e, 'GET', '/v1/var/nomad/jobs/web?namespace=prod', undefined, auth)).status).toBe(404);
    expect((await call(e, 'GET', '/v1/var/nomad/jobs/web', undefined, auth)).status).toBe(200);
  });

  it('wakes a blocking list query when a variable is written', async () => {
    const e = await start();
    const first = await call(e, 'GET', '/v1/vars');
    const index = Number(first.headers.get('x-nomad-index'));
    const blocked = call(e, 'GET', `/v1/vars?index=${index}&wait=30s`);
    await new Promise((r) => setTimeout(r, 100));
    await call(e, 'PUT', '/v1/var/x', { Items: { a: 'b' } });
    const woken = await blocked;
    expect((woken.json as Any[]).map((v) => v.Path)).toEqual(['x']);
    expect(Number(woken.headers.get('x-nomad-index'))).toBeGreaterThan(index);
  });
});
