import { SchedulerError } from '@ardea/core/plugin';

/** What a failed call to the ResourceManager said, kept as the cause of the SchedulerError it becomes. */
export class YarnResponseError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** YARN's own words: a ServiceStatus's `diagnostics`, a RemoteException's `message`, or the body. */
    readonly diagnostics: string,
    /** The Services API's `code` (404004: no such service), when it sent one. */
    readonly code?: number,
  ) {
    super(`${method} ${path} answered ${status}: ${diagnostics}`);
    this.name = 'YarnResponseError';
  }
}

export interface YarnRestOptions {
  /** The ResourceManager's base URL, e.g. http://127.0.0.1:8088. */
  readonly resourceManager: string;
  /** Sent as `user.name`: who the ResourceManager takes the caller for under simple authentication. */
  readonly user: string;
  readonly requestTimeoutMs: number;
}

/** A service as the Services API returns it; only what the plugin reads. */
export interface ServiceView {
  readonly name: string;
  readonly id?: string;
  readonly state?: string;
  readonly components?: readonly ComponentView[];
}

export interface ComponentView {
  readonly name: string;
  readonly state?: string;
  readonly number_of_containers?: number;
  readonly containers?: readonly ContainerView[];
}

export interface ContainerView {
  readonly id: string;
  readonly state?: string;
  readonly ip?: string;
  /** The container's name in the registry's DNS, when the registry has one. */
  readonly hostname?: string;
  /** The NodeManager's host the container runs on. */
  readonly bare_host?: string;
  readonly launch_time?: number;
  readonly component_instance_name?: string;
}

/** An application as the ResourceManager's cluster API lists it. */
export interface ApplicationView {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly user?: string;
  readonly queue?: string;
  readonly diagnostics?: string;
  readonly applicationType?: string;
}

/** The application states in which YARN may still hold or start containers. */
export const LIVE_APPLICATION_STATES = ['NEW', 'NEW_SAVING', 'SUBMITTED', 'ACCEPTED', 'RUNNING'] as const;

/**
 * A thin client of the ResourceManager's REST APIs: the Services API (`/app/v1`) and the cluster API
 * (`/ws/v1/cluster`). Every call names the caller with `user.name`; failures keep YARN's diagnostics.
 */
export class YarnRest {
  readonly baseUrl: string;

  constructor(private readonly options: YarnRestOptions) {
    this.baseUrl = options.resourceManager.replace(/\/+$/, '');
  }

  getService(name: string): Promise<ServiceView> {
    return this.request('GET', `/app/v1/services/${encodeURIComponent(name)}`) as Promise<ServiceView>;
  }

  /** The service, or undefined when the ResourceManager knows no service of that name. */
  async findService(name: string): Promise<ServiceView | undefined> {
    try {
      return await this.getService(name);
    } catch (error) {
      if (isServiceNotFound(error)) return undefined;
      throw error;
    }
  }

  createService(definition: unknown): Promise<unknown> {
    return this.request('POST', '/app/v1/services', definition);
  }

  flexComponent(service: string, component: string, count: number): Promise<unknown> {
    return this.request('PUT', `/app/v1/services/${encodeURIComponent(service)}/components/${encodeURIComponent(component)}`, {
      name: component,
      number_of_containers: count,
    });
  }

  stopService(name: string): Promise<unknown> {
    return this.request('PUT', `/app/v1/services/${encodeURIComponent(name)}`, { state: 'STOPPED' });
  }

  destroyService(name: string): Promise<unknown> {
    return this.request('DELETE', `/app/v1/services/${encodeURIComponent(name)}`);
  }

  /** Asks the NodeManager (through the RM) to kill one container at once; its AM starts the instance again. */
  killContainer(containerId: string): Promise<unknown> {
    return this.request('POST', `/ws/v1/cluster/containers/${encodeURIComponent(containerId)}/signal/FORCEFUL_SHUTDOWN`);
  }

  /** The YARN services of this user named `name` that may still hold containers. */
  async liveApplications(name: string): Promise<ApplicationView[]> {
    const query = `states=${LIVE_APPLICATION_STATES.join(',')}&applicationTypes=yarn-service&user=${encodeURIComponent(this.options.user)}`;
    const body = (await this.request('GET', `/ws/v1/cluster/apps?${query}`)) as { apps?: { app?: ApplicationView[] } | null };
    return (body.apps?.app ?? []).filter((app) => app.name === name);
  }

