import { SchedulerError } from '@ardea/core/plugin';
import { z } from 'zod';

/** What Nomad answered to a failed call: its status and its plain-text error. */
export class NomadResponseError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** Nomad's own words (its error bodies are plain text). */
    readonly text: string,
  ) {
    super(`${method} ${path} answered ${status}: ${text}`);
    this.name = 'NomadResponseError';
  }
}

/** No answer at all: refused, unresolvable, reset or timed out. */
export class NomadUnreachableError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    cause: unknown,
    timeoutMs: number,
  ) {
    const reason =
      (cause as Error)?.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : String((cause as { cause?: { code?: string } })?.cause?.code ?? (cause as Error)?.message ?? cause);
    super(`${method} ${url}: ${reason}`, { cause });
    this.name = 'NomadUnreachableError';
  }
}

// Responses are parsed with schemas of only what the plugin reads: a field Nomad renames fails here,
// with its name, instead of as an undefined deep in the scheduler.
const taskStateSchema = z.object({
  State: z.string(),
  Failed: z.boolean().optional(),
  Restarts: z.number().int().default(0),
  Events: z
    .array(z.object({ Type: z.string(), DisplayMessage: z.string().optional(), ExitCode: z.number().optional() }).passthrough())
    .nullish(),
});

export const allocationSchema = z
  .object({
    ID: z.string(),
    Name: z.string(),
    /** The client node the allocation is placed on; empty until it is placed. */
    NodeName: z.string().optional(),
    JobID: z.string(),
    TaskGroup: z.string(),
    DesiredStatus: z.string(),
    ClientStatus: z.string(),
    ClientDescription: z.string().optional(),
    TaskStates: z.record(z.string(), taskStateSchema).nullish(),
    CreateIndex: z.number().int(),
  })
  .passthrough();
export type Allocation = z.infer<typeof allocationSchema>;

export const jobSchema = z
  .object({
    ID: z.string(),
    Status: z.string().optional(),
    Stop: z.boolean().optional(),
    TaskGroups: z.array(z.object({ Name: z.string(), Count: z.number().int() }).passthrough()).nullish(),
  })
  .passthrough();
export type JobView = z.infer<typeof jobSchema>;

export const registerResponseSchema = z.object({ EvalID: z.string(), JobModifyIndex: z.number().int().optional() }).passthrough();

const allocationMetricSchema = z
  .object({
    NodesEvaluated: z.number().optional(),
    NodesFiltered: z.number().optional(),
    NodesExhausted: z.number().optional(),
    NodesAvailable: z.record(z.string(), z.number()).nullish(),
    ClassFiltered: z.record(z.string(), z.number()).nullish(),
    ConstraintFiltered: z.record(z.string(), z.number()).nullish(),
    DimensionExhausted: z.record(z.string(), z.number()).nullish(),
  })
  .passthrough();
export type AllocationMetric = z.infer<typeof allocationMetricSchema>;

export const evaluationSchema = z
  .object({
    ID: z.string(),
    Status: z.string(),
    StatusDescription: z.string().optional(),
    FailedTGAllocs: z.record(z.string(), allocationMetricSchema).nullish(),
    BlockedEval: z.string().optional(),
  })
  .passthrough();
export type Evaluation = z.infer<typeof evaluationSchema>;

/** An entry of `/v1/client/fs/ls`. */
export const allocationFileSchema = z.object({ Name: z.string(), IsDir: z.boolean(), Size: z.number().int() }).passthrough();
export type AllocationFile = z.infer<typeof allocationFileSchema>;

export interface NomadApiOptions {
  readonly address: string;
  readonly token?: string;
  readonly region?: string;
  readonly namespace: string;
  readonly requestTimeoutMs: number;
}

/** A thin client of Nomad's HTTP API: every call carries the namespace, region and token. */
export class NomadApi {
  readonly baseUrl: string;

  constructor(private readonly options: NomadApiOptions) {
    this.baseUrl = options.address.replace(/\/+$/, '');
  }

  async job(id: string): Promise<JobView | undefined> {
    try {
      return jobSchema.parse(await this.request('GET', `/v1/job/${encodeURIComponent(id)}`));
    } catch (error) {
      if (error instanceof NomadResponseError && error.status === 404) return undefined;
      throw error;
    }
  }

  async register(job: unknown): Promise<z.infer<typeof registerResponseSchema>> {
    return registerResponseSchema.parse(await this.request('PUT', '/v1/jobs', { Job: job }));
  }

  async scale(id: string, group: string, count: number, message: string): Promise<z.infer<typeof registerResponseSchema>> {
    return registerResponseSchema.parse(
      await this.request('PUT', `/v1/job/${encodeURIComponent(id)}/scale`, { Count: count, Target: { Group: group }, Message: message }),
    );
  }

  async deregister(id: string): Promise<void> {
    await this.request('DELETE', `/v1/job/${encodeURIComponent(id)}?purge=true`);
  }

