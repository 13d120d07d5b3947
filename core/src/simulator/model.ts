import { SHUFFLE_WEIGHTS_KEY, type ComponentDefinition, type TopologyDefinition } from '../model/topology.js';
import { offeredRate, type LoadProfile } from './load-profile.js';
import { mix32, Prng, streamSeed } from './prng.js';

/**
 * A fluid, fixed-tick model of a running topology.
 *
 * Why fixed ticks of 100 ms rather than per-tuple events: the policies look at windows of seconds to
 * minutes over rates of thousands of tuples per second, so simulating every tuple would cost
 * millions of events per virtual minute for no information the policy can see. A fluid model moves
 * fractional tuple counts between queues each tick, conserves them exactly, and runs an hour of a
 * 50-instance topology in well under a second. 100 ms is short against the engine's watermark
 * dynamics (a 1 MiB queue fills in seconds at these rates) and against the 1 s metric samples, so
 * backpressure and paused time are quantised to 100 ms, which is far below the noise filter of
 * 20 ms/s over any window the policies use.
 */
export const DEFAULT_TICK_MS = 100;

export type ModelGrouping =
  | { readonly type: 'shuffle' }
  | { readonly type: 'fields'; readonly zipfExponent: number; readonly keys: number }
  | { readonly type: 'all' }
  | { readonly type: 'global' };

export interface ModelInput {
  readonly from: string;
  readonly grouping: ModelGrouping;
  /** Tuples this edge carries per tuple the upstream component executes (emits, for a spout). */
  readonly selectivity: number;
}

export interface ModelComponent {
  readonly name: string;
  readonly kind: 'spout' | 'bolt';
  readonly parallelism: number;
  /** Tuples per second one instance handles while busy (for a spout: emits). */
  readonly serviceRate: number;
  /** Bytes one tuple of this component's input occupies in its queue. */
  readonly tupleBytes: number;
  readonly inputs: readonly ModelInput[];
  /** Spouts only: share of the load profile this spout component is offered. */
  readonly loadShare?: number;
}

export interface SlowInstanceSpec {
  readonly component: string;
  /** Position of the instance in its component's task list when the fault starts. */
  readonly instance: number;
  readonly factor: number;
  /** Virtual seconds. */
  readonly at: number;
  /** A container restart clears the fault (a bad host or a GC-stuck process), as it usually does. */
  readonly clearedByRestart: boolean;
}

/** An instance that stops processing (a hung worker): it takes tuples and executes none. */
export interface HungInstanceSpec {
  readonly component: string;
  readonly instance: number;
  readonly at: number;
  readonly clearedByRestart: boolean;
}

/**
 * An instance whose worker keeps dying: every `everySec` of running it crashes, losing what was
 * queued for it, and is restarted after the engine's backoff (0.5 s doubling per crash, at most 30 s).
 */
export interface CrashingInstanceSpec {
  readonly component: string;
  readonly instance: number;
  readonly at: number;
  readonly everySec: number;
  readonly clearedByRestart: boolean;
}

export interface ModelSpec {
  readonly topologyName: string;
  readonly components: readonly ModelComponent[];
  readonly load: LoadProfile;
  /** Unpaused spouts may emit up to this multiple of the offered rate while they have lag to catch up on. */
  readonly catchUp: number;
  readonly arrivals: 'fluid' | 'poisson';
  /** Total busy time of all instances is capped at this many cores; undefined: unlimited. */
  readonly cpuCores?: number;
  readonly slowInstance?: SlowInstanceSpec;
  readonly hungInstance?: HungInstanceSpec;
  readonly crashingInstance?: CrashingInstanceSpec;
  /**
   * The engine's hung-worker check (`topology.hungInstanceMs`): a hung instance with tuples queued
   * for it this long is restarted by its stream manager, losing its queue, and shuffle grouping
   * routes around it until it runs again. 0 or absent: off.
   */
  readonly hungInstanceMs?: number;
  readonly highWatermarkBytes: number;
  readonly lowWatermarkBytes: number;
  /** Virtual seconds the rescaled components (or a restarted container) process nothing. */
  readonly reconfigurationPauseSec: number;
  readonly containers: number;
  readonly tickMs?: number;
  readonly seed: number;
}

