import { spawn } from 'node:child_process';
import { closeSync, fchmodSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterConfig } from '../config/cluster-config.js';
import { SchedulerError } from '../errors/index.js';
import { makePrivateDirectory, PRIVATE_FILE_MODE } from '../fs/private-files.js';
import type { SchedulerLocation } from '../model/runtime-state.js';
import type { Launcher, Scheduler, ScheduleRequest } from '../spi/scheduler.js';
import type { StateManager } from '../spi/state-manager.js';
import { clusterConfigEnv } from './executor-spec.js';

const SUPERVISOR_MAIN = fileURLToPath(new URL('../main/supervisor-main.js', import.meta.url));

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

/**
 * Service mode on this machine: starts the topology's supervisor as a detached process (it outlives
 * the CLI) and waits until it has scheduled the containers and published its endpoint.
 */
export class LocalServiceLauncher implements Launcher {
  constructor(
    private readonly config: ClusterConfig,
    private readonly state: StateManager,
    private readonly timeoutMs = 60_000,
  ) {}

  supervisorLog(topologyName: string): string {
    return path.join(this.config.home, 'logs', this.config.cluster, `${topologyName}-supervisor.log`);
  }

  async launch(request: ScheduleRequest): Promise<SchedulerLocation> {
    const name = request.topology.name;
    const logFile = this.supervisorLog(name);
    // Logs are the owner's alone; one left open by an older version is closed up here.
    await makePrivateDirectory(path.dirname(logFile), { repair: true });
    const log = openSync(logFile, 'a', PRIVATE_FILE_MODE);
    fchmodSync(log, PRIVATE_FILE_MODE);
    // The supervisor gets the config this process validated, by value: it computes the same
    // executor spec, whatever happens to the cluster directory meanwhile.
    const child = spawn(process.execPath, [SUPERVISOR_MAIN, '--topology', name], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, ...clusterConfigEnv(this.config) },
    });
    closeSync(log);
    child.unref();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const location = await this.state.get('scheduler', name);
      if (location?.mode === 'service' && location.endpoint) return location;
      const code = await Promise.race([exited, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 50))]);
      if (code !== 'waiting') {
        throw new SchedulerError(`the supervisor of '${name}' exited (code ${code}) before its containers ran: ${lastLine(logFile)} (log: ${logFile})`);
      }
      if (Date.now() > deadline) {
        try {
          process.kill(child.pid!, 'SIGTERM');
        } catch {
          // Already gone.
        }
        throw new SchedulerError(`the supervisor of '${name}' did not come up within ${this.timeoutMs} ms (log: ${logFile})`);
      }
    }
  }
}

function lastLine(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return lines[lines.length - 1] ?? '';
  } catch {
    return '(no log)';
  }
}
