import net from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import { HttpRequestError, JsonHttpServer, jsonRoute, type JsonRoute } from '../http/json-server.js';
import type { Logger } from '../logging/index.js';
import { instanceName, placementOf, type PackingPlan } from '../model/packing-plan.js';
import type { RuntimeInfo } from '../model/metrics.js';
import type { MetricsTotals, PhysicalPlan, TopologyRunState } from '../model/runtime-state.js';
import { ARDEA_VERSION } from '../model/version.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { StateManager } from '../spi/state-manager.js';
import type { CheckpointManifest, CheckpointStorage } from '../spi/checkpoint-storage.js';
import { CheckpointCoordinator } from './checkpoint-coordinator.js';
import { runtimeSettingsOf } from './runtime-settings.js';
import { ConfigError } from '../errors/index.js';
import type {
  CheckpointSavedMessage,
  FromTopologyMaster,
  RestoredMessage,
  StateLostMessage,
  ConfigAppliedMessage,
  ConfigFailure,
  InstanceFailedMessage,
  InstanceFailure,
  MetricsReport,
  PlanAppliedMessage,
  Register,
} from './control-messages.js';
import { acceptAuthenticated, Link, listen } from './link.js';
import { MetricsCache } from './metrics-cache.js';
import { acceptRuntimeConfig, isEngineKey, type RuntimeConfigChange } from './runtime-config.js';

/** How long a runtime config update waits for the instances' `onConfigChange` to report back. */
const CONFIG_ACK_TIMEOUT_MS = 10_000;

/** Instances ran `onConfigChange` for an accepted change and threw: the change was taken back. */
export class RuntimeConfigRejectedError extends ConfigError {}

interface ConfigWaiter {
  readonly version: number;
  readonly containers: Set<number>;
  readonly failures: ConfigFailure[];
  readonly done: () => void;
}

export interface TopologyMasterOptions {
  readonly definition: TopologyDefinition;
  /** The packing plan at start; the master follows changes to it in the state manager. */
  readonly packingPlan: PackingPlan;
  readonly secret: string;
  readonly host: string;
  readonly initialState: TopologyRunState;
  readonly state: StateManager;
  readonly logger: Logger;
  /** How many metric reports per container the cache keeps. */
  readonly metricsSamples: number;
  /** How often containers take a metrics sample. */
  readonly metricsIntervalMs: number;
  /** Default window of windowed metrics. */
  readonly metricsWindowMs: number;
  /** Effectively-once: where checkpoints are kept, and how often to take one. */
  readonly checkpoints?: { readonly storage: CheckpointStorage; readonly intervalMs: number; readonly maxParallelism: number };
}

const RuntimeConfigBodySchema = z.array(z.object({ component: z.string().min(1), key: z.string().min(1), value: z.unknown() }).strict());
const MetricsQuerySchema = z
  .object({ windowMs: z.coerce.number().int().positive().optional(), instances: z.enum(['true', 'false']).optional() })
  .strict();
const TimelineQuerySchema = z
  .object({ since: z.coerce.number().int().nonnegative().optional(), instances: z.enum(['true', 'false']).optional() })
  .strict();
/** When this process started, for `/info`. */
const STARTED_AT = Date.now() - Math.round(process.uptime() * 1000);

interface Registration {
  readonly link: Link;
  readonly host: string;
  readonly dataPort: number;
}

/**
 * Runs in container 0. Stream managers register with it; once every container of the packing plan
 * has registered it builds the physical plan, stores it and sends it to all of them, and it resends
 * it whenever something changes (activation, a restarted container's new address). It also hosts
 * the metrics cache and the HTTP controller that the CLI calls.
 */
export class TopologyMaster {
  private readonly server = net.createServer();
  private readonly http: JsonHttpServer;
  private readonly registrations = new Map<number, Registration>();
  readonly metrics: MetricsCache;
  private runState: TopologyRunState;
  private plan: PhysicalPlan | undefined;
  private serverPort = 0;
  private controllerPort = 0;
  private readonly logger: Logger;
  private packingPlan: PackingPlan;
  private version = 0;
  private runtimeConfig: Record<string, Record<string, unknown>> = {};
  /** The newest plan version each container reported running exactly. */
  private readonly applied = new Map<number, number>();
  /** Instances that failed to start, by instance name, until their container registers. */
  private readonly startFailures = new Map<string, InstanceFailure>();
  private packingWatch: { close(): void } | undefined;
  /** The latest metrics totals not yet written, and the write under way (see keepTotals). */
  private totalsToWrite: MetricsTotals | undefined;
  private totalsWrite: Promise<void> | undefined;
  private stopping = false;
  private readonly configWaiters = new Set<ConfigWaiter>();
  private coordinator: CheckpointCoordinator | undefined;

