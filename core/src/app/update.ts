import { checkKeyGroups, runtimeSettingsOf } from '../runtime/runtime-settings.js';
import { ArdeaError, ConfigError, describeError, LockTimeoutError, SchedulerError, StateConflictError } from '../errors/index.js';
import {
  checkPackingPlan,
  diffPackingPlans,
  placementOf,
  plansEqual,
  type PackingPlan,
  type PackingPlanDiff,
} from '../model/packing-plan.js';
import { DECLARED_PARALLELISM_KEY, MAX_CONTAINERS, withParallelism, type TopologyDefinition } from '../model/topology.js';
import { operatorSettingsOf } from '../healthmgr/settings.js';
import type { HealthLog, OperatorActionRecord } from '../model/runtime-state.js';
import { selectRepackingAlgorithm } from '../packing/index.js';
import { instanceStartError } from '../runtime/control-messages.js';
import { planForPool } from '../scheduler/pool-kit/container-identity.js';
import { RepackingAlgorithm } from '../spi/packing.js';
import { Scheduler } from '../spi/scheduler.js';
import type { StateOperation } from '../spi/state-manager.js';
import type { Deployment, PlanStatus } from './deployment.js';

export interface UpdateOptions {
  /** New parallelism per component. */
  readonly parallelism?: Readonly<Record<string, number>>;
  /** Container count, for repacking algorithms that take one. */
  readonly containers?: number;
  /** Print the plan diff and stop. */
  readonly dryRun?: boolean;
  /** How long to wait for the update lock; 0 fails at once when another update runs. */
  readonly lockTimeoutMs?: number;
  /** How long the new plan may take to be running everywhere before the update is rolled back. */
  readonly timeoutMs?: number;
  readonly onProgress?: (message: string) => void;
  /**
   * Who asked, when an operator did (the CLI passes `cli`): the components whose parallelism the
   * update sets are then pinned for `healthmgr.operatorHoldMs` — the health manager does not scale
   * them before — and the update is recorded in the health log. The health manager's own updates
   * pass nothing.
   */
  readonly operator?: string;
  /**
   * The health manager's updates: refuse, under the update lock, to change a component the operator
   * pinned. The manager checks the pins before it asks, but an operator's update may pin the
   * component while the manager waits for the lock.
   */
  readonly respectOperatorPins?: boolean;
}

export interface UpdateResult {
  readonly previous: PackingPlan;
  readonly plan: PackingPlan;
  readonly diff: PackingPlanDiff;
  /** Milliseconds from the request until every new instance was running the new plan. */
  readonly elapsedMs: number;
  readonly dryRun: boolean;
  /** When an operator's update pinned components: until when the health manager leaves them alone. */
  readonly heldUntil?: number;
}

