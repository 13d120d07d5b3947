import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '../logging/index.js';
import type { HealthActionRecord, HealthLog, HealthRound, OperatorPin } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';
import { describeError } from '../errors/index.js';
import { type Action, type Diagnosis, type HealthPolicy, METRIC, type PolicyContext, type TopologyActuator } from '../spi/health-policy.js';
import type { StateManager } from '../spi/state-manager.js';
import { MeasurementIndex } from './measurements.js';
import type { ComponentBounds } from './settings.js';
import { spoutOfferedRate } from './sizing.js';

export interface HealthManagerOptions {
  readonly topologyName: string;
  readonly policies: readonly HealthPolicy[];
  readonly state: StateManager;
  readonly readTopology: () => Promise<TopologyDefinition | undefined>;
  readonly logger: Logger;
  /** A window shorter than this says nothing yet (a couple of metrics intervals). */
  readonly minWindowMs: number;
  /** Backpressure at or below this many ms per second counts as none when judging an action. */
  readonly noiseMsPerSec: number;
  /** Rounds kept in the action log. */
  readonly logRounds?: number;
  readonly clock?: () => number;
  /** `advise` records what the policies would do as proposals; default `act`. */
  readonly mode?: 'advise' | 'act';
  /** The actuator the policies were given; the manager tells it each round what the operator allows. */
  readonly guard?: OperatorGuard;
  /**
   * Write the log under the topology's update lock, which an operator's `ardea update` holds while it
   * pins components in the same log (container 0 does; a simulator, whose state has no locks, not).
   */
  readonly lockLog?: boolean;
  /** Each component's bounds for the topology as it runs now; default: none. */
  readonly bounds?: (topology: TopologyDefinition) => ReadonlyMap<string, ComponentBounds>;
}

/** What the operator allows during one resolver call, and what the guard did. */
interface GuardSession {
  readonly mode: 'advise' | 'act';
  readonly parallelism: ReadonlyMap<string, number>;
  readonly bounds: ReadonlyMap<string, ComponentBounds>;
  /** The operator's pins, read when a policy scales. */
  readonly pins: () => Promise<Readonly<Record<string, OperatorPin>>>;
  readonly now: number;
  /** Calls the guard held back or changed, and why. */
  readonly notes: string[];
  /** Components it left alone because the operator pinned them. */
  readonly held: string[];
  proposed: boolean;
  /** Calls that reached the actuator, and calls that were left with nothing to do. */
  applied: number;
  skipped: number;
}

/**
 * The actuator every policy gets in container 0: it passes calls to the real one, except that within
 * a health round it keeps the operator in charge — in `advise` mode it applies nothing (the action
 * becomes a proposal), and it clamps scaling to each component's bounds and leaves components the
 * operator pinned alone. Keeping this in the actuator, not in each resolver, holds plugin policies to
 * the same rules. Outside a round (a test driving a resolver directly) it passes everything through.
 */
export class OperatorGuard implements TopologyActuator {
  private readonly sessions = new AsyncLocalStorage<GuardSession>();

  constructor(private readonly inner: TopologyActuator) {}

  /** Runs `fn` (one resolver) under the operator's rules; returns its result and what the guard did. */
  async within<T>(
    rules: Omit<GuardSession, 'notes' | 'held' | 'proposed' | 'applied' | 'skipped'>,
    fn: () => Promise<T>,
  ): Promise<{ result: T; outcome: 'proposed' | 'skipped' | undefined; note: string | undefined; held: readonly string[] }> {
    const session: GuardSession = { ...rules, notes: [], held: [], proposed: false, applied: 0, skipped: 0 };
    const result = await this.sessions.run(session, fn);
    const outcome = session.proposed ? 'proposed' : session.skipped > 0 && session.applied === 0 ? 'skipped' : undefined;
    return { result, outcome, note: session.notes.length > 0 ? session.notes.join('; ') : undefined, held: session.held };
  }

