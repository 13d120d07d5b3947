import { spawn } from 'node:child_process';
import { closeSync, fchmodSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  awaitSchedulerService,
  makePrivateDirectory,
  PRIVATE_FILE_MODE,
  SchedulerError,
  supervisorCommand,
  type ClusterConfig,
  type Launcher,
  type SchedulerLocation,
  type ScheduleRequest,
  type StateManager,
} from '@ardea/core/plugin';

/**
 * The local pool's launcher: starts the topology's supervisor (the core's scheduler service, which
 * owns the containers through a {@link LocalScheduler}) as a detached process on this machine, so
 * that it outlives the CLI, and waits until it has scheduled the containers and published its
 * endpoint. Its output goes to `$ARDEA_HOME/logs/<cluster>/<topology>-supervisor.log`.
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
    const command = supervisorCommand(this.config, name);
    const child = spawn(command.file, command.args, {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, ...command.env },
    });
    closeSync(log);
    child.unref();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const started = await awaitSchedulerService(this.state, name, exited, this.timeoutMs);
    if ('location' in started) return started.location;
    if ('exitCode' in started) {
      throw new SchedulerError(
        `the supervisor of '${name}' exited (code ${started.exitCode}) before its containers ran: ${lastLine(logFile)} (log: ${logFile})`,
      );
    }
    try {
      process.kill(child.pid!, 'SIGTERM');
    } catch {
      // Already gone.
    }
    throw new SchedulerError(`the supervisor of '${name}' did not come up within ${this.timeoutMs} ms (log: ${logFile})`);
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