  async application(id: string): Promise<ApplicationView> {
    return ((await this.request('GET', `/ws/v1/cluster/apps/${encodeURIComponent(id)}`)) as { app: ApplicationView }).app;
  }

  /** The containers the RM counts as allocated to the application's current attempt, by id: their NodeManager's web address. */
  async liveContainers(applicationId: string): Promise<Map<string, string>> {
    const app = encodeURIComponent(applicationId);
    const attempts = (await this.request('GET', `/ws/v1/cluster/apps/${app}/appattempts`)) as {
      appAttempts?: { appAttempt?: { appAttemptId?: string }[] } | null;
    };
    const attempt = attempts.appAttempts?.appAttempt?.at(-1)?.appAttemptId;
    if (!attempt) return new Map();
    const body = (await this.request('GET', `/ws/v1/cluster/apps/${app}/appattempts/${encodeURIComponent(attempt)}/containers`)) as {
      container?: { containerId: string; nodeHttpAddress?: string }[];
    };
    return new Map((body.container ?? []).map((container) => [container.containerId, container.nodeHttpAddress ?? '']));
  }

  /**
   * Whether the NodeManager at `nodeHttpAddress` still runs the container's processes. The RM forgets
   * a released container at once; only its NodeManager knows when the processes are gone. Undefined
   * when the NodeManager cannot be asked.
   */
  async runsAtNodeManager(nodeHttpAddress: string, containerId: string): Promise<boolean | undefined> {
    if (!nodeHttpAddress) return undefined;
    const base = /^https?:\/\//.test(nodeHttpAddress) ? nodeHttpAddress : `http://${nodeHttpAddress}`;
    try {
      const response = await fetch(`${base}/ws/v1/node/containers/${encodeURIComponent(containerId)}`, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.options.requestTimeoutMs),
      });
      if (response.status === 404) return false;
      if (!response.ok) return undefined;
      const state = ((await response.json()) as { container?: { state?: string } }).container?.state;
      return state !== undefined && !['DONE', 'COMPLETE'].includes(state);
    } catch {
      return undefined;
    }
  }

  /**
   * Part of a container's log file from its NodeManager (`/ws/v1/node/containerlogs`): the last
   * `-size` bytes for a negative `size`, the first `size` bytes otherwise, and the file's length when
   * the NodeManager read it. Undefined when the NodeManager has no such file (yet). The text format is
   * asked for because its header carries that length, which gives the bytes read their offset; the
   * bytes themselves follow unchanged.
   */
  async containerLogFile(
    nodeHttpAddress: string,
    containerId: string,
    file: string,
    size: number,
  ): Promise<{ readonly bytes: Buffer; readonly length: number } | undefined> {
    const base = /^https?:\/\//.test(nodeHttpAddress) ? nodeHttpAddress : `http://${nodeHttpAddress}`;
    const path = `/ws/v1/node/containerlogs/${encodeURIComponent(containerId)}/${encodeURIComponent(file)}`;
    const query = new URLSearchParams({ size: String(size), format: 'text', 'user.name': this.options.user });
    let response: Response;
    try {
      response = await fetch(`${base}${path}?${query}`, {
        headers: { accept: 'text/plain' },
        signal: AbortSignal.timeout(this.options.requestTimeoutMs),
      });
    } catch (error) {
      throw new UnreachableError('GET', path, base, error, this.options.requestTimeoutMs);
    }
    const body = Buffer.from(await response.arrayBuffer());
    if (response.status === 404) return undefined;
    if (!response.ok) {
      const text = body.toString('utf8');
      const parsed = parseJson(text);
      throw new YarnResponseError('GET', `${base}${path}`, response.status, diagnosticsOf(parsed, text), codeOf(parsed));
    }
    return parseContainerLog(body, size, `${base}${path}`);
  }

  /** The queues of the scheduler, by leaf name and full path (`default`, `root.default`). */
  async queues(): Promise<Set<string>> {
    const body = (await this.request('GET', '/ws/v1/cluster/scheduler')) as { scheduler?: { schedulerInfo?: SchedulerQueue } };
    const names = new Set<string>();
    const visit = (queue: SchedulerQueue, parent: string) => {
      for (const child of queue.queues?.queue ?? []) {
        const path = child.queuePath ?? (parent ? `${parent}.${child.queueName}` : child.queueName);
        if (child.queueName) names.add(child.queueName);
        if (path) names.add(path);
        visit(child, path ?? '');
      }
    };
    const root = body.scheduler?.schedulerInfo;
    // The fifo and fair schedulers report no queue tree here; only the capacity scheduler's can be checked.
    if (root?.type !== 'capacityScheduler') return names;
    visit(root, root.queueName ?? 'root');
    return names;
  }

  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const separator = path.includes('?') ? '&' : '?';
    const url = `${this.baseUrl}${path}${separator}user.name=${encodeURIComponent(this.options.user)}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs),
      });
    } catch (error) {
      throw new UnreachableError(method, path, this.baseUrl, error, this.options.requestTimeoutMs);
    }
    const text = await response.text();
    const parsed = parseJson(text);
    if (response.ok) return parsed ?? {};
    throw new YarnResponseError(method, path, response.status, diagnosticsOf(parsed, text), codeOf(parsed));
  }
}

interface SchedulerQueue {
  readonly type?: string;
  readonly queueName?: string;
  readonly queuePath?: string;
  readonly queues?: { readonly queue?: readonly SchedulerQueue[] } | null;
}

/** No answer at all: refused, unresolvable, reset or timed out. */
export class UnreachableError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly baseUrl: string,
    cause: unknown,
    timeoutMs: number,
  ) {
    const reason =
      (cause as Error)?.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : String((cause as { cause?: { code?: string; message?: string } })?.cause?.code ?? (cause as Error)?.message ?? cause);
    super(`${method} ${baseUrl}${path}: ${reason}`, { cause });
    this.name = 'UnreachableError';
  }
}

export function isServiceNotFound(error: unknown): boolean {
  return error instanceof YarnResponseError && error.status === 404;
}

/**
 * A SchedulerError for a failed call: what the plugin was doing (`action`), what YARN said, and what
 * to do about it.
 */
export function yarnError(
  error: unknown,
  action: string,
  resourceManager: string,
  hint?: string | ((error: YarnResponseError) => string | undefined),
): SchedulerError {
  if (error instanceof SchedulerError) return error;
  if (error instanceof UnreachableError) {
    return new SchedulerError(
      `${action}: cannot reach the YARN ResourceManager at ${resourceManager} (${error.message}); ` +
        'start it (on this machine: bash scripts/yarn-up.sh) or fix resourceManager in scheduler.yaml',
      { cause: error, code: 'yarn.unreachable' },
    );
  }
  if (error instanceof YarnResponseError) {
    const advice =
      (typeof hint === 'function' ? hint(error) : hint) ??
      (error.status === 401 || error.status === 403 ? "check user in scheduler.yaml and the queue's ACLs" : undefined);
    return new SchedulerError(
      `${action}: the YARN ResourceManager at ${resourceManager} answered ${error.status} to ${error.method} ` +
        `${error.path.split('?')[0]}: ${error.diagnostics}${advice ? `; ${advice}` : ''}`,
      { cause: error, code: `yarn.http-${error.status}` },
    );
  }
  return new SchedulerError(`${action}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function diagnosticsOf(parsed: unknown, text: string): string {
  const body = parsed as { diagnostics?: string; RemoteException?: { message?: string }; message?: string } | undefined;
  const said = body?.diagnostics ?? body?.RemoteException?.message ?? body?.message;
  if (said) return said.trim();
  // An HTML error page (Jetty's): its title says it.
  const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1];
  return (title ?? text).trim().slice(0, 300) || '(empty body)';
}

function codeOf(parsed: unknown): number | undefined {
  const code = (parsed as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

const LOG_CONTENTS = Buffer.from('\nLogContents:\n');

/**
 * The bytes of a NodeManager's text-format log answer: a header (`Container: …`, `LogLength:<n>`,
 * `LogContents:`), the bytes read, then a trailer. How many bytes were read follows from the length
 * and `size` as the NodeManager computes it, so a trailer-like line inside the log cannot cut it short.
 */
export function parseContainerLog(body: Buffer, size: number, what: string): { bytes: Buffer; length: number } {
  const contents = body.indexOf(LOG_CONTENTS);
  const length = /(?:^|\n)LogLength:(\d+)\n/.exec(body.subarray(0, Math.max(0, contents + 1)).toString('latin1'))?.[1];
  if (contents < 0 || length === undefined) {
    throw new Error(`${what} answered without the LogLength and LogContents lines of a NodeManager log; is it a NodeManager of Hadoop 3?`);
  }
  const total = Number(length);
  const count = Math.min(Math.abs(size), total);
  const start = contents + LOG_CONTENTS.length;
  return { bytes: body.subarray(start, Math.min(body.length, start + count)), length: total };
}