  async scale(parallelism: Readonly<Record<string, number>>): Promise<void> {
    const session = this.sessions.getStore();
    if (!session) return this.inner.scale(parallelism);
    const allowed: Record<string, number> = {};
    // A state manager that cannot be read now fails the log write too; the action is then taken, as
    // before pins existed, and its note says the holds were not checked.
    const pins = await session.pins().catch((error: unknown) => {
      session.notes.push(`operator holds not checked: ${describeError(error)}`);
      return {} as Readonly<Record<string, OperatorPin>>;
    });
    for (const [component, wanted] of Object.entries(parallelism)) {
      const current = session.parallelism.get(component);
      const pin = pins[component];
      if (pin && pin.until > session.now) {
        session.notes.push(`${component} held by the operator until ${new Date(pin.until).toISOString()} (wanted ${wanted})`);
        session.held.push(component);
        continue;
      }
      const bounds = session.bounds.get(component);
      const n = bounds ? Math.min(Math.max(wanted, bounds.min), bounds.max) : wanted;
      if (n !== wanted) {
        const bound =
          n > wanted ? `min ${bounds!.min}${bounds!.minFrom === 'declared' ? ' (the declared parallelism)' : ''}` : `max ${bounds!.max}`;
        session.notes.push(`${component} ${wanted} clamped to ${n} by its ${bound}`);
      }
      if (n !== current) allowed[component] = n;
    }
    if (Object.keys(allowed).length === 0) {
      session.skipped++;
      return;
    }
    if (session.mode === 'advise') {
      session.proposed = true;
      if (Object.keys(allowed).some((c) => allowed[c] !== parallelism[c]) || Object.keys(allowed).length < Object.keys(parallelism).length)
        session.notes.push(`would scale ${JSON.stringify(allowed)}`);
      return;
    }
    session.applied++;
    await this.inner.scale(allowed);
  }

  async restartContainer(containerId: number): Promise<void> {
    const session = this.sessions.getStore();
    if (session?.mode === 'advise') {
      session.proposed = true;
      return;
    }
    if (session) session.applied++;
    await this.inner.restartContainer(containerId);
  }

  async setRuntimeConfig(
    changes: ReadonlyArray<{ readonly component: string; readonly key: string; readonly value: unknown }>,
  ): Promise<void> {
    const session = this.sessions.getStore();
    if (session?.mode === 'advise') {
      session.proposed = true;
      return;
    }
    if (session) session.applied++;
    await this.inner.setRuntimeConfig(changes);
  }
}

/** How long a log write waits for an update (which holds the lock while its new plan starts) to finish. */
const LOG_LOCK_TIMEOUT_MS = 5 * 60_000;

/** Actions that change the topology; a report changes nothing and needs no verdict. */
const CHANGES_TOPOLOGY = new Set(['scale-up', 'scale-down', 'route-around', 'restart']);

/**
 * A diagnosis not acted on again in this regime: its action did not help, or it was only reported,
 * proposed or left with nothing to do. `held` entries (the operator's pin stopped the action) last only
 * while one of those components is still pinned.
 */
interface BlacklistEntry {
  readonly load: number;
  readonly actions: Set<string>;
  readonly reason?: string;
  readonly held?: readonly string[];
}

interface PolicyState {
  round: number;
  lastActionAt: number | undefined;
  /** The round whose actions wait for the topology to settle before they are judged. */
  pending: { round: number; components: string[]; actions: HealthActionRecord[]; previousRate: number | undefined } | undefined;
  /**
   * Diagnosis key → the offered load when an action for it did not help, and which action types did
   * not; lifted when the load changes.
   */
  readonly blacklist: Map<string, BlacklistEntry>;
  readonly streaks: Map<string, number>;
  timer: NodeJS.Timeout | undefined;
  running: boolean;
  /** Offered load of the latest round. */
  lastOffered: number;
}

/**
 * Runs each health policy on its interval: sensors → detectors → diagnosers → resolvers, in
 * container 0. Every round that diagnosed or did something is appended to the topology's action log
 * in the state manager. After an action the metrics window restarts, and the action is judged
 * (helped / did not help) once the topology has settled — queues drained and rates stable — rather
 * than after a fixed freeze. A diagnosis whose action did not help is not acted on again until the
 * offered load changes (the regime), so the manager does not repeat what failed, but is not stuck
 * with it forever either.
 */
