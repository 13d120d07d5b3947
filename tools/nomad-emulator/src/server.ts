/** The HTTP surface: Nomad's routes, plain-text errors, index headers, blocking queries and the ACL check. */
import { closeSync, openSync, readdirSync, readSync, statSync, type Stats } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { Cluster } from './cluster.js';
import type { AllocatedPort } from './ports.js';
import { HttpError, parseGoDuration } from './util.js';

const MAX_WAIT_MS = 5 * 60 * 1000;

interface Reply {
  readonly body: unknown;
  /** For reads: the index a blocking query waits on; for writes, the index after the write. */
  readonly index: number;
  /** A write answers the index of its own write, as Nomad's raft apply does. */
  readonly write?: boolean;
  /** 200 unless given; a 204 has no body. */
  readonly status?: number;
  /** Bytes sent as they are instead of `body` as JSON (a file read from an allocation's directory). */
  readonly raw?: Buffer;
}

interface Request {
  readonly method: string;
  readonly path: string;
  /** The path as sent, before URL normalisation removed `.` and `..` segments (variable paths are checked on it). */
  readonly rawPath: string;
  readonly query: URLSearchParams;
  readonly namespace: string;
}

type Read = () => Reply;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(400, `Failed to decode request body: ${(error as Error).message}`);
  }
}