  constructor(private readonly options: TopologyMasterOptions) {
    this.logger = options.logger.child({ role: 'tmaster' });
    this.runState = options.initialState;
    this.packingPlan = options.packingPlan;
    this.metrics = new MetricsCache({
      maxSamples: options.metricsSamples,
      intervalMs: options.metricsIntervalMs,
      topologyId: options.definition.id,
      onTotalsChange: (totals) => this.keepTotals(totals),
      reliability: runtimeSettingsOf(options.definition).reliability,
    });
    this.http = new JsonHttpServer({
      name: 'topology master controller',
      secret: options.secret,
      logger: this.logger,
      routes: this.routes(),
    });
  }

  get addresses(): { serverPort: number; controllerPort: number } {
    return { serverPort: this.serverPort, controllerPort: this.controllerPort };
  }

  async start(): Promise<void> {
    const name = this.options.definition.name;
    const previous = await this.options.state.get('physicalPlan', name);
    if (previous && previous.topologyId === this.options.definition.id) {
      this.runState = previous.state;
      this.version = previous.version;
      this.runtimeConfig = structuredClone(previous.runtimeConfig) as Record<string, Record<string, unknown>>;
    }
    const totals = await this.options.state.get('metricsTotals', name);
    if (totals) this.metrics.restore(totals);
    if (this.options.checkpoints) {
      this.coordinator = new CheckpointCoordinator({
        definition: this.options.definition,
        storage: this.options.checkpoints.storage,
        state: this.options.state,
        intervalMs: this.options.checkpoints.intervalMs,
        maxParallelism: this.options.checkpoints.maxParallelism,
        logger: this.logger,
        recorder: this.metrics,
        ports: {
          broadcast: (message) => this.broadcast(message),
          sendTo: (containerId, message) => this.registrations.get(containerId)?.link.sendControl(message),
          plan: () => this.plan,
          planApplied: () => this.planStatus().applied,
          running: () => this.runState === 'RUNNING',
          registered: () => [...this.registrations.keys()],
        },
      });
      await this.coordinator.start();
    }
    this.packingPlan = (await this.options.state.get('packingPlan', name)) ?? this.packingPlan;
    this.packingWatch = this.options.state.watch('packingPlan', name, (plan) => {
      if (plan && plan.topologyId === this.options.definition.id) this.onPackingPlan(plan);
    });
    acceptAuthenticated(
      this.server,
      { secret: this.options.secret, topologyId: this.options.definition.id, logger: this.logger },
      (link, answer) => {
        if (answer.role !== 'stmgr') {
          link.socket.destroy();
          return;
        }
        link.on('control', (message) => {
          if (message.type === 'register') this.onRegister(link, message as unknown as Register);
          else if (message.type === 'metrics') this.metrics.add(message as unknown as MetricsReport);
          else if (message.type === 'counters') this.metrics.heartbeat(message as unknown as MetricsReport);
          else if (message.type === 'instance-failed')
            this.onInstanceFailed(answer.containerId, message as unknown as InstanceFailedMessage);
          else if (message.type === 'config-applied') this.onConfigApplied(message as unknown as ConfigAppliedMessage);
          else if (message.type === 'checkpoint-saved') this.coordinator?.onSaved(message as unknown as CheckpointSavedMessage);
          else if (message.type === 'restored') this.coordinator?.onRestored(message as unknown as RestoredMessage);
          else if (message.type === 'state-lost') this.coordinator?.onStateLost(message as unknown as StateLostMessage);
          else if (message.type === 'plan-applied') {
            const applied = message as unknown as PlanAppliedMessage;
            if ((this.applied.get(applied.containerId) ?? 0) < applied.version) this.applied.set(applied.containerId, applied.version);
          }
        });
        link.on('close', () => {
          const registered = this.registrations.get(answer.containerId);
          if (registered?.link === link) {
            this.registrations.delete(answer.containerId);
            this.logger.info('stream manager disconnected', { container: answer.containerId });
          }
        });
      },
    );
    this.serverPort = await listen(this.server, this.options.host);
    await this.http.listen(this.options.host);
    this.controllerPort = this.http.port;
    const location = {
      topologyName: this.options.definition.name,
      topologyId: this.options.definition.id,
      host: this.options.host,
      serverPort: this.serverPort,
      controllerPort: this.controllerPort,
    };
    await this.options.state.set('topologyMaster', this.options.definition.name, location, { ephemeral: true });
    await this.options.state.set(
      'metricsCache',
      this.options.definition.name,
      { topologyName: location.topologyName, topologyId: location.topologyId, host: location.host, port: location.controllerPort },
      { ephemeral: true },
    );
    this.logger.info('topology master listening', { serverPort: this.serverPort, controllerPort: this.controllerPort });
  }