export class HealthManager {
  private readonly states = new Map<string, PolicyState>();
  private readonly logger: Logger;
  private stopped = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly options: HealthManagerOptions) {
    this.logger = options.logger.child({ role: 'healthmgr' });
  }

  /** The policies it runs, in order: the built-in ones, then the plugins'. */
  get policies(): readonly HealthPolicy[] {
    return this.options.policies;
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }

  start(): void {
    for (const policy of this.options.policies) {
      const state = this.newState(policy.id);
      state.timer = setInterval(() => {
        if (state.running || this.stopped) return;
        state.running = true;
        void this.runRound(policy)
          .catch((error: unknown) => this.logger.error('health round failed', { policy: policy.id, error: describeError(error) }))
          .finally(() => (state.running = false));
      }, policy.intervalMs);
      state.timer.unref();
    }
    this.logger.info('health manager running', { policies: this.options.policies.map((p) => p.id) });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const state of this.states.values()) clearInterval(state.timer);
    await this.writing;
  }

  /** One round of one policy; exposed so tests and simulators can drive rounds themselves. */
  async runRound(policy: HealthPolicy): Promise<HealthRound | undefined> {
    const state = this.states.get(policy.id) ?? this.newState(policy.id);
    const topology = await this.options.readTopology();
    if (!topology) return undefined;
    const now = this.now();
    const fullWindow = policy.windowMs ?? policy.intervalMs * 2;
    const windowMs = state.lastActionAt === undefined ? fullWindow : Math.min(fullWindow, now - state.lastActionAt);
    if (windowMs < this.options.minWindowMs) return undefined;
    const base = { topologyName: this.options.topologyName, topology, now, windowMs };
    const measurements = (await Promise.all(policy.sensors.map((s) => s.fetch({ ...base, measurements: [] })))).flat();
    const context: PolicyContext = { ...base, measurements };
    const index = new MeasurementIndex(measurements);
    const offered = offeredLoad(topology, index);
    state.lastOffered = offered;

    if (state.pending) {
      const settled = await this.judge(policy, state, index, windowMs, topology);
      if (!settled) return undefined;
    }
    state.round++;
    const symptoms = (await Promise.all(policy.detectors.map((d) => d.detect(measurements, context)))).flat();
    const diagnoses = dedupe((await Promise.all(policy.diagnosers.map((d) => d.diagnose(symptoms, context)))).flat());
    for (const [key, entry] of state.blacklist) {
      if (offered > 0 && Math.abs(offered / entry.load - 1) >= 0.5) state.blacklist.delete(key);
    }
    await this.releaseHolds(state, now);
    const seen = new Set(diagnoses.map(keyOf));
    for (const key of state.streaks.keys()) if (!seen.has(key)) state.streaks.delete(key);
    for (const key of seen) state.streaks.set(key, (state.streaks.get(key) ?? 0) + 1);
    const escalating = new Set(policy.resolvers.filter((r) => r.escalates).flatMap((r) => r.handles));
    const blacklisted = diagnoses.filter((d) => state.blacklist.has(keyOf(d)) && !escalating.has(d.type));
    const held = (d: Diagnosis) => (state.streaks.get(keyOf(d)) ?? 0) >= (policy.holdRounds?.[d.type] ?? 1);
    const ready = diagnoses.filter((d) => !blacklisted.includes(d) && held(d));
    const resolverContext: PolicyContext = { ...context, ineffective: (d) => [...(state.blacklist.get(keyOf(d))?.actions ?? [])] };

    const actions: HealthActionRecord[] = [];
    let error: string | undefined;
    const rules = this.options.guard
      ? {
          mode: this.options.mode ?? 'act',
          parallelism: new Map(topology.components.map((c) => [c.name, c.parallelism])),
          bounds: this.options.bounds?.(topology) ?? new Map<string, ComponentBounds>(),
          // Read only when a policy scales: most rounds change nothing.
          pins: async () => (await this.options.state.get('healthLog', this.options.topologyName))?.pins ?? {},
          now,
        }
      : undefined;
    for (const resolver of policy.resolvers) {
      const mine = ready.filter((d) => resolver.handles.includes(d.type) && (resolver.escalates || !state.blacklist.has(keyOf(d))));
      if (mine.length === 0) continue;
      try {
        const run = () => resolver.resolve(mine, resolverContext);
        const {
          result: done,
          outcome,
          note,
          held,
        } = rules && this.options.guard
          ? await this.options.guard.within(rules, run)
          : { result: await run(), outcome: undefined, note: undefined, held: [] };
        for (const action of done as Action[]) {
          const diagnosis = mine.find((d) => d.component === action.component) ?? mine[0]!;
          const before = rateMetrics(action.predictedEffect, diagnosis.component, topology, index);
          const record: HealthActionRecord = {
            ...action,
            diagnosis: { type: diagnosis.type, component: diagnosis.component },
            ...(before ? { observedBefore: before } : {}),
            ...(outcome ? { outcome } : {}),
            ...(note ? { note } : {}),
          };
          actions.push(record);
          // A report, a proposal and an action the operator's bounds or hold left nothing of are
          // made once per regime, like an action that cannot help.
          if (!applied(record)) {
            const reason =
              record.outcome === 'proposed' ? 'proposed already at this load' : record.outcome === 'skipped' ? note : undefined;
            blacklist(state, diagnosis, action.type, offered, reason, record.outcome === 'skipped' && held.length > 0 ? held : undefined);
          }
        }
      } catch (failure) {
        error = describeError(failure);
        this.logger.warn('resolver failed', { policy: policy.id, resolver: resolver.name, error });
      }
      if (actions.some(applied)) break;
    }
    if (actions.some(applied)) {
      state.lastActionAt = this.now();
      state.streaks.clear();
      const components = [...new Set(actions.filter(applied).map((a) => a.diagnosis.component))];
      state.pending = { round: state.round, components, actions: actions.filter(applied), previousRate: undefined };
    }
    if (diagnoses.length === 0 && actions.length === 0 && !error) return undefined;
    // A diagnosis already proposed, or left alone for the operator's bounds or hold, is logged once,
    // not every round: a component at its floor would otherwise fill the log with the same line.
    const known = (d: Diagnosis) => blacklisted.includes(d) && state.blacklist.get(keyOf(d))?.reason !== undefined;
    if (actions.length === 0 && !error && diagnoses.every(known)) return undefined;
    const round: HealthRound = {
      policy: policy.id,
      round: state.round,
      at: now,
      windowMs,
      symptoms: symptoms.map((s) => ({ type: s.type, component: s.component, instances: [...s.instances], details: { ...s.details } })),
      diagnoses: diagnoses.map((d) => ({ type: d.type, component: d.component, instances: [...d.instances] })),
      actions,
      blacklisted: blacklisted.map((d) => {
        const reason = state.blacklist.get(keyOf(d))?.reason;
        return { type: d.type, component: d.component, ...(reason ? { reason } : {}) };
      }),
      ...(error ? { error } : {}),
    };
    await this.append(round);
    for (const action of actions)
      this.logger.info('health action', {
        policy: policy.id,
        action: action.description,
        ...(action.outcome ? { outcome: action.outcome } : {}),
        ...(action.note ? { note: action.note } : {}),
      });
    return round;
  }

  /**
   * Whether the topology has settled after the pending action; if so, records the observed effect
   * and the verdict, and blacklists the diagnosis when the action did not help.
   */
  private async judge(
    policy: HealthPolicy,
    state: PolicyState,
    index: MeasurementIndex,
    windowMs: number,
    topology: TopologyDefinition,
  ): Promise<boolean> {
    const pending = state.pending!;
    const offered = state.lastOffered;
    const rate = pending.components.reduce((acc, c) => acc + rateOf('executeRate', c, topology, index), 0);
    const queues = index.components().reduce((acc, c) => acc + index.sum(c, METRIC.pendingBytes), 0);
    const stable =
      pending.previousRate !== undefined && Math.abs(rate - pending.previousRate) <= 0.1 * Math.max(rate, pending.previousRate, 1);
    const fullWindow = policy.windowMs ?? policy.intervalMs * 2;
    pending.previousRate = rate;
    if (!stable && windowMs < fullWindow) return false;
    if (!stable && queues > 0 && windowMs < fullWindow) return false;
    const seconds = windowMs / 1000;
    const backpressure = (component: string) => index.sum(component, METRIC.backpressureMs) / seconds;
    const anyBackpressure = index.components().reduce((acc, c) => acc + backpressure(c), 0);
    state.pending = undefined;
    const settledAt = this.now();
    const judged = (action: HealthActionRecord): HealthActionRecord => {
      if (!applied(action) || action.verdict) return action;
      const component = action.diagnosis.component;
      const observed: Record<string, number> = {
        backpressureMsPerSec: Math.round(action.type === 'scale-down' ? anyBackpressure : backpressure(component)),
        executeRate: rateOf('executeRate', component, topology, index),
        ...rateMetrics(action.predictedEffect, component, topology, index),
      };
      if ('restarts' in action.predictedEffect) observed.restarts = index.sum(component, METRIC.restarts);
      for (const metric of Object.keys(action.predictedEffect)) {
        if (!(metric in observed) && index.measured(component, metric)) observed[metric] = index.sum(component, metric);
      }
      return { ...action, observedEffect: observed, verdict: verdictOf(action, observed, this.options.noiseMsPerSec), settledAt };
    };
    // Decide before the log is written, so this round already skips what did not help.
    for (const action of pending.actions.map(judged)) {
      if (action.verdict === 'did-not-help') blacklist(state, action.diagnosis, action.type, offered);
    }
    await this.update((log) => ({
      ...log,
      rounds: log.rounds.map((round) =>
        round.policy === policy.id && round.round === pending.round ? { ...round, actions: round.actions.map(judged) } : round,
      ),
    }));
    return true;
  }

  /**
   * Lifts the blacklist entries of actions the operator's pins stopped, once none of their components
   * is pinned any more (the hold ended or `ardea update --unpin` ended it): the manager may act again
   * at the same load.
   */
  private async releaseHolds(state: PolicyState, now: number): Promise<void> {
    const entries = [...state.blacklist].filter(([, entry]) => entry.held);
    if (entries.length === 0) return;
    const pins = await this.options.state
      .get('healthLog', this.options.topologyName)
      .then((log) => log?.pins ?? {})
      .catch(() => undefined);
    if (!pins) return;
    for (const [key, entry] of entries) {
      if (!entry.held!.some((component) => (pins[component]?.until ?? 0) > now)) state.blacklist.delete(key);
    }
  }

  private newState(id: string): PolicyState {
    const state: PolicyState = {
      round: 0,
      lastActionAt: undefined,
      pending: undefined,
      blacklist: new Map(),
      streaks: new Map(),
      timer: undefined,
      running: false,
      lastOffered: 0,
    };
    this.states.set(id, state);
    return state;
  }

  private append(round: HealthRound): Promise<void> {
    const keep = this.options.logRounds ?? 200;
    return this.update((log) => ({ ...log, rounds: [...log.rounds, round].slice(-keep) }));
  }

  /** Read-modify-write of the action log, one at a time. */
  private update(change: (log: HealthLog) => HealthLog): Promise<void> {
    this.writing = this.writing
      .then(async () => {
        const { state, topologyName } = this.options;
        const lock = this.options.lockLog ? await state.lock(topologyName, 'update', { timeoutMs: LOG_LOCK_TIMEOUT_MS }) : undefined;
        try {
          const log = (await state.get('healthLog', topologyName)) ?? { rounds: [] };
          await state.set('healthLog', topologyName, change(log));
        } finally {
          await lock?.release();
        }
      })
      .catch((error: unknown) => this.logger.warn('writing the action log failed', { error: describeError(error) }));
    return this.writing;
  }
}

