import { z } from 'zod';
import { ArdeaError } from '../errors/index.js';
import type { ExceptionsView, MetricsView } from '../model/metrics.js';
import { TOPOLOGY_NAME_PATTERN } from '../model/topology.js';
import { displayedPackageUri } from '../runtime/package-fetch.js';
import type { StateKind } from '../spi/state-manager.js';
import type { TrackedCluster } from './backend.js';
import type { TopologySummary } from './topology-index.js';

/** A request the tracker refuses, or a resource it does not have; `status` is the HTTP status it answers with. */
export class TrackerError extends ArdeaError {
  constructor(
    message: string,
    readonly status: 400 | 401 | 404 | 500 | 501 | 502,
    code: string,
    cause?: unknown,
  ) {
    super(message, { code, ...(cause === undefined ? {} : { cause }) });
  }
}

/** What a route handler gets besides its validated query. */
export interface RouteContext {
  cluster(name: string): TrackedCluster;
  /** The named topology's cluster, once it is known to hold the topology (404 otherwise). */
  topology(cluster: string, topology: string): Promise<TrackedCluster>;
  clusters(): ReadonlyArray<TrackedCluster>;
  topologies(cluster?: string): Promise<{ topologies: TopologySummary[]; errors: Array<{ cluster: string; error: string }> }>;
  /** A topology's metrics through the tracker's short-lived cache. */
  metrics(cluster: TrackedCluster, topology: string, windowMs: number | undefined, instances: boolean): Promise<MetricsView>;
}

export interface Route<Q extends z.ZodType = z.ZodType> {
  readonly path: string;
  readonly summary: string;
  readonly query: Q;
  /** What the 200 answer holds, for the OpenAPI description. */
  readonly returns: string;
  handle(query: z.output<Q>, context: RouteContext): Promise<unknown>;
}

function route<Q extends z.ZodType>(spec: Route<Q>): Route {
  return spec as unknown as Route;
}

const clusterParameter = z.string().min(1).max(200).describe('the cluster: local, or a cluster name under $ARDEA_HOME/clusters');
const topologyParameter = z
  .string()
  .regex(TOPOLOGY_NAME_PATTERN, 'must be a topology name: 1-63 letters, digits, - or _')
  .describe('the topology name');
const booleanParameter = z.enum(['true', 'false']).transform((value) => value === 'true');

const TopologyQuery = z.strictObject({ cluster: clusterParameter, topology: topologyParameter });

const MAX_LOG_CHUNK_BYTES = 1024 * 1024;
const DEFAULT_LOG_CHUNK_BYTES = 64 * 1024;

/**
 * Every JSON resource of the tracker. Heron's tracker resource names, with `cluster` and `topology`
 * query parameters (Ardea has no role or environment). The OpenAPI description is generated from
 * this table, so the two cannot drift apart.
 */