function object(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export class NomadHttpServer {
  private readonly server: Server;
  private readonly pending = new Set<() => void>();

  constructor(
    private readonly cluster: Cluster,
    private readonly aclToken: string | undefined,
    private readonly agent: { region: string; datacenter: string; name: string },
  ) {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
  }

  listen(host: string, port: number): Promise<string> {
    return new Promise((done, fail) => {
      this.server.once('error', fail);
      this.server.listen(port, host, () => {
        const address = this.server.address();
        if (address === null || typeof address === 'string') return fail(new Error('no TCP address'));
        done(`http://${host.includes(':') ? `[${host}]` : host}:${address.port}`);
      });
    });
  }

  async close(): Promise<void> {
    for (const wake of [...this.pending]) wake();
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const text = await readBody(req);
      // Nomad's status endpoints (leader, peers) check no token; every other route needs it.
      if (this.aclToken !== undefined && url.pathname.startsWith('/v1/') && !url.pathname.startsWith('/v1/status/')) {
        const header = req.headers['x-nomad-token'];
        const bearer = /^Bearer\s+(.+)$/iu.exec(req.headers.authorization ?? '')?.[1];
        const token = (Array.isArray(header) ? header[0] : header) ?? bearer;
        if (token !== this.aclToken) throw new HttpError(403, 'Permission denied');
      }
      const request: Request = {
        method: req.method ?? 'GET',
        path: url.pathname,
        rawPath: (req.url ?? '/').split('?')[0]!,
        query: url.searchParams,
        namespace: url.searchParams.get('namespace') || 'default',
      };
      const outcome = this.route(request, text);
      let reply: Reply;
      if (typeof outcome === 'function') reply = await this.blocking(request, outcome);
      else reply = outcome;
      const pretty = url.searchParams.has('pretty');
      const payload = reply.raw ?? JSON.stringify(reply.body, null, pretty ? 4 : undefined);
      const status = reply.status ?? 200;
      res.writeHead(status, {
        'Content-Type': reply.raw ? 'application/octet-stream' : 'application/json',
        // The global index: never behind what a client saw on another route. A blocking query waits on the read's
        // own index passing it, which only a change to that read's data can do (indexes come from the same counter).
        'X-Nomad-Index': String(reply.write ? reply.index : Math.max(1, reply.index, this.cluster.index)),
        'X-Nomad-KnownLeader': 'true',
        'X-Nomad-LastContact': '0',
      });
      res.end(status === 204 ? undefined : payload);
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      const message = error instanceof Error ? error.message : String(error);
      if (!res.headersSent) res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(message);
    }
  }

  /** Nomad's blocking query: wait until the read's index passes `index`, or `wait` (max 5 min) runs out. */
  private async blocking(request: Request, read: Read): Promise<Reply> {
    const indexText = request.query.get('index');
    const waitText = request.query.get('wait');
    let waitMs = MAX_WAIT_MS;
    if (waitText !== null && waitText !== '') {
      const ns = parseGoDuration(waitText);
      if (ns === undefined || ns < 0) throw new HttpError(400, 'Invalid wait time');
      waitMs = Math.min(ns / 1e6, MAX_WAIT_MS);
    }
    let minIndex = 0;
    if (indexText !== null && indexText !== '') {
      if (!/^\d+$/u.test(indexText)) throw new HttpError(400, 'Invalid index');
      minIndex = Number(indexText);
    }
    let reply = read();
    if (minIndex === 0 || reply.index > minIndex) return reply;
    const deadline = Date.now() + waitMs;
    while (reply.index <= minIndex && Date.now() < deadline) {
      const change = this.cluster.nextChange();
      let wake!: () => void;
      const woken = new Promise<void>((done) => (wake = done));
      this.pending.add(wake);
      const timer = setTimeout(wake, deadline - Date.now());
      await Promise.race([change.promise, woken]);
      change.cancel();
      clearTimeout(timer);
      this.pending.delete(wake);
      if (!this.server.listening) break;
      reply = read();
    }
    return reply;
  }

  /** A Reply for writes and unblockable reads; a Read for reads that honour blocking queries. */
  private route(r: Request, text: string): Reply | Read {
    const c = this.cluster;
    if (r.rawPath.startsWith('/v1/var/')) return this.variable(r, text);
    const segments = r.path
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
    const method = r.method;
    const isWrite = method === 'POST' || method === 'PUT';
    const invalid = () => new HttpError(405, 'Invalid method');
    if (segments[0] !== 'v1') throw new HttpError(404, 'Invalid URL path');
    const [, resource, id, sub, extra] = segments;
    switch (resource) {
      case 'jobs': {
        if (id !== undefined) break;
        if (method === 'GET') {
          c.checkNamespace(r.namespace);
          const prefix = r.query.get('prefix') ?? '';
          return () => ({
            index: c.tables.jobs,
            body: c.listJobs(r.namespace, prefix).map((job) => ({
              ID: job.ID,
              ParentID: '',
              Name: job.Name,
              Namespace: job.Namespace,
              Datacenters: job.Datacenters,
              Type: job.Type,
              Priority: job.Priority,
              Periodic: false,
              ParameterizedJob: false,
              Stop: job.Stop,
              Status: job.Status,
              StatusDescription: job.StatusDescription,
              JobSummary: c.summary(job.Namespace, job.ID),
              CreateIndex: job.CreateIndex,
              ModifyIndex: job.ModifyIndex,
              JobModifyIndex: job.JobModifyIndex,
              SubmitTime: job.SubmitTime,
              ...(r.query.get('meta') === 'true' && job.Meta ? { Meta: job.Meta } : {}),
            })),
          });
        }
        if (isWrite) return this.register(r, text, undefined);
        throw invalid();
      }
      case 'job': {
        if (id === undefined || extra !== undefined) break;
        if (sub === undefined) {
          if (method === 'GET') {
            c.checkNamespace(r.namespace);
            return () => {
              const job = c.getJob(r.namespace, id);
              if (!job) throw new HttpError(404, 'job not found');
              return { index: job.ModifyIndex, body: job };
            };
          }
          if (isWrite) return this.register(r, text, id);
          if (method === 'DELETE') {
            c.checkNamespace(r.namespace);
            const result = c.deregister(r.namespace, id, r.query.get('purge') === 'true');
            return { index: result.Index, body: result, write: true };
          }
          throw invalid();
        }
        c.checkNamespace(r.namespace);
        if (sub === 'allocations' && method === 'GET') {
          const all = r.query.get('all') === 'true';
          return () => ({ index: c.tables.allocs, body: c.jobAllocations(r.namespace, id, all).map((a) => this.stub(a.ID)) });
        }
        if (sub === 'evaluations' && method === 'GET') return () => ({ index: c.tables.evals, body: c.jobEvaluations(r.namespace, id) });
        if (sub === 'summary' && method === 'GET')
          return () => {
            const summary = c.summary(r.namespace, id);
            return { index: summary.ModifyIndex, body: summary };
          };
        if (sub === 'scale') {
          if (method === 'GET') return () => ({ index: Math.max(c.tables.jobs, c.tables.allocs), body: c.scaleStatus(r.namespace, id) });
          if (isWrite) {
            const body = object(parseJson(text));
            const target = object(body.Target);
            if (typeof target.Namespace === 'string' && target.Namespace !== '' && target.Namespace !== r.namespace)
              throw new HttpError(400, 'namespace in payload did not match header');
            const result = c.scale(r.namespace, id, body);
            return { index: result.Index, body: result, write: true };
          }
          throw invalid();
        }
        if (['allocations', 'evaluations', 'summary'].includes(sub)) throw invalid();
        break;
      }
      case 'evaluation':
        if (id === undefined || sub !== undefined) break;
        if (method !== 'GET') throw invalid();
        return () => {
          const evaluation = c.evaluation(id);
          return { index: evaluation.ModifyIndex, body: evaluation };
        };
      case 'allocation':
        if (id === undefined || extra !== undefined) break;
        if (sub === undefined) {
          if (method !== 'GET') throw invalid();
          return () => {
            const record = c.allocationRecord(id);
            return { index: record.api.ModifyIndex, body: { ...this.stub(id), Job: record.job, TaskResources: this.taskResources(id) } };
          };
        }
        if (sub === 'stop') {
          if (!isWrite) throw invalid();
          const result = c.stopAllocation(id);
          return { index: result.Index, body: result, write: true };
        }
        break;
      case 'client':
        if (id === 'fs' && sub !== undefined && extra !== undefined && segments.length === 5) {
          if (method !== 'GET') throw invalid();
          return this.allocationFiles(sub, extra, r.query);
        }
        if (id === 'allocation' && sub !== undefined && extra === 'restart' && segments.length === 5) {
          if (!isWrite) throw invalid();
          const body = object(parseJson(text));
          const task = typeof body.TaskName === 'string' && body.TaskName !== '' && body.AllTasks !== true ? body.TaskName : undefined;
          c.restartAllocation(sub, task);
          return { index: 0, body: { Index: 0 } };
        }
        break;
      case 'agent':
        if (id === 'self' && sub === undefined) {
          if (method !== 'GET') throw invalid();
          return { index: c.index, body: this.agentSelf() };
        }
        break;
      case 'status':
        if (id === 'leader' && sub === undefined && method === 'GET') return { index: c.index, body: '127.0.0.1:4647' };
        if (id === 'peers' && sub === undefined && method === 'GET') return { index: c.index, body: ['127.0.0.1:4647'] };
        break;
      case 'regions':
        if (id === undefined && method === 'GET') return { index: c.index, body: [this.agent.region] };
        break;
      case 'namespaces':
        if (id === undefined && method === 'GET')
          return {
            index: 1,
            body: c.namespaces.map((name) => ({
              Name: name,
              Description: name === 'default' ? 'Default shared namespace' : '',
              Quota: '',
              Capabilities: null,
              Meta: null,
              CreateIndex: 1,
              ModifyIndex: 1,
            })),
          };
        break;
      case 'vars':
        if (id !== undefined) break;
        if (method !== 'GET') throw invalid();
        c.checkNamespace(r.namespace);
        return () => ({ index: c.tables.vars, body: c.variables.list(r.namespace, r.query.get('prefix') ?? '') });
      case 'nodes':
        if (id === undefined && method === 'GET') return () => ({ index: c.tables.nodes, body: [this.nodeStub()] });
        break;
      case 'node':
        if (id !== undefined && sub === undefined && method === 'GET')
          return () => {
            if (id !== c.node.id) throw new HttpError(404, 'node not found');
            return { index: c.tables.nodes, body: { ...this.nodeStub(), Resources: null } };
          };
        break;
      default:
        break;
    }
    throw new HttpError(404, 'Invalid URL path');
  }

  /**
   * `/v1/client/fs/{ls,stat,readat}/<alloc>?path=…`: the files of an allocation's directory (its tasks'
   * logs are in `alloc/logs`), which Nomad's client serves and the server forwards to it. A path may
   * not leave the allocation's directory.
   */
  private allocationFiles(operation: string, allocationId: string, query: URLSearchParams): Reply {
    const directory = this.cluster.allocationRecord(allocationId).runner.allocDir;
    const path = query.get('path') || '/';
    const file = resolve(directory, `.${isAbsolute(path) ? path : `/${path}`}`);
    const inside = relative(directory, file);
    if (inside.startsWith('..') || isAbsolute(inside)) throw new HttpError(400, 'Path escapes the alloc directory');
    const stat = (target: string): Stats => {
      try {
        return statSync(target);
      } catch {
        throw new HttpError(404, `stat ${path}: no such file or directory`);
      }
    };
    const info = (name: string, stats: Stats) => ({
      Name: name,
      IsDir: stats.isDirectory(),
      Size: stats.size,
      FileMode: fileMode(stats),
      ModTime: stats.mtime.toISOString(),
    });
    switch (operation) {
      case 'ls': {
        if (!stat(file).isDirectory()) throw new HttpError(400, `${path} is not a directory`);
        const names = readdirSync(file).sort();
        return { index: 0, body: names.map((name) => info(name, stat(join(file, name)))) };
      }
      case 'stat': {
        const stats = stat(file);
        return { index: 0, body: { ...info(file === directory ? '/' : (file.split('/').at(-1) ?? ''), stats), ContentType: '' } };
      }
      case 'readat': {
        const offset = Number(query.get('offset'));
        const limit = Number(query.get('limit'));
        if (!Number.isInteger(offset) || offset < 0) throw new HttpError(400, 'error parsing offset: must be a whole number >= 0');
        if (!Number.isInteger(limit) || limit < 0) throw new HttpError(400, 'error parsing limit: must be a whole number >= 0');
        if (stat(file).isDirectory()) throw new HttpError(400, `${path} is a directory`);
        const fd = openSync(file, 'r');
        try {
          const bytes = Buffer.alloc(Math.max(0, Math.min(limit, statSync(file).size - offset)));
          const read = bytes.length > 0 ? readSync(fd, bytes, 0, bytes.length, offset) : 0;
          return { index: 0, body: undefined, raw: bytes.subarray(0, read) };
        } finally {
          closeSync(fd);
        }
      }
      default:
        throw new HttpError(404, 'Invalid URL path');
    }
  }

  /** `/v1/var/<path>`: read, create or update (PUT/POST), delete; `cas` makes the write a check-and-set. */
  private variable(r: Request, text: string): Reply | Read {
    const c = this.cluster;
    let path: string;
    try {
      path = decodeURIComponent(r.rawPath.slice('/v1/var/'.length));
    } catch {
      throw new HttpError(400, 'Invalid URL path');
    }
    if (path === '') throw new HttpError(400, 'missing variable path');
    const casText = r.query.get('cas');
    let cas: number | undefined;
    if (casText !== null && casText !== '') {
      if (!/^\d+$/u.test(casText))
        throw new HttpError(400, `can not parse cas: strconv.ParseUint: parsing ${JSON.stringify(casText)}: invalid syntax`);
      cas = Number(casText);
    }
    if (['lock-acquire', 'lock-renew', 'lock-release'].some((op) => r.query.has(op)))
      throw new HttpError(400, 'variable locks are not emulated');
    // A conflict answers 409 with the variable the check-and-set lost to, and that variable's index.
    const answer = (outcome: { variable?: unknown; conflict?: { ModifyIndex: number }; index: number }, ok: number): Reply =>
      outcome.conflict
        ? { status: 409, index: outcome.conflict.ModifyIndex, body: outcome.conflict, write: true }
        : { status: ok, index: outcome.index, body: outcome.variable ?? null, write: true };
    switch (r.method) {
      case 'GET':
        c.checkNamespace(r.namespace);
        return () => {
          const found = c.variables.get(r.namespace, path);
          if (!found) throw new HttpError(404, 'variable not found');
          return { index: found.ModifyIndex, body: found };
        };
      case 'PUT':
      case 'POST': {
        const body = object(parseJson(text));
        const items: Record<string, string> = {};
        for (const [k, v] of Object.entries(object(body.Items))) {
          // Go decodes a JSON null into a string as its zero value.
          if (v === null) items[k] = '';
          else if (typeof v === 'string') items[k] = v;
          else
            throw new HttpError(
              400,
              `json: cannot unmarshal ${Array.isArray(v) ? 'array' : typeof v} into Go struct field VariableDecrypted.Items of type string`,
            );
        }
        if (Object.keys(items).length === 0) throw new HttpError(400, 'variable missing required Items object');
        // Nomad takes the namespace from the body when it names one, else from the request.
        const namespace = typeof body.Namespace === 'string' && body.Namespace !== '' ? body.Namespace : r.namespace;
        if (namespace !== '*') c.checkNamespace(namespace);
        return answer(c.variables.put(namespace, path, items, cas), 200);
      }
      case 'DELETE':
        c.checkNamespace(r.namespace);
        return answer(c.variables.delete(r.namespace, path, cas), 204);
      default:
        // Nomad answers an unknown method on this route with 400, not 405.
        throw new HttpError(400, 'Invalid method');
    }
  }

  private register(r: Request, text: string, urlId: string | undefined): Reply {
    const body = object(parseJson(text));
    if (body.Job === undefined || body.Job === null) throw new HttpError(400, 'Job must be specified');
    this.cluster.checkNamespace(r.namespace);
    const result = this.cluster.register(body.Job, r.namespace, {
      enforceIndex: body.EnforceIndex === true,
      jobModifyIndex: typeof body.JobModifyIndex === 'number' ? body.JobModifyIndex : 0,
      preserveCounts: body.PreserveCounts === true,
      urlId,
    });
    return { index: result.Index, body: result, write: true };
  }

  private stub(id: string) {
    const record = this.cluster.allocationRecord(id);
    const a = record.api;
    return {
      ID: a.ID,
      EvalID: a.EvalID,
      Name: a.Name,
      Namespace: a.Namespace,
      NodeID: a.NodeID,
      NodeName: a.NodeName,
      JobID: a.JobID,
      JobType: record.job.Type,
      JobVersion: record.job.Version,
      TaskGroup: a.TaskGroup,
      AllocatedResources: this.allocatedResources(id),
      DesiredStatus: a.DesiredStatus,
      DesiredDescription: a.DesiredDescription,
      DesiredTransition: a.DesiredTransition,
      ClientStatus: a.ClientStatus,
      ClientDescription: a.ClientDescription,
      TaskStates: a.TaskStates,
      DeploymentStatus: null,
      FollowupEvalID: a.FollowupEvalID,
      PreviousAllocation: a.PreviousAllocation,
      NextAllocation: a.NextAllocation,
      RescheduleTracker: a.RescheduleTracker,
      PreemptedAllocations: null,
      PreemptedByAllocation: '',
      CreateIndex: a.CreateIndex,
      ModifyIndex: a.ModifyIndex,
      AllocModifyIndex: a.AllocModifyIndex,
      CreateTime: a.CreateTime,
      ModifyTime: a.ModifyTime,
    };
  }

  private groupOf(id: string) {
    const record = this.cluster.allocationRecord(id);
    return record.job.TaskGroups.find((g) => g.Name === record.api.TaskGroup);
  }

  private allocatedResources(id: string) {
    const group = this.groupOf(id);
    const ports = this.cluster.allocationPorts(id);
    const network = (owned: readonly AllocatedPort[]) => ({
      Mode: 'host',
      Device: '',
      CIDR: '',
      IP: '127.0.0.1',
      DNS: null,
      ReservedPorts: owned.filter((p) => p.reserved).map((p) => this.port(p)),
      DynamicPorts: owned.filter((p) => !p.reserved).map((p) => this.port(p)),
      Hostname: '',
    });
    const tasks: Record<string, unknown> = {};
    for (const task of group?.Tasks ?? []) {
      const own = ports.filter((p) => p.task === task.Name);
      tasks[task.Name] = {
        Cpu: { CpuShares: task.Resources.CPU, ReservedCores: null },
        Memory: { MemoryMB: task.Resources.MemoryMB, MemoryMaxMB: 0 },
        Networks: own.length > 0 ? [network(own)] : null,
      };
    }
    const shared = ports.filter((p) => p.task === undefined);
    return {
      Tasks: tasks,
      Shared: {
        DiskMB: group?.EphemeralDisk.SizeMB ?? 0,
        Networks: shared.length > 0 ? [network(shared)] : null,
        Ports: shared.length > 0 ? shared.map((p) => ({ Label: p.label, Value: p.value, To: p.to, HostIP: '127.0.0.1' })) : null,
      },
    };
  }

  private port(p: AllocatedPort) {
    return { Label: p.label, Value: p.value, To: p.to, HostNetwork: 'default', IgnoreCollision: false };
  }

  private taskResources(id: string) {
    const tasks: Record<string, unknown> = {};
    for (const task of this.groupOf(id)?.Tasks ?? []) tasks[task.Name] = task.Resources;
    return tasks;
  }

  private nodeStub() {
    const node = this.cluster.node;
    const drivers: Record<string, unknown> = {};
    for (const driver of node.drivers)
      drivers[driver] = {
        Attributes: { [`driver.${driver}`]: '1' },
        Detected: true,
        Healthy: true,
        HealthDescription: 'Healthy',
        UpdateTime: new Date().toISOString(),
      };
    return {
      Address: '127.0.0.1',
      ID: node.id,
      Attributes: { 'unique.hostname': node.name, 'unique.network.ip-address': '127.0.0.1', 'os.name': process.platform },
      Datacenter: node.datacenter,
      Name: node.name,
      NodeClass: '',
      NodePool: 'default',
      Version: '1.9.0',
      Drain: false,
      SchedulingEligibility: 'eligible',
      Status: 'ready',
      StatusDescription: '',
      Drivers: drivers,
      NodeResources: {
        Cpu: { CpuShares: node.cpuMhz, TotalCpuCores: 0, ReservableCpuCores: null },
        Memory: { MemoryMB: node.memoryMb },
        Disk: { DiskMB: node.diskMb },
        Networks: null,
        Devices: null,
        MinDynamicPort: 20000,
        MaxDynamicPort: 32000,
      },
      ReservedResources: null,
      LastDrain: null,
      CreateIndex: 1,
      ModifyIndex: 1,
    };
  }

  private agentSelf() {
    return {
      config: {
        Region: this.agent.region,
        Datacenter: this.agent.datacenter,
        NodeName: this.agent.name,
        Version: { Version: '1.9.0', Prerelease: '', Metadata: '', Revision: 'ardea-emulator' },
        ACL: { Enabled: this.aclToken !== undefined },
        Client: { Enabled: true },
        Server: { Enabled: true },
      },
      member: {
        Name: `${this.agent.name}.${this.agent.region}`,
        Addr: '127.0.0.1',
        Port: 4648,
        Tags: { region: this.agent.region, dc: this.agent.datacenter, role: 'nomad', build: '1.9.0' },
        Status: 'alive',
        ProtocolMin: 1,
        ProtocolMax: 5,
        ProtocolCur: 2,
        DelegateMin: 2,
        DelegateMax: 5,
        DelegateCur: 4,
      },
      stats: { nomad: { leader: 'true', server: 'true', known_regions: '1' }, client: { known_servers: '127.0.0.1:4647' } },
    };
  }
}

/** A file's mode as Go's `os.FileMode.String()` writes it, which is what Nomad answers. */
function fileMode(stats: Stats): string {
  const bits = 'rwxrwxrwx'
    .split('')
    .map((letter, index) => (stats.mode & (0o400 >> index) ? letter : '-'))
    .join('');
  return `${stats.isDirectory() ? 'd' : '-'}${bits}`;
}