/** `Ardea.update`, documented there: the repack, under the update lock, rolled back if any step fails. */
export async function updateTopology(deployment: Deployment, name: string, options: UpdateOptions): Promise<UpdateResult> {
  const started = Date.now();
  const progress = options.onProgress ?? (() => undefined);
  const lock = await updateLock(deployment, name, options.lockTimeoutMs ?? 0);
  try {
    const [topology, current, execution] = await Promise.all([
      deployment.state.get('topology', name),
      deployment.state.get('packingPlan', name),
      deployment.state.get('executionState', name),
    ]);
    if (!topology || !current || !execution)
      throw new ArdeaError(`no topology '${name}' on cluster ${deployment.config.cluster}`, { code: 'topology.not-found' });
    const parallelism = options.parallelism ?? {};
    if (options.respectOperatorPins) await refusePinned(deployment, name, parallelism);
    for (const [component, n] of Object.entries(parallelism)) {
      if (!Number.isInteger(n) || n < 1)
        throw new ConfigError(`--component-parallelism ${component}:${n}: parallelism must be a whole number of at least 1`);
    }
    if (options.containers !== undefined && options.containers > MAX_CONTAINERS) {
      throw new ConfigError(`--container-number ${options.containers}: above the limit of ${MAX_CONTAINERS} containers per topology`);
    }
    const proposedTopology = withDeclaredParallelism(topology, withParallelism(topology, parallelism));
    const { maxParallelism } = runtimeSettingsOf(topology);
    for (const component of proposedTopology.components) checkKeyGroups(component, maxParallelism);
    const repacker = selectRepackingAlgorithm(
      deployment.container.getAll<RepackingAlgorithm>(RepackingAlgorithm),
      deployment.config.packing.repackingAlgorithm,
    );
    const repacked = repacker.repack(
      { current, topology: proposedTopology, ...(options.containers === undefined ? {} : { containers: options.containers }) },
      deployment.config.packing.settings,
    );
    // An ordinal pool can only drop its highest containers: the plan it gets, and the one stored, is dense.
    const proposed = planForPool(deployment.container.get<Scheduler>(Scheduler), current, repacked);
    checkPackingPlan(proposed);
    const diff = diffPackingPlans(current, proposed);
    if (options.dryRun) return { previous: current, plan: proposed, diff, elapsedMs: Date.now() - started, dryRun: true };
    if (plansEqual(current, proposed)) {
      // Asking for the parallelism a component has already is still the operator saying "keep it so".
      const heldUntil = await pinByOperator(deployment, name, options.operator, parallelism);
      return {
        previous: current,
        plan: proposed,
        diff,
        elapsedMs: Date.now() - started,
        dryRun: false,
        ...(heldUntil === undefined ? {} : { heldUntil }),
      };
    }

    const scheduler = await deployment.requireClient(name);
    // Containers leave only after their instances have finished: first add, later remove.
    const leaving = current.containers.filter((c) => !proposed.containers.some((p) => p.id === c.id));
    const withLeaving: PackingPlan = {
      ...proposed,
      containers: [...proposed.containers, ...leaving.map((c) => ({ ...c, instances: [] }))],
    };
    // Every write from here on is conditional on the topology still being this submission: a kill
    // (and a new submit under the name) wins over the update, which stops without writing.
    await writeUnlessKilled(deployment, name, topology.id, [
      { op: 'set', kind: 'topology', topology: name, value: proposedTopology },
      { op: 'set', kind: 'packingPlan', topology: name, value: proposed },
    ]);
    progress(`stored the new packing plan (${proposed.containers.length} containers)`);
    let added = false;
    try {
      if (diff.addedContainers.length > 0) {
        progress(`starting container(s) ${diff.addedContainers.join(', ')}`);
        await scheduler.update(current, withLeaving);
        added = true;
      }
      await waitForPlanApplied(deployment, name, topology.id, proposed, options.timeoutMs ?? 60_000, progress);
    } catch (error) {
      if (isKilledDuringUpdate(error)) throw error;
      progress(`update failed, returning to the previous plan: ${describeError(error)}`);
      await writeUnlessKilled(deployment, name, topology.id, [
        { op: 'set', kind: 'topology', topology: name, value: topology },
        { op: 'set', kind: 'packingPlan', topology: name, value: current },
      ]);
      if (added) {
        // The added containers' instances may hold tuples: they leave once the old plan is back in force, as on any scale-down.
        await waitForPlanApplied(deployment, name, topology.id, current, ROLLBACK_WAIT_MS, progress).catch((reason: unknown) =>
          progress(`removing the added container(s) without the previous plan applied: ${describeError(reason)}`),
        );
        await scheduler.update(withLeaving, current).catch(() => undefined);
      }
      const detail = error instanceof ArdeaError ? error.detail : undefined;
      throw new SchedulerError(`update of '${name}' failed and was rolled back to the previous plan: ${describeError(error)}`, {
        cause: error,
        ...(detail ? { detail } : {}),
      });
    }
    const elapsedMs = Date.now() - started;
    if (leaving.length > 0) {
      progress(`removing emptied container(s) ${leaving.map((c) => c.id).join(', ')}`);
      await scheduler.update(withLeaving, proposed).catch(async (error: unknown) => {
        await assertNotKilled(deployment, name, topology.id);
        throw error;
      });
    }
    const heldUntil = await pinByOperator(deployment, name, options.operator, parallelism);
    return { previous: current, plan: proposed, diff, elapsedMs, dryRun: false, ...(heldUntil === undefined ? {} : { heldUntil }) };
  } finally {
    await lock.release();
  }
}