/** Whether an action changed the topology: not a report, a proposal or an action left with nothing to do. */
function applied(action: HealthActionRecord): boolean {
  return CHANGES_TOPOLOGY.has(action.type) && action.outcome === undefined;
}

/** Metrics that measure how much gets done; an action predicting one is judged by its gain. */
const RATE_METRICS = ['executeRate', 'throughput'] as const;

/** A component's rate (a bolt's execute rate, a spout's emit rate) or all spouts' emit rate. */
function rateOf(metric: (typeof RATE_METRICS)[number], component: string, topology: TopologyDefinition, index: MeasurementIndex): number {
  const spouts = topology.components.filter((c) => c.kind === 'spout').map((c) => c.name);
  if (metric === 'throughput') return Math.round(spouts.reduce((acc, s) => acc + index.sum(s, METRIC.emitRate), 0));
  return Math.round(index.sum(component, spouts.includes(component) ? METRIC.emitRate : METRIC.executeRate));
}

/** The rate metrics an action predicts, as measured now; undefined if it predicts none. */
function rateMetrics(
  predicted: Readonly<Record<string, number>>,
  component: string,
  topology: TopologyDefinition,
  index: MeasurementIndex,
): Record<string, number> | undefined {
  const metrics = RATE_METRICS.filter((m) => m in predicted);
  return metrics.length > 0 ? Object.fromEntries(metrics.map((m) => [m, rateOf(m, component, topology, index)])) : undefined;
}