  /**
   * A new packing plan (an update): publish it once every container it names has registered; until
   * then the running plan stays in force. Containers it drops stay registered, so they take part in
   * the change until their pool stops them.
   */
  private onPackingPlan(plan: PackingPlan): void {
    if (JSON.stringify(plan) === JSON.stringify(this.packingPlan)) return;
    this.packingPlan = plan;
    this.coordinator?.planChanging();
    this.logger.info('packing plan changed', { containers: plan.containers.map((c) => c.id) });
    if (plan.containers.every((c) => this.registrations.has(c.id))) void this.publish();
  }

  private onRegister(link: Link, message: Register): void {
    const expected = this.packingPlan.containers.find((c) => c.id === message.containerId);
    if (!expected) {
      this.logger.warn('rejecting a stream manager of a container that is not in the packing plan', { container: message.containerId });
      link.sendControl({ type: 'rejected', reason: `container ${message.containerId} is not in the packing plan` });
      link.close();
      return;
    }
    const inPublishedPlan = this.plan?.streamManagers.some((s) => s.containerId === message.containerId) ?? false;
    this.registrations.set(message.containerId, { link, host: message.host, dataPort: message.dataPort });
    // A container registers once all its instances have started.
    for (const [instance, failure] of this.startFailures)
      if (failure.containerId === message.containerId) this.startFailures.delete(instance);
    const missing = this.packingPlan.containers.filter((c) => !this.registrations.has(c.id)).map((c) => c.id);
    this.logger.info('stream manager registered', { container: message.containerId, waitingFor: missing });
    if (missing.length === 0) void this.publish();
    else if (this.plan) link.sendControl({ type: 'pplan', plan: this.plan });
    this.coordinator?.onRegister(message, inPublishedPlan);
  }

  private broadcast(message: FromTopologyMaster): void {
    for (const registration of this.registrations.values()) registration.link.sendControl(message);
  }

  private onInstanceFailed(containerId: number, message: InstanceFailedMessage): void {
    // The container id is the one the connection authenticated as, not one the message claims.
    const failure: InstanceFailure = {
      containerId,
      instance: String(message.instance),
      component: String(message.component),
      message: String(message.message),
      ...(typeof message.stack === 'string' ? { stack: message.stack } : {}),
    };
    this.logger.error('an instance failed to start', { ...failure });
    this.startFailures.set(failure.instance, failure);
  }

  /** Builds the physical plan from the registrations, stores it, and sends it to every stream manager. */
  private async publish(): Promise<void> {
    const { definition } = this.options;
    const packingPlan = this.packingPlan;
    this.version++;
    const plan: PhysicalPlan = {
      topologyName: definition.name,
      topologyId: definition.id,
      version: this.version,
      state: this.runState,
      streamManagers: packingPlan.containers
        .filter((c) => this.registrations.has(c.id))
        .map((c) => {
          const registration = this.registrations.get(c.id)!;
          return { id: `stmgr-${c.id}`, containerId: c.id, host: registration.host, dataPort: registration.dataPort };
        }),
      instances: packingPlan.containers.flatMap((c) =>
        c.instances.map((i) => ({
          instanceId: instanceName(c.id, i),
          containerId: c.id,
          component: i.component,
          taskId: i.taskId,
          componentIndex: i.componentIndex,
        })),
      ),
      runtimeConfig: structuredClone(this.runtimeConfig),
    };
    this.plan = plan;
    await this.options.state.set('physicalPlan', definition.name, plan);
    for (const registration of this.registrations.values()) registration.link.sendControl({ type: 'pplan', plan });
    this.coordinator?.onPublished();
    this.metrics.retain(new Set([...packingPlan.containers.map((c) => c.id), ...this.registrations.keys()]));
  }