interface Counters {
  executed: number;
  emitted: number;
  busySec: number;
  backpressureMs: number;
  /** Worker restarts after a crash, or by the engine's hung-worker check. */
  restarts: number;
  /** Of those, restarts by the hung-worker check. */
  hungRestarts: number;
}

interface Instance {
  readonly taskId: number;
  readonly component: string;
  queue: number;
  received: number;
  over: boolean;
  slowFactor: number;
  hung: boolean;
  crash: { readonly everyMs: number; nextAtMs: number; crashes: number } | undefined;
  pausedUntilMs: number;
  /** Hung with tuples queued (or, a spout, hung at all) since; undefined otherwise. */
  stuckSinceMs: number | undefined;
  /** Restarted by the hung-worker check: shuffle grouping routes around it until then. */
  avoidedUntilMs: number;
  readonly counters: Counters;
}

interface ComponentState {
  readonly spec: ModelComponent;
  instances: Instance[];
  /** Spouts: the external buffer of offered but not yet ingested tuples. */
  lag: number;
  arrived: number;
  pending: { parallelism: number; applyAtMs: number } | undefined;
  /** Task id → weight, set by the slow-instance resolver on upstream components. */
  shuffleWeights: Readonly<Record<string, number>> | undefined;
  readonly runtimeConfig: Map<string, unknown>;
}

/** Cumulative counters of every live instance at one virtual second. */
export interface Snapshot {
  readonly atMs: number;
  readonly pausedMs: number;
  /** Spouts: the external backlog (lag). */
  readonly lag: ReadonlyMap<string, number>;
  readonly instances: ReadonlyMap<number, Readonly<Counters>>;
}

export interface InstanceView {
  readonly taskId: number;
  readonly component: string;
  readonly name: string;
  readonly queueBytes: number;
  readonly counters: Readonly<Counters>;
}

/** Where every tuple is: checks that the model neither loses nor invents any. */
export interface Accounting {
  /** Spouts: tuples offered by the source so far. */
  readonly arrived: Readonly<Record<string, number>>;
  readonly lag: Readonly<Record<string, number>>;
  /** Per component: tuples emitted (spouts) or executed (bolts). */
  readonly processed: Readonly<Record<string, number>>;
  /** Bolts: tuples delivered to its instances' queues, including instances since removed. */
  readonly received: Readonly<Record<string, number>>;
  readonly queued: Readonly<Record<string, number>>;
  /** Bolts: tuples lost from the queues of crashed workers and restarted containers (delivery is at-most-once). */
  readonly dropped: Readonly<Record<string, number>>;
}

export class TopologyModel {
  readonly tickMs: number;
  private nowMs = 0;
  private readonly components = new Map<string, ComponentState>();
  private readonly order: ComponentState[];
  private readonly consumers = new Map<string, Array<{ state: ComponentState; input: ModelInput }>>();
  private nextTaskId = 1;
  private paused = false;
  private pausedMs = 0;
  private cpuScale = 1;
  private readonly faultsApplied = new Set<'slow' | 'hung' | 'crash'>();
  private readonly rng: Prng;
  private readonly snapshots: Snapshot[] = [];
  private historyMs = 10 * 60_000;
  private readonly processedTotal = new Map<string, number>();
  private readonly receivedTotal = new Map<string, number>();
  private readonly droppedTotal = new Map<string, number>();
  private readonly fieldShares = new Map<string, number[]>();
  private definition: TopologyDefinition;

