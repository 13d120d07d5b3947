/**
 * The pod status the agent reports, built from what it knows about the pod's containers. Pure: the
 * pod worker keeps the records, this turns them into the `status` of a merge patch.
 */

/** Where one container is now. */
export type ContainerState =
  | { readonly kind: 'waiting'; readonly reason: string; readonly message?: string }
  | { readonly kind: 'running'; readonly startedAt: string }
  | { readonly kind: 'terminated'; readonly termination: Termination };

/** How a container's process ended. */
export interface Termination {
  readonly exitCode: number;
  readonly signal?: number;
  /** `Completed` (exit 0), `Error`, `StartError` (the command could not be started). */
  readonly reason: string;
  readonly message?: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly containerID?: string;
}

export interface ContainerRecord {
  readonly name: string;
  readonly image: string;
  readonly restartCount: number;
  readonly state: ContainerState;
  /** The previous run, once the container has been restarted or has ended. */
  readonly lastTermination?: Termination;
  /** `ardea://<pid>` of the running (or last) process. */
  readonly containerID?: string;
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False';
  reason?: string;
  message?: string;
  lastTransitionTime?: string | Date;
  lastProbeTime?: string | Date | null;
}

export interface PodStatusInput {
  readonly containers: readonly ContainerRecord[];
  /** The pod's directory, address and volumes are ready: containers can be started. */
  readonly sandboxReady: boolean;
  readonly podIP?: string;
  readonly hostIP: string;
  readonly startTime: string;
  /** The conditions the pod has now (the agent's own earlier ones and others', such as PodScheduled). */
  readonly previousConditions: readonly PodCondition[];
  readonly now: string;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

/** A container that has started at least once (running now, or ended at least once). */
function everStarted(container: ContainerRecord): boolean {
  return container.state.kind !== 'waiting' || container.lastTermination !== undefined;
}

export function podPhase(containers: readonly ContainerRecord[]): PodPhase {
  if (containers.length > 0 && containers.every((c) => c.state.kind === 'terminated')) {
    return containers.every((c) => c.state.kind === 'terminated' && c.state.termination.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
  return containers.some(everStarted) ? 'Running' : 'Pending';
}

function stateJson(state: ContainerState): Record<string, unknown> {
  switch (state.kind) {
    case 'waiting':
      return { waiting: { reason: state.reason, ...(state.message ? { message: state.message } : {}) } };
    case 'running':
      return { running: { startedAt: state.startedAt } };
    case 'terminated':
      return { terminated: terminationJson(state.termination) };
  }
}

function terminationJson(t: Termination): Record<string, unknown> {
  return {
    exitCode: t.exitCode,
    ...(t.signal !== undefined ? { signal: t.signal } : {}),
    reason: t.reason,
    ...(t.message ? { message: t.message } : {}),
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    ...(t.containerID ? { containerID: t.containerID } : {}),
  };
}

export function containerStatusJson(container: ContainerRecord): Record<string, unknown> {
  const running = container.state.kind === 'running';
  return {
    name: container.name,
    image: container.image,
    imageID: '',
    ...(container.containerID ? { containerID: container.containerID } : {}),
    // Readiness probes are not run: a running process is a ready container.
    ready: running,
    started: running,
    restartCount: container.restartCount,
    state: stateJson(container.state),
    lastState: container.lastTermination ? { terminated: terminationJson(container.lastTermination) } : {},
  };
}

/** Keeps the earlier transition time when a condition's status did not change. */
function condition(previous: readonly PodCondition[], now: string, next: PodCondition): PodCondition {
  const before = previous.find((c) => c.type === next.type);
  const lastTransitionTime = before && before.status === next.status && before.lastTransitionTime ? before.lastTransitionTime : now;
  return { ...next, lastProbeTime: null, lastTransitionTime };
}

export const OWN_CONDITIONS = ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready'];

export function buildPodStatus(input: PodStatusInput): Record<string, unknown> {
  const { containers, previousConditions: previous, now } = input;
  const phase = podPhase(containers);
  const unready = containers.filter((c) => c.state.kind !== 'running').map((c) => c.name);
  const allReady = containers.length > 0 && unready.length === 0;
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const notReady = terminal
    ? { reason: 'PodCompleted' }
    : { reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]` };
  const conditions: PodCondition[] = [
    ...previous.filter((c) => !OWN_CONDITIONS.includes(c.type)),
    condition(previous, now, { type: 'PodReadyToStartContainers', status: input.sandboxReady && !terminal ? 'True' : 'False' }),
    condition(previous, now, { type: 'Initialized', status: 'True' }),
    condition(
      previous,
      now,
      allReady ? { type: 'ContainersReady', status: 'True' } : { type: 'ContainersReady', status: 'False', ...notReady },
    ),
    condition(previous, now, allReady ? { type: 'Ready', status: 'True' } : { type: 'Ready', status: 'False', ...notReady }),
  ];
  return {
    phase,
    conditions,
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    ...(input.podIP ? { podIP: input.podIP, podIPs: [{ ip: input.podIP }] } : {}),
    startTime: input.startTime,
    containerStatuses: containers.map(containerStatusJson),
  };
}