  /**
   * Keeps what the metrics cache carries across restarts in the state manager, one write at a time,
   * the latest value last. It changes only when a process is replaced or an instance goes away.
   */
  private keepTotals(totals: MetricsTotals): void {
    this.totalsToWrite = totals;
    if (this.totalsWrite) return;
    this.totalsWrite = (async () => {
      while (this.totalsToWrite && !this.stopping) {
        const next = this.totalsToWrite;
        this.totalsToWrite = undefined;
        await this.options.state.set('metricsTotals', this.options.definition.name, next).catch((error: unknown) => {
          this.logger.warn('could not keep the metrics totals in the state manager; a restart of container 0 may lose counts', { error });
        });
      }
      this.totalsWrite = undefined;
    })();
  }

  /** Idempotent: setting the state the topology is already in changes nothing. */
  async setRunState(state: TopologyRunState): Promise<boolean> {
    if (this.runState === state) return false;
    this.runState = state;
    if (this.plan) await this.publish();
    this.logger.info(`topology ${state === 'RUNNING' ? 'activated' : 'deactivated'}`);
    return true;
  }

  get physicalPlan(): PhysicalPlan | undefined {
    return this.plan;
  }

  /**
   * Where a plan change stands: the published version, whether every container of the packing
   * plan, and every container that left it but still runs, has applied it, and the instances that
   * failed to start (their containers cannot register until they do).
   */
  planStatus(): { version: number; live: boolean; applied: boolean; pending: number[]; failures: InstanceFailure[]; placement: string } {
    const plan = this.plan;
    const live =
      plan !== undefined &&
      JSON.stringify(plan.instances.map((i) => i.taskId).sort()) ===
        JSON.stringify(this.packingPlan.containers.flatMap((c) => c.instances.map((i) => i.taskId)).sort());
    const involved = new Set([...this.packingPlan.containers.map((c) => c.id), ...this.registrations.keys()]);
    const pending = [...involved].filter((id) => (this.applied.get(id) ?? 0) < this.version).sort((a, b) => a - b);
    return {
      version: this.version,
      live,
      applied: live && pending.length === 0,
      pending,
      failures: [...this.startFailures.values()],
      placement: placementOf(this.packingPlan),
    };
  }

  /**
   * Checks runtime config changes against what each component declares it accepts (nothing is
   * stored if one is refused), stores and publishes them, and waits for the instances concerned to
   * run `onConfigChange`. If one throws, the change is taken back (published again with the values
   * before it) and a {@link RuntimeConfigRejectedError} names the instances and what they threw.
   */
  async updateRuntimeConfig(changes: readonly RuntimeConfigChange[]): Promise<void> {
    const accepted = acceptRuntimeConfig(this.options.definition, changes);
    const before = accepted.map((c) => ({
      ...c,
      had: c.key in (this.runtimeConfig[c.component] ?? {}),
      previous: this.runtimeConfig[c.component]?.[c.key],
    }));
    for (const change of accepted)
      this.runtimeConfig[change.component] = { ...this.runtimeConfig[change.component], [change.key]: change.value };
    if (!this.plan) return;
    await this.publish();
    // Engine keys (shuffle weights) are applied by the engine, not by user code: nothing to wait for.
    const components = new Set(accepted.filter((c) => !isEngineKey(c.key)).map((c) => c.component));
    if (components.size === 0) return;
    const failures = await this.configOutcome(this.version, components);
    if (failures.length === 0) return;
    for (const change of before) {
      const config = { ...this.runtimeConfig[change.component] };
      if (change.had) config[change.key] = change.previous;
      else delete config[change.key];
      this.runtimeConfig[change.component] = config;
    }
    await this.publish();
    const shown = accepted.map((c) => `${c.component}:${c.key}=${JSON.stringify(c.value)}`).join(', ');
    const why = failures.map((f) => `${f.instance}: ${f.message}`).join('; ');
    throw new RuntimeConfigRejectedError(
      `runtime config ${shown} rejected by onConfigChange of ${why}; the previous values were restored`,
      { code: 'runtime-config.rejected' },
    );
  }