  constructor(readonly spec: ModelSpec) {
    this.tickMs = spec.tickMs ?? DEFAULT_TICK_MS;
    this.rng = new Prng(streamSeed(spec.seed, 0));
    for (const component of spec.components) {
      const state: ComponentState = {
        spec: component,
        instances: [],
        lag: 0,
        arrived: 0,
        pending: undefined,
        shuffleWeights: undefined,
        runtimeConfig: new Map(),
      };
      this.components.set(component.name, state);
      this.processedTotal.set(component.name, 0);
      this.receivedTotal.set(component.name, 0);
      this.droppedTotal.set(component.name, 0);
    }
    for (const component of spec.components) {
      for (const input of component.inputs) {
        const list = this.consumers.get(input.from) ?? [];
        list.push({ state: this.components.get(component.name)!, input });
        this.consumers.set(input.from, list);
      }
    }
    this.order = topologicalComponents(spec.components).map((c) => this.components.get(c.name)!);
    for (const state of this.order)
      state.instances = Array.from({ length: state.spec.parallelism }, () => this.newInstance(state.spec.name));
    this.definition = toDefinition(spec, this.parallelism());
    this.snapshot();
  }

  get now(): number {
    return this.nowMs;
  }

  /** How far back snapshots are kept: at least the longest window a sensor asks for. */
  keepHistory(ms: number): void {
    this.historyMs = Math.max(this.historyMs, ms + 2000);
  }

  topology(): TopologyDefinition {
    return this.definition;
  }

  parallelism(): Record<string, number> {
    return Object.fromEntries(this.order.map((s) => [s.spec.name, s.instances.length]));
  }

  isPaused(): boolean {
    return this.paused;
  }

  totalPausedMs(): number {
    return this.pausedMs;
  }

  lagOf(component: string): number {
    return this.components.get(component)?.lag ?? 0;
  }

  totalLag(): number {
    return this.order.reduce((acc, s) => acc + (s.spec.kind === 'spout' ? s.lag : 0), 0);
  }

  offered(seconds = this.nowMs / 1000): number {
    return offeredRate(this.spec.load, seconds);
  }

  instanceName(instance: { taskId: number; component: string }): string {
    return `container_${1 + ((instance.taskId - 1) % this.spec.containers)}_${instance.component}_${instance.taskId}`;
  }

  instances(): InstanceView[] {
    return this.order.flatMap((s) =>
      s.instances.map((i) => ({
        taskId: i.taskId,
        component: i.component,
        name: this.instanceName(i),
        queueBytes: i.queue * s.spec.tupleBytes,
        counters: i.counters,
      })),
    );
  }

  /** The latest snapshot taken at or before `atMs`, or the oldest one kept. */
  snapshotAt(atMs: number): Snapshot {
    let found = this.snapshots[0]!;
    for (const snapshot of this.snapshots) {
      if (snapshot.atMs > atMs) break;
      found = snapshot;
    }
    return found;
  }

  accounting(): Accounting {
    const per = (f: (s: ComponentState) => number) => Object.fromEntries(this.order.map((s) => [s.spec.name, f(s)]));
    return {
      arrived: per((s) => s.arrived),
      lag: per((s) => s.lag),
      processed: per((s) => this.processedTotal.get(s.spec.name)!),
      received: per((s) => this.receivedTotal.get(s.spec.name)!),
      queued: per((s) => s.instances.reduce((acc, i) => acc + i.queue, 0)),
      dropped: per((s) => this.droppedTotal.get(s.spec.name)!),
    };
  }

  /** Runs the model up to `targetMs` of virtual time, one tick at a time. */
  advanceTo(targetMs: number): void {
    while (this.nowMs + this.tickMs <= targetMs + 1e-9) this.tick();
  }

  /**
   * Asks for new parallelism: the components whose parallelism changes stop processing for the
   * reconfiguration pause, then run with the new instance count; returns when the change applies.
   */
  requestScale(parallelism: Readonly<Record<string, number>>): number {
    const applyAtMs = this.nowMs + this.spec.reconfigurationPauseSec * 1000;
    for (const [name, target] of Object.entries(parallelism)) {
      const state = this.components.get(name);
      if (!state) throw new Error(`the simulated topology has no component '${name}'`);
      if (!Number.isInteger(target) || target < 1) throw new Error(`parallelism of '${name}' must be a positive integer, not ${target}`);
      if (target === state.instances.length) continue;
      state.pending = { parallelism: target, applyAtMs };
      for (const instance of state.instances) instance.pausedUntilMs = Math.max(instance.pausedUntilMs, applyAtMs);
    }
    this.applyPending();
    return applyAtMs;
  }