export const ROUTES: readonly Route[] = [
  route({
    path: '/clusters',
    summary: 'The clusters this tracker serves, with their state manager and scheduler plugins.',
    query: z.strictObject({}),
    returns: 'an array of { name, stateManager, scheduler }',
    handle: async (_query, context) =>
      context.clusters().map((cluster) => ({
        name: cluster.config.cluster,
        stateManager: cluster.config.statemgr.plugin,
        scheduler: cluster.config.scheduler.plugin,
      })),
  }),
  route({
    path: '/topologies',
    summary:
      "Every topology of every cluster (or of one), with its state. Read from each cluster's state manager and cached " +
      '(see the docs); a cluster whose state manager fails is listed under errors.',
    query: z.strictObject({ cluster: clusterParameter.optional() }),
    returns:
      '{ topologies: [{ cluster, name, id, state, reliability, components, containers, submittedAt? }], errors: [{ cluster, error }] }',
    handle: async (query, context) => {
      if (query.cluster !== undefined) context.cluster(query.cluster);
      return context.topologies(query.cluster);
    },
  }),
  route({
    path: '/topologies/info',
    summary: 'One topology: its state and submission, and what container 0 runs (runtime; runtimeError when its master did not answer).',
    query: TopologyQuery,
    returns:
      '{ cluster, name, id, state, reliability, components, containers, submittedAt, submittedBy, ardeaVersion, scheduler, ' +
      'runtime?, runtimeError? }',
    handle: async ({ cluster, topology }, context) => {
      const backend = await context.topology(cluster, topology);
      const [description, state, runtime] = await Promise.all([
        backend.describe(topology),
        backend.runState(topology),
        backend.runtimeInfo(topology).then(
          (info) => ({ runtime: info }),
          (error: unknown) => ({ runtimeError: messageOf(error) }),
        ),
      ]);
      const execution = description.executionState;
      return {
        cluster,
        name: topology,
        id: description.topology.id,
        state,
        reliability: description.reliability,
        components: description.topology.components.length,
        containers: (description.packingPlan?.containers.length ?? 0) + 1,
        ...(execution
          ? {
              submittedAt: execution.submittedAt,
              submittedBy: execution.submittedBy,
              ardeaVersion: execution.ardeaVersion,
              scheduler: { plugin: execution.schedulerPlugin, mode: execution.schedulerMode },
            }
          : {}),
        ...runtime,
      };
    },
  }),
  route({
    path: '/topologies/logicalplan',
    summary: 'The components of a topology, their parallelism, inputs (with groupings) and output streams.',
    query: TopologyQuery,
    returns:
      '{ components: [{ name, kind, parallelism, inputs: [{ component, stream, grouping }], outputs: [{ stream, fields, direct? }] }] }',
    handle: async ({ cluster, topology }, context) => {
      const { topology: definition } = await (await context.topology(cluster, topology)).describe(topology);
      return {
        topology: definition.name,
        id: definition.id,
        components: definition.components.map((component) => ({
          name: component.name,
          kind: component.kind,
          parallelism: component.parallelism,
          inputs: component.inputs.map((input) => ({ component: input.component, stream: input.stream, grouping: input.grouping })),
          outputs: component.outputs.map((output) => ({
            stream: output.id,
            fields: output.fields,
            ...(output.direct ? { direct: true } : {}),
          })),
        })),
      };
    },
  }),
  storedRecord(
    '/topologies/packingplan',
    'The packing plan: containers, their resources and the instances placed in each.',
    'the stored packing plan',
    'packingPlan',
    'packing plan',
  ),
  storedRecord(
    '/topologies/physicalplan',
    'The live physical plan the topology master published: stream managers, instances, runtime config, state.',
    'the stored physical plan',
    'physicalPlan',
    'physical plan (it is starting)',
  ),
  route({
    path: '/topologies/executionstate',
    summary: 'The submission: who and when, Ardea version, scheduler, package. The submission secret is left out.',
    query: TopologyQuery,
    returns: 'the stored execution state without its secret',
    handle: async ({ cluster, topology }, context) => {
      const backend = await context.topology(cluster, topology);
      const { secret: _secret, ...execution } = present(await backend.state.get('executionState', topology), topology, 'execution state');
      return { ...execution, packageUri: displayedPackageUri(execution.packageUri) };
    },
  }),
  storedRecord(
    '/topologies/schedulerlocation',
    "Where the topology's scheduler runs (service endpoint or library mode) and links to the pool's pages.",
    '{ topologyName, mode, endpoint?, jobLinks }',
    'scheduler',
    'scheduler location',
  ),
  route({
    path: '/topologies/containers',
    summary: 'Every container as the scheduler reports it: state, pool handle, restarts, host, message.',
    query: TopologyQuery,
    returns: '{ containers: [{ containerId, state, handle?, restarts, host?, message? }] }',
    handle: async ({ cluster, topology }, context) => ({ containers: await (await context.topology(cluster, topology)).status(topology) }),
  }),
  route({
    path: '/topologies/metrics',
    summary: "Metrics per component (and per instance) over a window, from the topology's metrics cache; at most 1 s old.",
    query: TopologyQuery.extend({
      windowMs: z.coerce
        .number()
        .int()
        .min(1000)
        .max(3_600_000)
        .optional()
        .describe("the window in milliseconds (default: the cache's, 60 s)"),
      instances: booleanParameter.optional().describe('also per instance (default false)'),
    }),
    returns: 'the metrics view: { windowMs, timestamp, components, streamManagers, droppedFrames, droppedTuples, delivery? }',
    handle: async ({ cluster, topology, windowMs, instances }, context) =>
      context.metrics(await context.topology(cluster, topology), topology, windowMs, instances ?? false),
  }),
  route({
    path: '/topologies/metrics/timeline',
    summary: "The metrics cache's series as rates per interval, oldest first (the last hour at the default settings).",
    query: TopologyQuery.extend({
      since: z.coerce.number().int().min(0).optional().describe('leave out points before this time (ms since the epoch)'),
      instances: booleanParameter.optional().describe('also per instance (default false)'),
    }),
    returns: '{ intervalMs, points: [{ timestamp, components: { <component>: values & { instances? } } }] }',
    handle: async ({ cluster, topology, since, instances }, context) =>
      (await context.topology(cluster, topology)).metricsTimeline(topology, {
        instances: instances ?? false,
        ...(since === undefined ? {} : { since }),
      }),
  }),
  route({
    path: '/topologies/exceptions',
    summary: 'Per instance: how many errors its user code raised, and the last one with its stack.',
    query: TopologyQuery,
    returns: '{ timestamp, instances: [{ instance, component, containerId, taskId, count, last?: { message, stack?, at } }] }',
    handle: async ({ cluster, topology }, context) => (await context.topology(cluster, topology)).exceptions(topology),
  }),
  route({
    path: '/topologies/exceptionsummary',
    summary: 'Per component: the errors of its instances added up, and the latest message among them.',
    query: TopologyQuery,
    returns: '{ timestamp, components: [{ component, count, instancesWithErrors, last?: { message, at, instance } }] }',
    handle: async ({ cluster, topology }, context) =>
      summarizeExceptions(await (await context.topology(cluster, topology)).exceptions(topology)),
  }),
  route({
    path: '/topologies/health',
    summary: "The health manager's log: each round's symptoms, diagnoses and actions with their predicted and observed effects.",
    query: TopologyQuery,
    returns: '{ rounds: [...] } (empty when the health manager never acted or is off)',
    handle: async ({ cluster, topology }, context) => {
      const backend = await context.topology(cluster, topology);
      return (await backend.state.get('healthLog', topology)) ?? { rounds: [] };
    },
  }),
  route({
    path: '/topologies/container/log',
    summary:
      "Part of a container's log, from its pool. Without fromOffset: the last maxBytes. To follow, pass the answer's end " +
      'as the next fromOffset. 501 when the pool does not serve logs.',
    query: TopologyQuery.extend({
      container: z.coerce.number().int().min(0).max(100_000).describe("the container id (0: the topology master's)"),
      fromOffset: z.coerce.number().int().min(0).optional().describe('read from this byte on'),
      maxBytes: z.coerce
        .number()
        .int()
        .min(1)
        .max(MAX_LOG_CHUNK_BYTES)
        .optional()
        .describe(`at most this many bytes (default ${DEFAULT_LOG_CHUNK_BYTES})`),
    }),
    returns: '{ containerId, text, start, end, source }',
    handle: async ({ cluster, topology, container, fromOffset, maxBytes }, context) =>
      (await context.topology(cluster, topology)).containerLog(topology, container, {
        maxBytes: maxBytes ?? DEFAULT_LOG_CHUNK_BYTES,
        ...(fromOffset === undefined ? {} : { fromOffset }),
      }),
  }),
];