/**
 * Stamps each component whose parallelism changes for the first time with the parallelism it was
 * submitted with: the health manager's default floor, which must not follow the updates.
 */
function withDeclaredParallelism(before: TopologyDefinition, after: TopologyDefinition): TopologyDefinition {
  return {
    ...after,
    components: after.components.map((component) => {
      const was = before.components.find((c) => c.name === component.name);
      if (!was || was.parallelism === component.parallelism || DECLARED_PARALLELISM_KEY in component.config) return component;
      return { ...component, config: { ...component.config, [DECLARED_PARALLELISM_KEY]: was.parallelism } };
    }),
  };
}

async function refusePinned(deployment: Deployment, name: string, parallelism: Readonly<Record<string, number>>): Promise<void> {
  const pins = (await deployment.state.get('healthLog', name))?.pins ?? {};
  const now = Date.now();
  const held = Object.keys(parallelism).filter((component) => (pins[component]?.until ?? 0) > now);
  if (held.length > 0) {
    const until = new Date(Math.max(...held.map((c) => pins[c]!.until))).toISOString();
    throw new ArdeaError(
      `not scaling ${held.join(', ')} of '${name}': held by the operator until ${until} ` +
        `(an operator's update pinned ${held.length > 1 ? 'them' : 'it'}; ardea update --unpin ends the hold)`,
      { code: 'update.held-by-operator' },
    );
  }
}

/** Operator actions kept in the health log. */
const OPERATOR_ACTIONS_KEPT = 100;

/**
 * Pins the components an operator's update set, for `healthmgr.operatorHoldMs`, and records the
 * update in the health log; returns until when, or undefined when no operator asked or nothing was
 * set. Called under the update lock, which the health manager also takes to write the log, so
 * neither write loses the other's.
 */
async function pinByOperator(
  deployment: Deployment,
  name: string,
  operator: string | undefined,
  parallelism: Readonly<Record<string, number>>,
): Promise<number | undefined> {
  const components = Object.keys(parallelism);
  if (operator === undefined || components.length === 0) return undefined;
  const at = Date.now();
  const until = at + operatorSettingsOf(deployment.config).operatorHoldMs;
  const log: HealthLog = (await deployment.state.get('healthLog', name)) ?? { rounds: [] };
  const pins = { ...log.pins };
  for (const component of components) pins[component] = { parallelism: parallelism[component]!, at, until, by: operator };
  const action: OperatorActionRecord = {
    type: 'update',
    at,
    by: operator,
    description: `set ${components.map((c) => `${c}:${parallelism[c]}`).join(', ')}; held until ${new Date(until).toISOString()}`,
    components,
    parallelism: { ...parallelism },
    until,
  };
  await deployment.state.set('healthLog', name, {
    ...log,
    pins,
    operatorActions: [...(log.operatorActions ?? []), action].slice(-OPERATOR_ACTIONS_KEPT),
  });
  return until;
}

/**
 * `ardea update --unpin`: ends the operator's hold on `components` (all pinned ones when none are
 * named) before its time, under the update lock, and records it in the health log. Returns the
 * components released; none when nothing named was pinned.
 */
export async function unpinComponents(
  deployment: Deployment,
  name: string,
  components: readonly string[] | undefined,
  operator: string,
): Promise<string[]> {
  const lock = await updateLock(deployment, name, 30_000);
  try {
    const topology = await deployment.state.get('topology', name);
    if (!topology) throw new ArdeaError(`no topology '${name}' on cluster ${deployment.config.cluster}`, { code: 'topology.not-found' });
    for (const component of components ?? []) {
      if (!topology.components.some((c) => c.name === component))
        throw new ArdeaError(
          `--unpin ${component}: '${name}' has no component '${component}' ` +
            `(components: ${topology.components.map((c) => c.name).join(', ')})`,
        );
    }
    const log: HealthLog = (await deployment.state.get('healthLog', name)) ?? { rounds: [] };
    const at = Date.now();
    const pinned = Object.entries(log.pins ?? {})
      .filter(([, pin]) => pin.until > at)
      .map(([component]) => component);
    const released = components === undefined ? pinned : pinned.filter((c) => components.includes(c));
    if (released.length === 0) return [];
    const pins = Object.fromEntries(Object.entries(log.pins ?? {}).filter(([c, pin]) => pin.until > at && !released.includes(c)));
    const action: OperatorActionRecord = {
      type: 'unpin',
      at,
      by: operator,
      description: `released ${released.join(', ')} to the health manager`,
      components: released,
    };
    await deployment.state.set('healthLog', name, {
      ...log,
      pins,
      operatorActions: [...(log.operatorActions ?? []), action].slice(-OPERATOR_ACTIONS_KEPT),
    });
    return released;
  } finally {
    await lock.release();
  }
}