  /**
   * A restarted container's instances stop for the pause and lose what was queued for them, as the
   * engine's stream manager loses its buffers; a restart clears the faults that say so.
   */
  requestRestart(containerId: number): number {
    const untilMs = this.nowMs + this.spec.reconfigurationPauseSec * 1000;
    for (const state of this.order) {
      for (const instance of state.instances) {
        if (1 + ((instance.taskId - 1) % this.spec.containers) !== containerId) continue;
        instance.pausedUntilMs = Math.max(instance.pausedUntilMs, untilMs);
        this.droppedTotal.set(state.spec.name, this.droppedTotal.get(state.spec.name)! + instance.queue);
        instance.queue = 0;
        instance.over = false;
        if (this.spec.slowInstance?.clearedByRestart) instance.slowFactor = 1;
        if (this.spec.hungInstance?.clearedByRestart) instance.hung = false;
        if (this.spec.crashingInstance?.clearedByRestart) instance.crash = undefined;
        else if (instance.crash) instance.crash.nextAtMs = untilMs + instance.crash.everyMs;
      }
    }
    return untilMs;
  }

  setRuntimeConfig(component: string, key: string, value: unknown): void {
    const state = this.components.get(component);
    if (!state) throw new Error(`the simulated topology has no component '${component}'`);
    state.runtimeConfig.set(key, value);
    if (key === SHUFFLE_WEIGHTS_KEY) {
      if (value === null || value === undefined) state.shuffleWeights = undefined;
      else if (typeof value === 'object' && Object.values(value).every((w) => typeof w === 'number' && w >= 0))
        state.shuffleWeights = { ...(value as Record<string, number>) };
      else throw new Error(`${SHUFFLE_WEIGHTS_KEY} of '${component}' must map task ids to non-negative numbers`);
    }
  }

  private newInstance(component: string): Instance {
    return {
      taskId: this.nextTaskId++,
      component,
      queue: 0,
      received: 0,
      over: false,
      slowFactor: 1,
      hung: false,
      crash: undefined,
      pausedUntilMs: 0,
      stuckSinceMs: undefined,
      avoidedUntilMs: 0,
      counters: { executed: 0, emitted: 0, busySec: 0, backpressureMs: 0, restarts: 0, hungRestarts: 0 },
    };
  }

  private applyPending(): void {
    let changed = false;
    for (const state of this.order) {
      const pending = state.pending;
      if (!pending || pending.applyAtMs > this.nowMs + 1e-9) continue;
      state.pending = undefined;
      changed = true;
      const current = state.instances;
      if (pending.parallelism > current.length) {
        state.instances = [
          ...current,
          ...Array.from({ length: pending.parallelism - current.length }, () => this.newInstance(state.spec.name)),
        ];
      } else {
        // Like the engine's repacking, the newest tasks go; their queued tuples move to the survivors.
        const kept = current.slice(0, pending.parallelism);
        const moved = current.slice(pending.parallelism).reduce((acc, i) => acc + i.queue, 0);
        for (const instance of kept) instance.queue += moved / kept.length;
        state.instances = kept;
      }
    }
    if (changed) this.definition = toDefinition(this.spec, this.parallelism());
  }