  /** The job's allocations, stopped and replaced ones included; none for a job Nomad does not know. */
  async allocations(jobId: string): Promise<Allocation[]> {
    try {
      return z.array(allocationSchema).parse(await this.request('GET', `/v1/job/${encodeURIComponent(jobId)}/allocations`));
    } catch (error) {
      if (error instanceof NomadResponseError && error.status === 404) return [];
      throw error;
    }
  }

  /** One allocation by id, also after its job was purged; undefined once Nomad forgot it. */
  async allocation(id: string): Promise<Allocation | undefined> {
    try {
      return allocationSchema.parse(await this.request('GET', `/v1/allocation/${encodeURIComponent(id)}`));
    } catch (error) {
      if (error instanceof NomadResponseError && error.status === 404) return undefined;
      throw error;
    }
  }

  async evaluation(id: string): Promise<Evaluation> {
    return evaluationSchema.parse(await this.request('GET', `/v1/evaluation/${encodeURIComponent(id)}`));
  }

  /** Stops one allocation; since the group's count is unchanged, Nomad places a replacement with the same index. */
  async stopAllocation(id: string): Promise<void> {
    await this.request('PUT', `/v1/allocation/${encodeURIComponent(id)}/stop`);
  }

  async putVariable(path: string, items: Record<string, string>): Promise<void> {
    await this.request('PUT', `/v1/var/${path}`, { Namespace: this.options.namespace, Path: path, Items: items });
  }

  async deleteVariable(path: string): Promise<void> {
    try {
      await this.request('DELETE', `/v1/var/${path}`);
    } catch (error) {
      if (!(error instanceof NomadResponseError && error.status === 404)) throw error;
    }
  }

  /** The entries of a directory of an allocation (`alloc/logs` holds its tasks' logs). */
  async allocationFiles(allocationId: string, path: string): Promise<AllocationFile[]> {
    const query = new URLSearchParams({ path });
    return z.array(allocationFileSchema).parse(await this.request('GET', `/v1/client/fs/ls/${encodeURIComponent(allocationId)}?${query}`));
  }

  /** Bytes `offset` to `offset + limit` of a file of an allocation (fewer at its end). */
  async readAllocationFile(allocationId: string, path: string, offset: number, limit: number): Promise<Buffer> {
    const query = new URLSearchParams({ path, offset: String(offset), limit: String(limit) });
    const response = await this.send('GET', `/v1/client/fs/readat/${encodeURIComponent(allocationId)}?${query}`);
    return Buffer.from(await response.arrayBuffer());
  }

  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const text = await (await this.send(method, path, body)).text();
    if (!text) return {};
    return JSON.parse(text) as unknown;
  }

  /** Sends one request; rejects unless Nomad answers 2xx. */
  private async send(method: string, path: string, body?: unknown): Promise<Response> {
    const query = new URLSearchParams({
      namespace: this.options.namespace,
      ...(this.options.region ? { region: this.options.region } : {}),
    });
    const url = `${this.baseUrl}${path}${path.includes('?') ? '&' : '?'}${query}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.options.token ? { 'x-nomad-token': this.options.token } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs),
      });
    } catch (error) {
      throw new NomadUnreachableError(method, `${this.baseUrl}${path.split('?')[0]}`, error, this.options.requestTimeoutMs);
    }
    if (!response.ok) {
      const text = await response.text();
      throw new NomadResponseError(method, path.split('?')[0]!, response.status, text.trim() || response.statusText);
    }
    return response;
  }
}

/** A SchedulerError for a failed call: what the plugin was doing, what Nomad said, and what to do. */
export function nomadError(error: unknown, action: string, address: string): SchedulerError {
  if (error instanceof SchedulerError) return error;
  if (error instanceof NomadUnreachableError) {
    return new SchedulerError(
      `${action}: cannot reach Nomad at ${address} (${error.message}); is the agent running, and is address in scheduler.yaml ` +
        '(or NOMAD_ADDR) right?',
      { cause: error, code: 'nomad.unreachable' },
    );
  }
  if (error instanceof NomadResponseError) {
    const advice =
      error.status === 403
        ? 'Nomad refused the token: set token or tokenFile in scheduler.yaml (or NOMAD_TOKEN) to a token whose policy may ' +
          'submit, read, scale and stop jobs and write variables in the namespace'
        : /namespace .* does not exist|namespace not found/i.test(error.text)
          ? 'create the namespace (nomad namespace apply) or fix namespace in scheduler.yaml'
          : undefined;
    return new SchedulerError(
      `${action}: Nomad at ${address} answered ${error.status} to ${error.method} ${error.path}: ${error.text}` +
        (advice ? `; ${advice}` : ''),
      { cause: error, code: `nomad.http-${error.status}` },
    );
  }
  if (error instanceof z.ZodError) {
    return new SchedulerError(
      `${action}: Nomad at ${address} answered with a shape this plugin does not know (${error.issues
        .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
        .join('; ')}); is it a Nomad HTTP API of version 1.6 or later?`,
      { cause: error, code: 'nomad.unexpected-response' },
    );
  }
  return new SchedulerError(`${action}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}
