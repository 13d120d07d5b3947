import { fileURLToPath } from 'node:url';
import type { ClusterConfig } from '../config/cluster-config.js';
import type { SchedulerLocation } from '../model/runtime-state.js';
import type { Launcher, Scheduler, ScheduleRequest } from '../spi/scheduler.js';
import type { StateManager } from '../spi/state-manager.js';
import { clusterConfigEnv } from './executor-spec.js';

// A path to run, not a module to import: the supervisor is a process of its own.
const SUPERVISOR_ENTRY = fileURLToPath(new URL('../main/supervisor-main.js', import.meta.url));

/** Library mode: schedule from this process and record that there is no service to call. */
export class LibraryLauncher implements Launcher {
  constructor(
    private readonly scheduler: Scheduler,
    private readonly state: StateManager,
  ) {}

  async launch(request: ScheduleRequest): Promise<SchedulerLocation> {
    const name = request.topology.name;
    await this.scheduler.schedule(request);
    const location: SchedulerLocation = { topologyName: name, mode: 'library', jobLinks: await this.scheduler.jobLinks(name) };
    await this.state.set('scheduler', name, location);
    return location;
  }
}

/** A process to start: the executable, its arguments, and what to add to its environment. */
export interface ProcessCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/**
 * The scheduler service (supervisor) of one topology, as this installation runs it: the core's
 * supervisor entry point under this process's Node, with the cluster config this process validated
 * by value, so it computes the same executor spec whatever happens to the cluster directory
 * meanwhile. A service-mode pool's {@link Launcher} starts it wherever the pool keeps its service.
 */
export function supervisorCommand(config: ClusterConfig, topologyName: string): ProcessCommand {
  return { file: process.execPath, args: [SUPERVISOR_ENTRY, '--topology', topologyName], env: clusterConfigEnv(config, topologyName) };
}

/** How the start of a scheduler service ended: it published its endpoint, its process exited first, or time ran out. */
export type SchedulerServiceStart =
  { readonly location: SchedulerLocation } | { readonly exitCode: number | null } | { readonly timedOut: true };

/**
 * Waits until the scheduler service of `topologyName` has scheduled the containers and published
 * where it listens (a service-mode location with an endpoint), until `exited` resolves with the
 * service process's exit code, or until `timeoutMs` has passed, whichever comes first.
 */
export async function awaitSchedulerService(
  state: StateManager,
  topologyName: string,
  exited: Promise<number | null>,
  timeoutMs: number,
): Promise<SchedulerServiceStart> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const location = await state.get('scheduler', topologyName);
    if (location?.mode === 'service' && location.endpoint) return { location };
    const code = await Promise.race([exited, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 50))]);
    if (code !== 'waiting') return { exitCode: code };
    if (Date.now() > deadline) return { timedOut: true };
  }
}