  private tick(): void {
    const dtMs = this.tickMs;
    const dt = dtMs / 1000;
    const seconds = this.nowMs / 1000;
    this.applyPending();
    this.applyFaults(seconds);
    this.checkHung();
    const lambda = this.offered(seconds);
    const pausedThisTick = this.paused;
    let demand = 0;
    for (const state of this.order) {
      const spec = state.spec;
      let produced = 0;
      if (spec.kind === 'spout') {
        const share = spec.loadShare ?? 1;
        const mean = lambda * share * dt;
        const arrivals = this.spec.arrivals === 'poisson' ? this.rng.poisson(mean) : mean;
        state.lag += arrivals;
        state.arrived += arrivals;
        const live = state.instances.filter((i) => i.pausedUntilMs <= this.nowMs && !i.hung);
        if (!pausedThisTick && live.length > 0) {
          const capacity = live.reduce((acc, i) => acc + spec.serviceRate * i.slowFactor * this.cpuScale * dt, 0);
          const emitted = Math.min(state.lag, capacity, Math.max(mean, lambda * share * this.spec.catchUp * dt));
          state.lag -= emitted;
          produced = emitted;
          for (const instance of live) {
            const part = (emitted * instance.slowFactor) / live.reduce((acc, i) => acc + i.slowFactor, 0);
            instance.counters.emitted += part;
            instance.counters.busySec += part / (spec.serviceRate * instance.slowFactor * this.cpuScale);
            demand += part / (spec.serviceRate * instance.slowFactor);
          }
        }
      } else {
        for (const instance of state.instances) {
          if (instance.pausedUntilMs > this.nowMs || instance.hung) continue;
          const rate = spec.serviceRate * instance.slowFactor;
          const done = Math.min(instance.queue, rate * this.cpuScale * dt);
          instance.queue -= done;
          instance.counters.executed += done;
          instance.counters.busySec += done / (rate * this.cpuScale);
          demand += Math.min(instance.queue + done, rate * dt) / rate;
          produced += done;
        }
      }
      this.processedTotal.set(spec.name, this.processedTotal.get(spec.name)! + produced);
      if (spec.kind === 'bolt') this.recordEmitted(state);
      if (produced > 0) this.route(state, produced);
    }
    let anyOver = false;
    for (const state of this.order) {
      for (const instance of state.instances) {
        if (instance.over) instance.counters.backpressureMs += dtMs;
        const bytes = instance.queue * state.spec.tupleBytes;
        if (!instance.over && bytes > this.spec.highWatermarkBytes) instance.over = true;
        else if (instance.over && bytes <= this.spec.lowWatermarkBytes) instance.over = false;
        anyOver ||= instance.over;
      }
    }
    if (pausedThisTick) this.pausedMs += dtMs;
    this.paused = anyOver;
    this.cpuScale = this.spec.cpuCores !== undefined && demand > this.spec.cpuCores * dt ? (this.spec.cpuCores * dt) / demand : 1;
    this.nowMs += dtMs;
    if (this.nowMs % 1000 < dtMs / 2 || 1000 - (this.nowMs % 1000) < dtMs / 2) this.snapshot();
  }

  private recordEmitted(state: ComponentState): void {
    const selectivity = Math.max(0, ...(this.consumers.get(state.spec.name) ?? []).map((c) => c.input.selectivity));
    for (const instance of state.instances) instance.counters.emitted = instance.counters.executed * selectivity;
  }

