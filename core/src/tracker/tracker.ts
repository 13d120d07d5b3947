import type http from 'node:http';
import { Hono, type Context } from 'hono';
import { ArdeaError, ConfigError, describeError } from '../errors/index.js';
import {
  bearerCheck,
  closeServer,
  createLimitedServer,
  errorReply,
  listenOn,
  portOf,
  type ConnectionLimits,
} from '../http/hardened-server.js';
import type { Logger } from '../logging/index.js';
import type { MetricsView } from '../model/metrics.js';
import { ARDEA_VERSION } from '../model/version.js';
import type { MetricsSink, MetricsSnapshot } from '../spi/metrics-sink.js';
import { isLoopbackAddress } from './auth.js';
import type { TrackedCluster } from './backend.js';
import { openApiDocument } from './openapi.js';
import { PrometheusExporter, type ScrapedTopology } from './prometheus.js';
import { parseQuery, ROUTES, TrackerError, type RouteContext } from './routes.js';
import { SinkPublisher } from './sinks.js';
import { DEFAULT_INDEX_OPTIONS, TopologyIndex, type TopologySummary } from './topology-index.js';
import { registerUi } from './ui.js';

export interface TrackerOptions {
  /** One per cluster, each opened by the caller (`createArdea`); the tracker closes them on close. */
  readonly clusters: readonly TrackedCluster[];
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /**
   * The bearer token every API request must carry. Required when `host` is not a loopback address;
   * on loopback, given means required too (`ardea tracker --require-token`).
   */
  readonly token?: string;
  readonly logger: Logger;
  /** Sinks the tracker pushes every running topology's metrics to, every `sinkIntervalMs`. */
  readonly sinks?: readonly MetricsSink[];
  readonly sinkIntervalMs?: number;
  /** How long a topology's metrics answer is reused (default 1 s): a UI and a scraper polling together cost one call to its master. */
  readonly metricsTtlMs?: number;
  /** How long the topology list is served without a new read (default 2 s; up to 30 s old while a read refreshes it). */
  readonly indexFreshMs?: number;
  readonly limits?: Partial<ConnectionLimits>;
}

export const DEFAULT_SINK_INTERVAL_MS = 10_000;
const DEFAULT_METRICS_TTL_MS = 1_000;
const DEFAULT_LIMITS: ConnectionLimits = {
  maxConnections: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
};
/** Topologies in these states have a master to ask for metrics; the others are skipped, not counted as errors. */
const SERVING_STATES = new Set(['RUNNING', 'PAUSED']);

export function createTracker(options: TrackerOptions): Tracker {
  return new Tracker(options);
}

/**
 * The tracker: a read-only REST API over the topologies of several clusters (Heron's tracker, with
 * Ardea's resources), Prometheus `/metrics`, the web UI, and the metrics sinks' poller. It reads
 * everything through each cluster's `Ardea`, so it works over any state manager and pool.
 */
export class Tracker {
  private readonly clusters: ReadonlyMap<string, TrackedCluster>;
  private readonly indexes: ReadonlyMap<string, TopologyIndex>;
  private readonly metricsCache = new Map<string, { at: number; answer: Promise<MetricsView> }>();
  private readonly prometheus = new PrometheusExporter();
  private readonly publisher: SinkPublisher;
  private readonly server: http.Server;
  private readonly logger: Logger;
  private readonly metricsTtlMs: number;
  private url?: string;
  private closed = false;

  constructor(private readonly options: TrackerOptions) {
    if (options.clusters.length === 0)
      throw new ConfigError('the tracker needs at least one cluster to serve', { code: 'tracker.no-cluster' });
    if (!isLoopbackAddress(options.host) && options.token === undefined)
      throw new ConfigError(`the tracker listens on ${options.host}, beyond loopback, so it needs a bearer token; give --token-file`, {
        code: 'tracker.token-required',
      });
    if (options.token !== undefined && options.token.length < 16)
      throw new ConfigError('the tracker token must be at least 16 characters long', { code: 'tracker.token-too-short' });
    this.logger = options.logger.child({ component: 'tracker' });
    this.metricsTtlMs = options.metricsTtlMs ?? DEFAULT_METRICS_TTL_MS;
    this.clusters = new Map(options.clusters.map((cluster) => [cluster.config.cluster, cluster]));
    this.indexes = new Map(
      options.clusters.map((cluster) => [
        cluster.config.cluster,
        new TopologyIndex(cluster, {
          freshMs: options.indexFreshMs ?? DEFAULT_INDEX_OPTIONS.freshMs,
          staleMs: Math.max(options.indexFreshMs ?? 0, DEFAULT_INDEX_OPTIONS.staleMs),
          logger: this.logger,
        }),
      ]),
    );
    this.publisher = new SinkPublisher({
      sinks: options.sinks ?? [],
      intervalMs: options.sinkIntervalMs ?? DEFAULT_SINK_INTERVAL_MS,
      poll: () => this.snapshots(),
      logger: this.logger,
    });
    this.server = createLimitedServer(this.app().fetch, { ...DEFAULT_LIMITS, ...options.limits });
  }

