import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { SchedulerError } from '@ardea/core/plugin';
import { afterEach, describe, expect, it } from 'vitest';
import { yarnSchedulerConfigSchema } from './yarn-config.js';
import { UnreachableError, YarnResponseError, YarnRest, yarnError } from './yarn-rest.js';

function issues(config: unknown): string[] {
  const parsed = yarnSchedulerConfigSchema.safeParse(config);
  if (parsed.success) return [];
  return parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('scheduler.yaml of the yarn pool', () => {
  it('needs nothing: a ResourceManager on this machine, its caller as the user, a shared staging directory', () => {
    const config = yarnSchedulerConfigSchema.parse({});
    expect(config).toEqual({
      resourceManager: 'http://127.0.0.1:8088',
      user: os.userInfo().username,
      stagingDirectory: '/var/tmp/ardea-yarn',
      env: {},
      listenOnNodeHost: true,
      container0: { cpus: 1, memoryMb: 512 },
      maxContainerFailures: 1000,
      serviceProperties: {},
      submitTimeoutMs: 180_000,
      killTimeoutMs: 120_000,
      requestTimeoutMs: 30_000,
    });
    expect(config).not.toHaveProperty('queue');
  });

  it('accepts what a cluster has: an https ResourceManager, a queue path, a Kerberos-style user, a staging path with dots', () => {
    expect(
      issues({
        resourceManager: 'https://rm.example.com:8090/',
        queue: 'root.streaming',
        user: 'alice@EXAMPLE.COM',
        stagingDirectory: '/shared/..ardea/yarn.d',
        env: { JAVA_HOME: '/usr/lib/jvm/java-17', _X1: '' },
        container0: { cpus: 2 },
      }),
    ).toEqual([]);
  });

  it('refuses a ResourceManager address that is not an http or https URL', () => {
    expect(issues({ resourceManager: 'ftp://rm.example.com:8088' })).toEqual(['resourceManager: an http or https URL']);
    // Without a scheme, `host:port` parses as a URL of scheme `host`.
    expect(issues({ resourceManager: 'rm.example.com:8088' })).toEqual(['resourceManager: an http or https URL']);
    expect(issues({ resourceManager: 'rm example' })[0]).toBe('resourceManager: an http(s) URL such as http://rm.example.com:8088');
  });

  it("refuses a staging directory that is relative or climbs with '..'", () => {
    const refusal = "stagingDirectory: stagingDirectory must be an absolute path without '..'";
    expect(issues({ stagingDirectory: 'var/tmp/ardea-yarn' })).toEqual([refusal]);
    expect(issues({ stagingDirectory: '/var/tmp/../etc' })).toEqual([refusal]);
    expect(issues({ stagingDirectory: '/var/tmp/..' })).toEqual([refusal]);
    expect(issues({ stagingDirectory: '' })).not.toEqual([]);
  });

  it('refuses a queue name YARN would not have, and a user name with spaces', () => {
    expect(issues({ queue: 'stream jobs' })).toEqual(['queue: a queue name such as default or root.streaming']);
    expect(issues({ queue: 'root..streaming' })).toEqual(['queue: a queue name such as default or root.streaming']);
    expect(issues({ user: 'bob smith' })).toEqual(['user: a user name without spaces or separators']);
    expect(issues({ user: '../bob' })).toEqual(['user: a user name without spaces or separators']);
  });

  it('keeps ARDEA_CONTAINER_ID for the plugin, which sets it from the component instance', () => {
    expect(issues({ env: { ARDEA_CONTAINER_ID: '3' } })).toEqual([
      'env: may not set ARDEA_CONTAINER_ID: the plugin sets it from the component instance',
    ]);
  });

  it('refuses an env name the launch script cannot set, saying what a name must be', () => {
    expect(issues({ env: { '1X': 'v' } })).toEqual([
      "env.1X: '1X' is not an environment variable name the launch script can set (letters, digits and _, not starting with a digit)",
    ]);
  });

  it('refuses unknown keys, at the top and in container0', () => {
    expect(issues({ resourcemanager: 'http://rm:8088' })).toEqual([': Unrecognized key: "resourcemanager"']);
    expect(issues({ container0: { cpus: 1, memory: 1024 } })).toEqual(['container0: Unrecognized key: "memory"']);
  });
});

describe('errors of calls to the ResourceManager', () => {
  const action = "cannot schedule topology 'word-count' on YARN";
  const rm = 'http://rm.example.com:8088';
  const startHint = 'start it (on this machine: bash scripts/yarn-up.sh) or fix resourceManager in scheduler.yaml';

  let server: http.Server | undefined;

  afterEach(async () => {
    if (server) await new Promise((resolve) => server!.close(resolve));
    server = undefined;
  });

  it('says a ResourceManager that does not answer cannot be reached, why, and how to start one', () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const error = yarnError(new UnreachableError('GET', '/app/v1/services/word-count', rm, refused, 30_000), action, rm);
    expect(error).toBeInstanceOf(SchedulerError);
    expect(error.message).toBe(
      `${action}: cannot reach the YARN ResourceManager at ${rm} ` + `(GET ${rm}/app/v1/services/word-count: ECONNREFUSED); ${startHint}`,
    );
    expect(error.code).toBe('yarn.unreachable');
    expect(error.cause).toBeInstanceOf(UnreachableError);

    const timedOut = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(yarnError(new UnreachableError('POST', '/app/v1/services', rm, timedOut, 250), action, rm).message).toContain(
      `cannot reach the YARN ResourceManager at ${rm} (POST ${rm}/app/v1/services: no answer within 250 ms); ${startHint}`,
    );
  });

  it('turns a refused connection from a real request into that message', async () => {
    const port = await closedPort();
    const resourceManager = `http://127.0.0.1:${port}`;
    const rest = new YarnRest({ resourceManager, user: 'alice', requestTimeoutMs: 10_000 });
    const failure: unknown = await rest.getService('word-count').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UnreachableError);
    expect(yarnError(failure, action, resourceManager).message).toMatch(
      new RegExp(`^${literal(action)}: cannot reach the YARN ResourceManager at ${literal(resourceManager)} \\(.*ECONNREFUSED\\); `),
    );
  });

  it("keeps YARN's answer: status, method, path without its query, diagnostics, and what to do", () => {
    const forbidden = new YarnResponseError(
      'GET',
      '/ws/v1/cluster/apps?states=RUNNING&user=alice',
      403,
      'User alice cannot perform operation SUBMIT_APP on queue root.x',
    );
    const error = yarnError(forbidden, action, rm);
    expect(error).toBeInstanceOf(SchedulerError);
    expect(error.message).toBe(
      `${action}: the YARN ResourceManager at ${rm} answered 403 to GET /ws/v1/cluster/apps: ` +
        "User alice cannot perform operation SUBMIT_APP on queue root.x; check user in scheduler.yaml and the queue's ACLs",
    );
    expect(error.code).toBe('yarn.http-403');
    expect(error.cause).toBe(forbidden);

    const refused = new YarnResponseError('POST', '/app/v1/services', 400, 'Queue root.x does not exist');
    expect(yarnError(refused, action, rm, 'set queue in scheduler.yaml').message).toBe(
      `${action}: the YARN ResourceManager at ${rm} answered 400 to POST /app/v1/services: Queue root.x does not exist; ` +
        'set queue in scheduler.yaml',
    );
  });

  it('asks a hint function about the error, and adds nothing when it has nothing to say', () => {
    const seen: YarnResponseError[] = [];
    const hint = (error: YarnResponseError) => {
      seen.push(error);
      return error.status === 400 ? 'rename the topology' : undefined;
    };
    const invalid = new YarnResponseError('POST', '/app/v1/services', 400, 'Component name must not be same as service name');
    expect(yarnError(invalid, action, rm, hint).message).toMatch(/: Component name must not be same as service name; rename the topology$/);
    const broken = new YarnResponseError('DELETE', '/app/v1/services/word-count', 500, 'KeeperErrorCode = ConnectionLoss');
    expect(yarnError(broken, action, rm, hint).message).toMatch(
      /answered 500 to DELETE \/app\/v1\/services\/word-count: KeeperErrorCode = ConnectionLoss$/,
    );
    expect(seen).toEqual([invalid, broken]);
  });

  it("reports YARN's diagnostics from a real answer, and the path the plugin asked for without its query", async () => {
    server = http.createServer((_request, response) => {
      response.writeHead(403, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ RemoteException: { message: ' User alice cannot perform operation VIEW_APP \n' } }));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const resourceManager = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const rest = new YarnRest({ resourceManager, user: 'alice', requestTimeoutMs: 10_000 });
    const failure: unknown = await rest.liveApplications('word-count').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(YarnResponseError);
    expect(yarnError(failure, action, resourceManager).message).toBe(
      `${action}: the YARN ResourceManager at ${resourceManager} answered 403 to GET /ws/v1/cluster/apps: ` +
        "User alice cannot perform operation VIEW_APP; check user in scheduler.yaml and the queue's ACLs",
    );
  });

  it('passes a SchedulerError through and names the action for anything else', () => {
    const own = new SchedulerError('already said');
    expect(yarnError(own, action, rm)).toBe(own);
    const other = yarnError(new Error('EACCES: permission denied'), action, rm);
    expect(other).toBeInstanceOf(SchedulerError);
    expect(other.message).toBe(`${action}: EACCES: permission denied`);
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