  private applyFaults(seconds: number): void {
    const target = (fault: { component: string; instance: number }) => {
      const state = this.components.get(fault.component)!;
      return state.instances[Math.min(fault.instance, state.instances.length - 1)]!;
    };
    const due = (kind: 'slow' | 'hung' | 'crash', fault: { at: number } | undefined): boolean => {
      if (!fault || this.faultsApplied.has(kind) || seconds < fault.at) return false;
      this.faultsApplied.add(kind);
      return true;
    };
    if (due('slow', this.spec.slowInstance)) target(this.spec.slowInstance!).slowFactor = 1 / this.spec.slowInstance!.factor;
    if (due('hung', this.spec.hungInstance)) target(this.spec.hungInstance!).hung = true;
    const crashing = this.spec.crashingInstance;
    if (due('crash', crashing))
      target(crashing!).crash = { everyMs: crashing!.everySec * 1000, nextAtMs: this.nowMs + crashing!.everySec * 1000, crashes: 0 };
    for (const state of this.order) {
      for (const instance of state.instances) {
        const crash = instance.crash;
        if (!crash || this.nowMs < crash.nextAtMs) continue;
        crash.crashes++;
        instance.counters.restarts++;
        // What was delivered to the dead worker is lost with it (at-most-once); what arrives while
        // it restarts waits for the new one.
        this.droppedTotal.set(state.spec.name, this.droppedTotal.get(state.spec.name)! + instance.queue);
        instance.queue = 0;
        // The stream manager's restart backoff: 0.5 s, doubling per crash, at most 30 s.
        const downMs = Math.min(30_000, 500 * 2 ** Math.min(crash.crashes - 1, 6));
        instance.pausedUntilMs = Math.max(instance.pausedUntilMs, this.nowMs + downMs);
        crash.nextAtMs = instance.pausedUntilMs + crash.everyMs;
      }
    }
  }

  /**
   * The engine's hung-worker check: a hung instance that has had tuples queued (a spout: that has
   * been hung) for hungInstanceMs is restarted alone, with the crash backoff, losing its queue;
   * shuffle grouping routes around it from half that time until the new worker runs.
   */
  private checkHung(): void {
    const limitMs = this.spec.hungInstanceMs ?? 0;
    if (limitMs <= 0) return;
    for (const state of this.order) {
      for (const instance of state.instances) {
        const stuck = instance.hung && instance.pausedUntilMs <= this.nowMs && (state.spec.kind === 'spout' || instance.queue > 0);
        if (!stuck) {
          instance.stuckSinceMs = undefined;
          continue;
        }
        instance.stuckSinceMs ??= this.nowMs;
        // As in the engine, shuffle routes around it from half the limit on.
        if (this.nowMs - instance.stuckSinceMs >= limitMs / 2)
          instance.avoidedUntilMs = Math.max(instance.avoidedUntilMs, this.nowMs + this.tickMs);
        if (this.nowMs - instance.stuckSinceMs < limitMs) continue;
        instance.counters.restarts++;
        instance.counters.hungRestarts++;
        this.droppedTotal.set(state.spec.name, this.droppedTotal.get(state.spec.name)! + instance.queue);
        instance.queue = 0;
        instance.stuckSinceMs = undefined;
        const downMs = Math.min(30_000, 500 * 2 ** Math.min(instance.counters.restarts - 1, 6));
        instance.pausedUntilMs = this.nowMs + downMs;
        instance.avoidedUntilMs = instance.pausedUntilMs;
        if (this.spec.hungInstance?.clearedByRestart) instance.hung = false;
      }
    }
  }

  /** Delivers what a component produced this tick to every consumer's instances, by grouping. */
  private route(from: ComponentState, produced: number): void {
    for (const { state, input } of this.consumers.get(from.spec.name) ?? []) {
      const amount = produced * input.selectivity;
      if (amount <= 0) continue;
      const targets = state.instances;
      const shares = this.shares(from, state, input);
      let delivered = 0;
      for (let k = 0; k < targets.length; k++) {
        const part = amount * shares[k]!;
        targets[k]!.queue += part;
        targets[k]!.received += part;
        delivered += part;
      }
      this.receivedTotal.set(state.spec.name, this.receivedTotal.get(state.spec.name)! + delivered);
    }
  }

  private shares(from: ComponentState, to: ComponentState, input: ModelInput): number[] {
    const n = to.instances.length;
    switch (input.grouping.type) {
      case 'all':
        return Array.from({ length: n }, () => 1);
      case 'global':
        // Heron's global grouping goes to the task with the lowest id.
        return Array.from({ length: n }, (_, k) => (k === 0 ? 1 : 0));
      case 'fields':
        return this.fieldsShares(from.spec.name, to.spec.name, input.grouping, n);
      case 'shuffle': {
        const weights = from.shuffleWeights;
        // Workers the hung-worker check is restarting get nothing while another instance can take it.
        const avoided = to.instances.map((i) => i.avoidedUntilMs > this.nowMs);
        const avoiding = avoided.some((a) => a) && avoided.some((a) => !a);
        if (!weights && !avoiding) return Array.from({ length: n }, () => 1 / n);
        const w = to.instances.map((i, k) => (avoiding && avoided[k] ? 0 : (weights?.[String(i.taskId)] ?? 1)));
        const sum = w.reduce((acc, x) => acc + x, 0);
        return sum > 0 ? w.map((x) => x / sum) : Array.from({ length: n }, () => 1 / n);
      }
    }
  }