  /** Listens, starts the sinks' poller, and resolves to the base URL (`http://127.0.0.1:8888`). */
  async listen(): Promise<string> {
    this.url = await listenOn(this.server, this.options.host, this.options.port);
    this.publisher.start();
    this.logger.info('tracker listening', { url: this.url, clusters: [...this.clusters.keys()], auth: this.options.token !== undefined });
    return this.url;
  }

  get port(): number {
    return portOf(this.server);
  }

  /** Hands every running topology's metrics to the sinks now, and waits until they took them (tests; the poller does it every interval). */
  async publishNow(): Promise<void> {
    await this.publisher.pollOnce();
    await this.publisher.settled();
  }

  /** Stops serving, closes the sinks, and closes every cluster's `Ardea`. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const index of this.indexes.values()) index.close();
    await closeServer(this.server);
    await this.publisher.close();
    await Promise.all(
      [...this.clusters.values()].map((cluster) =>
        cluster
          .close()
          .catch((error: unknown) =>
            this.logger.warn('could not close a cluster', { cluster: cluster.config.cluster, error: describeError(error) }),
          ),
      ),
    );
  }

  private app(): Hono {
    const app = new Hono();
    const token = this.options.token;
    if (token !== undefined) {
      const authorized = bearerCheck(token);
      // The UI's files are the same for everyone and hold no data: a browser loads them without a
      // token (a navigation cannot carry the header), and the page then sends the token it was
      // given in its URL fragment with every API request.
      app.use('*', async (c, next) => {
        if (isUiFile(c.req.path) || authorized(c.req.header('authorization'))) return next();
        return errorReply(
          c,
          401,
          'tracker.unauthorized',
          'missing or wrong bearer token: send Authorization: Bearer <token> (the token is in the file the tracker printed at start)',
        );
      });
    }
    const context = this.routeContext();
    for (const route of ROUTES) {
      app.get(route.path, async (c) => c.json(await route.handle(parseQuery(route.query, new URL(c.req.url).searchParams), context)));
    }
    const openapi = openApiDocument(ROUTES, ARDEA_VERSION, token !== undefined);
    app.get('/openapi.json', (c) => c.json(openapi));
    app.get('/metrics', async (c) => {
      const text = await this.prometheus.scrape(() => this.scrapeAll());
      return c.body(text, 200, { 'content-type': this.prometheus.contentType });
    });
    registerUi(app);
    app.notFound((c) =>
      errorReply(c, 404, 'tracker.no-route', `no resource ${c.req.path}; GET /openapi.json lists the tracker's resources`),
    );
    app.onError((error, c) => this.errorAnswer(error, c));
    return app;
  }

  private errorAnswer(error: unknown, c: Context): Response {
    if (error instanceof TrackerError) return errorReply(c, error.status, error.code, error.message);
    if (error instanceof ArdeaError) {
      if (error.code === 'topology.not-found') return errorReply(c, 404, error.code, error.message);
      if (error.code === 'scheduler.logs-unsupported') return errorReply(c, 501, error.code, error.message);
      // Whatever the master, the pool or the state manager failed with, said in their words.
      this.logger.debug('request failed', { path: c.req.path, error: describeError(error) });
      return errorReply(c, 502, error.code, error.message);
    }
    this.logger.error('tracker request failed unexpectedly', {
      path: c.req.path,
      error: describeError(error),
      stack: (error as Error)?.stack,
    });
    return errorReply(c, 500, 'tracker.internal', 'the tracker failed on this request; its log has the details');
  }

  private routeContext(): RouteContext {
    return {
      clusters: () => [...this.clusters.values()],
      cluster: (name) => this.cluster(name),
      topology: async (clusterName, topology) => {
        const cluster = this.cluster(clusterName);
        if (!(await this.indexes.get(clusterName)!.has(topology)))
          throw new TrackerError(
            `no topology '${topology}' on cluster ${clusterName}; GET /topologies?cluster=${clusterName} lists them`,
            404,
            'topology.not-found',
          );
        return cluster;
      },
      topologies: (cluster) => this.topologies(cluster),
      metrics: (cluster, topology, windowMs, instances) => this.metrics(cluster, topology, windowMs, instances),
    };
  }

  private cluster(name: string): TrackedCluster {
    const cluster = this.clusters.get(name);
    if (!cluster)
      throw new TrackerError(
        `this tracker does not serve a cluster '${name}'; it serves ${[...this.clusters.keys()].join(', ')}`,
        404,
        'tracker.unknown-cluster',
      );
    return cluster;
  }

  private async topologies(only?: string): Promise<{ topologies: TopologySummary[]; errors: Array<{ cluster: string; error: string }> }> {
    const names = only === undefined ? [...this.indexes.keys()] : [only];
    const results = await Promise.all(
      names.map((cluster) =>
        this.indexes
          .get(cluster)!
          .topologies()
          .then(
            (topologies) => ({ topologies, error: undefined }),
            (error: unknown) => ({ topologies: [] as TopologySummary[], error: describeError(error) }),
          ),
      ),
    );
    return {
      topologies: results.flatMap((result) => result.topologies),
      errors: results.flatMap((result, i) => (result.error === undefined ? [] : [{ cluster: names[i]!, error: result.error }])),
    };
  }

  /** A topology's metrics, shared by requests within `metricsTtlMs`; a failed answer is not kept. */
  private metrics(cluster: TrackedCluster, topology: string, windowMs: number | undefined, instances: boolean): Promise<MetricsView> {
    const key = `${cluster.config.cluster}/${topology}/${windowMs ?? ''}/${instances}`;
    const now = Date.now();
    const cached = this.metricsCache.get(key);
    if (cached && now - cached.at < this.metricsTtlMs) return cached.answer;
    const answer = cluster.metrics(topology, { instances, ...(windowMs === undefined ? {} : { windowMs }) });
    this.metricsCache.set(key, { at: now, answer });
    answer.catch(() => {
      if (this.metricsCache.get(key)?.answer === answer) this.metricsCache.delete(key);
    });
    // Entries of topologies nobody asks about any more would otherwise stay forever.
    if (this.metricsCache.size > 1_000) {
      for (const [k, entry] of this.metricsCache) if (now - entry.at >= this.metricsTtlMs) this.metricsCache.delete(k);
    }
    return answer;
  }