export function summarizeExceptions(view: ExceptionsView) {
  const byComponent = new Map<
    string,
    { component: string; count: number; instancesWithErrors: number; last?: { message: string; at: number; instance: string } }
  >();
  for (const instance of view.instances) {
    const entry = byComponent.get(instance.component) ?? { component: instance.component, count: 0, instancesWithErrors: 0 };
    entry.count += instance.count;
    if (instance.count > 0) entry.instancesWithErrors += 1;
    if (instance.last && (!entry.last || instance.last.at > entry.last.at))
      entry.last = { message: instance.last.message, at: instance.last.at, instance: instance.instance };
    byComponent.set(instance.component, entry);
  }
  return { timestamp: view.timestamp, components: [...byComponent.values()].sort((a, b) => a.component.localeCompare(b.component)) };
}

/** A route that answers one of a topology's state records as it is stored. */
function storedRecord(path: string, summary: string, returns: string, kind: StateKind, what: string): Route {
  return route({
    path,
    summary,
    query: TopologyQuery,
    returns,
    handle: async ({ cluster, topology }, context) => {
      const backend = await context.topology(cluster, topology);
      return present(await backend.state.get(kind, topology), topology, what);
    },
  });
}

function present<T>(value: T | undefined, topology: string, what: string): T {
  if (value === undefined) throw new TrackerError(`topology '${topology}' has no ${what}`, 404, 'tracker.no-record');
  return value;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Parses a request's query string with a route's schema. Every parameter once, none unknown: a
 * typo (`windowms`) is an error naming it rather than a default silently used.
 */
export function parseQuery<Q extends z.ZodType>(schema: Q, search: URLSearchParams): z.output<Q> {
  const values: Record<string, string> = {};
  for (const [key, value] of search) {
    if (key in values) throw new TrackerError(`query parameter '${key}' is given more than once; give it once`, 400, 'tracker.bad-query');
    values[key] = value;
  }
  const parsed = schema.safeParse(values);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const known = schema instanceof z.ZodObject ? Object.keys(schema.shape as object) : [];
    throw new TrackerError(
      `unknown query parameter${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}; ` +
        `this resource takes ${known.length > 0 ? known.join(', ') : 'none'}`,
      400,
      'tracker.bad-query',
    );
  }
  const name = String(issue.path[0] ?? '');
  const given = values[name];
  const problem = given === undefined && issue.code === 'invalid_type' ? 'is required' : `'${given}' is invalid: ${issue.message}`;
  throw new TrackerError(`query parameter '${name}' ${problem}`, 400, 'tracker.bad-query');
}