/** Applies `operations` only while the topology is still submission `topologyId`. */
async function writeUnlessKilled(
  deployment: Deployment,
  name: string,
  topologyId: string,
  operations: readonly StateOperation[],
): Promise<void> {
  try {
    await deployment.state.transaction([{ op: 'check', kind: 'topology', topology: name, topologyId }, ...operations]);
  } catch (error) {
    // Sets never conflict: only the check can.
    if (error instanceof StateConflictError) throw killedDuringUpdate(name, error);
    throw error;
  }
}

async function assertNotKilled(deployment: Deployment, name: string, topologyId: string): Promise<void> {
  if ((await deployment.state.get('topology', name))?.id !== topologyId) throw killedDuringUpdate(name);
}

/** The update lock of a topology; a restart that starts a new scheduler service holds it too. */
export function updateLock(deployment: Deployment, name: string, timeoutMs: number) {
  return deployment.state.lock(name, 'update', { timeoutMs }).catch((error: unknown) => {
    if (error instanceof LockTimeoutError) {
      throw new SchedulerError(
        `update in progress: another update of '${name}' holds its update lock (${describeError(error)}); try again when it is done`,
        { cause: error },
      );
    }
    throw error;
  });
}

/** How long a failed update waits for the previous plan to be back in force before removing the containers it added. */
const ROLLBACK_WAIT_MS = 30_000;

/**
 * Waits until the topology master works to `plan` (the packing plan just stored: the master learns
 * of it through the state manager, a moment later) and reports it live and applied everywhere. Until
 * the master has read it, its status is that of the plan before, which may well be applied: taking
 * that for the new one removed containers whose instances still held tuples.
 */
async function waitForPlanApplied(
  deployment: Deployment,
  name: string,
  topologyId: string,
  plan: PackingPlan,
  timeoutMs: number,
  progress: (message: string) => void,
): Promise<void> {
  const placement = placementOf(plan);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    await assertNotKilled(deployment, name, topologyId);
    const status = await deployment.callMaster<PlanStatus>(name, 'GET', '/plan-status').catch(() => undefined);
    const failure = status?.failures?.[0];
    if (failure) throw instanceStartError(failure);
    // A master older than this CLI does not say which plan it works to.
    const current = status !== undefined && (status.placement === undefined || status.placement === placement);
    const line = !status
      ? 'waiting for the topology master'
      : !current
        ? 'waiting for the topology master to read the new packing plan'
        : status.applied
          ? 'new plan running everywhere'
          : status.live
            ? `plan ${status.version} published; waiting for container(s) ${status.pending.join(', ')}`
            : 'waiting for new containers to register';
    if (line !== last) progress(line);
    last = line;
    if (current && status.applied) return;
    if (Date.now() > deadline)
      throw new SchedulerError(`the new plan of '${name}' was not running everywhere within ${timeoutMs} ms (${line})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const KILLED_DURING_UPDATE = 'topology.killed-during-update';

function killedDuringUpdate(name: string, cause?: unknown): SchedulerError {
  return new SchedulerError(`topology '${name}' was killed while it was being updated; the update stopped without writing anything more`, {
    code: KILLED_DURING_UPDATE,
    ...(cause === undefined ? {} : { cause }),
  });
}

function isKilledDuringUpdate(error: unknown): boolean {
  return error instanceof ArdeaError && error.code === KILLED_DURING_UPDATE;
}