  /** Every serving topology's metrics per instance; those whose master does not answer are counted per cluster and left out. */
  private async gather(): Promise<{ read: Array<ScrapedTopology & { id: string }>; skipped: Map<string, number> }> {
    const { topologies } = await this.topologies();
    const skipped = new Map<string, number>();
    const read: Array<ScrapedTopology & { id: string }> = [];
    await Promise.all(
      topologies
        .filter((topology) => SERVING_STATES.has(topology.state))
        .map(async (topology) => {
          try {
            const metrics = await this.metrics(this.clusters.get(topology.cluster)!, topology.name, undefined, true);
            read.push({ cluster: topology.cluster, topology: topology.name, id: topology.id, metrics });
          } catch (error) {
            skipped.set(topology.cluster, (skipped.get(topology.cluster) ?? 0) + 1);
            this.logger.debug('skipped a topology whose metrics could not be read', {
              cluster: topology.cluster,
              topology: topology.name,
              error: describeError(error),
            });
          }
        }),
    );
    read.sort((a, b) => a.cluster.localeCompare(b.cluster) || a.topology.localeCompare(b.topology));
    return { read, skipped };
  }

  private async scrapeAll(): Promise<{ topologies: readonly ScrapedTopology[]; skipped: ReadonlyMap<string, number> }> {
    const { read, skipped } = await this.gather();
    return { topologies: read, skipped };
  }

  private async snapshots(): Promise<MetricsSnapshot[]> {
    const { read } = await this.gather();
    const timestamp = Date.now();
    return read.map(({ cluster, topology, id, metrics }) => ({ cluster, topology, topologyId: id, timestamp, metrics }));
  }
}

function isUiFile(path: string): boolean {
  return path === '/' || path === '/ui' || path.startsWith('/ui/') || path === '/favicon.ico';
}