/**
 * Whether an action helped. One that predicts a rate (execute rate, throughput) helped when it
 * brought at least half the gain it predicted over the rate before it (dhalion.md G7): a scale-up
 * sized from a window that still held the old load helps without ending backpressure, and must not
 * be blacklisted for it — the next round sizes again. Otherwise every prediction must hold:
 * backpressure at most the noise level, no more restarts than predicted. Any other metric (a
 * plugin's own prediction) is recorded when the sensors measure it, but not judged: the manager
 * cannot know which direction is better.
 */
function verdictOf(
  action: HealthActionRecord,
  observed: Readonly<Record<string, number>>,
  noiseMsPerSec: number,
): 'helped' | 'did-not-help' {
  const rates = RATE_METRICS.filter((m) => m in action.predictedEffect);
  if (rates.length > 0) {
    const gained = rates.every((metric) => {
      const predicted = action.predictedEffect[metric]!;
      const now = observed[metric] ?? 0;
      const before = action.observedBefore?.[metric];
      if (before === undefined || predicted <= before) return now >= 0.9 * predicted;
      return now - before >= 0.5 * (predicted - before);
    });
    return gained ? 'helped' : 'did-not-help';
  }
  const met = Object.entries(action.predictedEffect).every(([metric, predicted]) => {
    const value = observed[metric];
    if (value === undefined) return true;
    if (metric === 'backpressureMsPerSec') return value <= Math.max(predicted, noiseMsPerSec);
    if (metric === 'restarts') return value <= predicted;
    return true;
  });
  return met ? 'helped' : 'did-not-help';
}

function blacklist(
  state: PolicyState,
  diagnosis: Pick<Diagnosis, 'type' | 'component'>,
  actionType: string,
  offered: number,
  reason?: string,
  held?: readonly string[],
): void {
  const entry: BlacklistEntry = state.blacklist.get(keyOf(diagnosis)) ?? {
    load: offered || 1,
    actions: new Set<string>(),
    ...(reason ? { reason } : {}),
    ...(held ? { held } : {}),
  };
  entry.actions.add(actionType);
  state.blacklist.set(keyOf(diagnosis), entry);
}

function keyOf(diagnosis: Pick<Diagnosis, 'type' | 'component'>): string {
  return `${diagnosis.type}:${diagnosis.component}`;
}

function dedupe(diagnoses: Diagnosis[]): Diagnosis[] {
  const seen = new Set<string>();
  return diagnoses.filter((d) => (seen.has(keyOf(d)) ? false : (seen.add(keyOf(d)), true)));
}

/** The rate data arrives at the spouts: the regime a blacklist entry belongs to. */
function offeredLoad(topology: TopologyDefinition, index: MeasurementIndex): number {
  return topology.components.filter((c) => c.kind === 'spout').reduce((acc, c) => acc + spoutOfferedRate(index, c.name), 0);
}