  /**
   * Share of a Zipf(s) key distribution over `keys` keys each instance gets when key k goes to
   * instance hash(k) mod n, as the engine's fields grouping hashes values. The hash is fixed per
   * edge (not per seed): a real hash does not change from run to run either.
   */
  private fieldsShares(from: string, to: string, grouping: { zipfExponent: number; keys: number }, n: number): number[] {
    const cacheKey = `${from}->${to}:${n}`;
    const cached = this.fieldShares.get(cacheKey);
    if (cached) return cached;
    const salt = hashString(`${from}->${to}`);
    const shares = new Array<number>(n).fill(0);
    let total = 0;
    for (let k = 1; k <= grouping.keys; k++) total += 1 / Math.pow(k, grouping.zipfExponent);
    for (let k = 1; k <= grouping.keys; k++) shares[mix32((k ^ salt) >>> 0) % n]! += 1 / Math.pow(k, grouping.zipfExponent) / total;
    this.fieldShares.set(cacheKey, shares);
    return shares;
  }

  private snapshot(): void {
    const instances = new Map<number, Counters>();
    for (const state of this.order) for (const i of state.instances) instances.set(i.taskId, { ...i.counters });
    const lag = new Map(this.order.filter((s) => s.spec.kind === 'spout').map((s) => [s.spec.name, s.lag]));
    this.snapshots.push({ atMs: Math.round(this.nowMs), pausedMs: this.pausedMs, lag, instances });
    while (this.snapshots.length > 1 && this.snapshots[1]!.atMs <= this.nowMs - this.historyMs) this.snapshots.shift();
  }
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < text.length; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
  return mix32(h >>> 0);
}

function topologicalComponents(components: readonly ModelComponent[]): ModelComponent[] {
  const byName = new Map(components.map((c) => [c.name, c]));
  const ordered: ModelComponent[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (component: ModelComponent): void => {
    const seen = state.get(component.name);
    if (seen === 'done') return;
    if (seen === 'visiting') throw new Error(`the simulated topology has a cycle through '${component.name}'`);
    state.set(component.name, 'visiting');
    for (const input of component.inputs) {
      const source = byName.get(input.from);
      if (!source) throw new Error(`component '${component.name}' reads from '${input.from}', which is not in the topology`);
      visit(source);
    }
    state.set(component.name, 'done');
    ordered.push(component);
  };
  for (const component of components) visit(component);
  return ordered;
}

/** The definition the health manager reads: the model's components with their current parallelism. */
export function toDefinition(
  spec: Pick<ModelSpec, 'topologyName' | 'components'>,
  parallelism: Readonly<Record<string, number>>,
): TopologyDefinition {
  const components: ComponentDefinition[] = spec.components.map((c) => ({
    name: c.name,
    kind: c.kind,
    parallelism: parallelism[c.name] ?? c.parallelism,
    config: {},
    outputs: [{ id: 'default', fields: ['key', 'value'] }],
    inputs: c.inputs.map((input) => ({
      component: input.from,
      stream: 'default',
      grouping:
        input.grouping.type === 'fields'
          ? { type: 'fields' as const, fields: ['key'] }
          : input.grouping.type === 'shuffle'
            ? { type: 'shuffle' as const }
            : { type: input.grouping.type },
    })),
  }));
  return { name: spec.topologyName, id: `${spec.topologyName}-simulated`, config: {}, components };
}
