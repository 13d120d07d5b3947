import type { Logger } from '../logging/index.js';
import type { HealthActionRecord, HealthLog, HealthRound } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';
import { describeError } from '../errors/index.js';
import { type Action, type Diagnosis, type HealthPolicy, METRIC, type PolicyContext } from '../spi/health-policy.js';
import type { StateManager } from '../spi/state-manager.js';
import { MeasurementIndex } from './measurements.js';
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
}

/** Actions that change the topology; a report changes nothing and needs no verdict. */
const CHANGES_TOPOLOGY = new Set(['scale-up', 'scale-down', 'route-around', 'restart']);

interface PolicyState {
  round: number;
  lastActionAt: number | undefined;
  /** The round whose actions wait for the topology to settle before they are judged. */
  pending: { round: number; components: string[]; actions: HealthActionRecord[]; previousRate: number | undefined } | undefined;
  /**
   * Diagnosis key → the offered load when an action for it did not help, and which action types did
   * not; lifted when the load changes.
   */
  readonly blacklist: Map<string, { readonly load: number; readonly actions: Set<string> }>;
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
    for (const resolver of policy.resolvers) {
      const mine = ready.filter((d) => resolver.handles.includes(d.type) && (resolver.escalates || !state.blacklist.has(keyOf(d))));
      if (mine.length === 0) continue;
      try {
        const done: Action[] = await resolver.resolve(mine, resolverContext);
        for (const action of done) {
          const diagnosis = mine.find((d) => d.component === action.component) ?? mine[0]!;
          const before = rateMetrics(action.predictedEffect, diagnosis.component, topology, index);
          actions.push({
            ...action,
            diagnosis: { type: diagnosis.type, component: diagnosis.component },
            ...(before ? { observedBefore: before } : {}),
          });
          // A report is made once per regime, like an action that cannot help.
          if (!CHANGES_TOPOLOGY.has(action.type)) blacklist(state, diagnosis, action.type, offered);
        }
      } catch (failure) {
        error = describeError(failure);
        this.logger.warn('resolver failed', { policy: policy.id, resolver: resolver.name, error });
      }
      if (actions.some((a) => CHANGES_TOPOLOGY.has(a.type))) break;
    }
    if (actions.some((a) => CHANGES_TOPOLOGY.has(a.type))) {
      state.lastActionAt = this.now();
      state.streaks.clear();
      const components = [...new Set(actions.map((a) => a.diagnosis.component))];
      state.pending = { round: state.round, components, actions, previousRate: undefined };
    }
    if (diagnoses.length === 0 && actions.length === 0 && !error) return undefined;
    const round: HealthRound = {
      policy: policy.id,
      round: state.round,
      at: now,
      windowMs,
      symptoms: symptoms.map((s) => ({ type: s.type, component: s.component, instances: [...s.instances], details: { ...s.details } })),
      diagnoses: diagnoses.map((d) => ({ type: d.type, component: d.component, instances: [...d.instances] })),
      actions,
      blacklisted: blacklisted.map((d) => ({ type: d.type, component: d.component })),
      ...(error ? { error } : {}),
    };
    await this.append(round);
    for (const action of actions) this.logger.info('health action', { policy: policy.id, action: action.description });
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
      if (!CHANGES_TOPOLOGY.has(action.type) || action.verdict) return action;
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
      rounds: log.rounds.map((round) =>
        round.policy === policy.id && round.round === pending.round ? { ...round, actions: round.actions.map(judged) } : round,
      ),
    }));
    return true;
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
    return this.update((log) => ({ rounds: [...log.rounds, round].slice(-keep) }));
  }

  /** Read-modify-write of the action log, one at a time. */
  private update(change: (log: HealthLog) => HealthLog): Promise<void> {
    this.writing = this.writing
      .then(async () => {
        const log = (await this.options.state.get('healthLog', this.options.topologyName)) ?? { rounds: [] };
        await this.options.state.set('healthLog', this.options.topologyName, change(log));
      })
      .catch((error: unknown) => this.logger.warn('writing the action log failed', { error: describeError(error) }));
    return this.writing;
  }
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

function blacklist(state: PolicyState, diagnosis: Pick<Diagnosis, 'type' | 'component'>, actionType: string, offered: number): void {
  const entry = state.blacklist.get(keyOf(diagnosis)) ?? { load: offered || 1, actions: new Set<string>() };
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