  /** Failures that containers hosting `components` report for plan `version`, within the timeout. */
  private configOutcome(version: number, components: ReadonlySet<string>): Promise<ConfigFailure[]> {
    const containers = new Set(
      (this.plan?.instances ?? [])
        .filter((i) => components.has(i.component) && this.registrations.has(i.containerId))
        .map((i) => i.containerId),
    );
    if (containers.size === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const waiter: ConfigWaiter = {
        version,
        containers,
        failures: [],
        done: () => {
          clearTimeout(timer);
          this.configWaiters.delete(waiter);
          resolve(waiter.failures);
        },
      };
      // A container that does not answer (restarting, say) gets the stored values when it starts.
      const timer = setTimeout(() => waiter.done(), CONFIG_ACK_TIMEOUT_MS);
      timer.unref();
      this.configWaiters.add(waiter);
    });
  }

  private onConfigApplied(message: ConfigAppliedMessage): void {
    for (const waiter of this.configWaiters) {
      if (waiter.version !== message.version || !waiter.containers.delete(message.containerId)) continue;
      waiter.failures.push(...message.failures);
      if (waiter.containers.size === 0) waiter.done();
    }
  }

  /** The controller the CLI calls: plan status, metrics, activation and runtime config. */
  private routes(): JsonRoute[] {
    return [
      jsonRoute({ method: 'GET', path: '/physical-plan', handle: () => this.plan ?? null }),
      jsonRoute({ method: 'GET', path: '/plan-status', handle: () => this.planStatus() }),
      jsonRoute({
        method: 'POST',
        path: '/runtime-config',
        body: RuntimeConfigBodySchema,
        handle: async ({ body }) => {
          try {
            await this.updateRuntimeConfig(body);
          } catch (error) {
            // Refused by the check: nothing changed (400). Refused by an instance's onConfigChange: taken back (422).
            if (error instanceof RuntimeConfigRejectedError)
              throw new HttpRequestError(422, error.message, { cause: error, code: error.code });
            throw new HttpRequestError(400, (error as Error).message, { cause: error, code: 'runtime-config.invalid' });
          }
          return { version: this.version, runtimeConfig: this.runtimeConfig };
        },
      }),
      jsonRoute({
        method: 'GET',
        path: '/metrics',
        query: MetricsQuerySchema,
        handle: ({ query }) =>
          this.metrics.view({ windowMs: query.windowMs ?? this.options.metricsWindowMs, instances: query.instances === 'true' }),
      }),
      jsonRoute({
        method: 'GET',
        path: '/metrics/timeline',
        query: TimelineQuerySchema,
        handle: ({ query }) =>
          this.metrics.timeline({ instances: query.instances === 'true', ...(query.since === undefined ? {} : { since: query.since }) }),
      }),
      jsonRoute({ method: 'GET', path: '/exceptions', handle: () => this.metrics.exceptions() }),
      jsonRoute({
        method: 'GET',
        path: '/info',
        handle: (): RuntimeInfo => ({ ardeaVersion: ARDEA_VERSION, nodeVersion: process.version, startedAt: STARTED_AT, host: hostname() }),
      }),
      ...(['/activate', '/deactivate'] as const).map((path) =>
        jsonRoute({
          method: 'POST',
          path,
          handle: async () => {
            const changed = await this.setRunState(path === '/activate' ? 'RUNNING' : 'PAUSED');
            return { state: this.runState, changed };
          },
        }),
      ),
    ];
  }

  /** The latest committed checkpoint of an effectively-once topology. */
  get lastCheckpoint(): CheckpointManifest | undefined {
    return this.coordinator?.lastCommitted;
  }

  async stop(): Promise<void> {
    this.coordinator?.stop();
    this.packingWatch?.close();
    // What is carried must survive a deliberate restart of container 0 too.
    await this.totalsWrite;
    this.stopping = true;
    for (const registration of this.registrations.values()) registration.link.socket.destroy();
    await Promise.all([new Promise<void>((resolve) => this.server.close(() => resolve())), this.http.close()]);
  }
}
