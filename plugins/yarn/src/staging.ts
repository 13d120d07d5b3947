import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerView } from './yarn-rest.js';
import { ENVIRONMENT_FILE, LAUNCH_SCRIPT, type StagedFiles } from './service-spec.js';

/** What the plugin remembers of one component instance between calls. */
interface InstanceRecord {
  /** The YARN container that ran it when last seen. */
  container: string;
  /** Times YARN started it again on its own (after its process exited or was lost). */
  restarts: number;
  /** A container `restart()` killed on purpose: its replacement is not counted as a restart. */
  killedOnRequest?: string;
}

type Ledger = Record<string, InstanceRecord>;

const LEDGER_FILE = 'instances.json';

/**
 * A topology's directory under the staging directory: the launch script and executor environment
 * that the NodeManagers localize into its containers, and the instance ledger. The Services API
 * reports each instance's current container but not how often it was replaced, so the plugin keeps
 * that here: every call that reads the service notes which container runs each instance, and a
 * changed container that `restart()` did not ask for is one restart. The directory is its owner's
 * alone (0700): the environment may hold credentials.
 */
export class TopologyStaging {
  readonly files: StagedFiles;

  constructor(stagingDirectory: string, user: string, serviceName: string) {
    const directory = path.join(stagingDirectory, user, serviceName);
    this.files = {
      directory,
      launchScript: path.join(directory, LAUNCH_SCRIPT),
      environmentFile: path.join(directory, ENVIRONMENT_FILE),
    };
  }

  /** Writes the launch script and environment; a NodeManager that localizes them later gets these. */
  async write(launchScript: string, environment: string): Promise<void> {
    const root = path.dirname(path.dirname(this.files.directory));
    // A root the plugin creates is shared by every user of the pool, like /tmp: each keeps to their own
    // subdirectory. One that exists keeps its mode: it may be a directory its owner chose to share less.
    if ((await mkdir(root, { recursive: true })) !== undefined) await chmod(root, 0o1777).catch(() => undefined);
    await mkdir(this.files.directory, { recursive: true, mode: 0o700 });
    await chmod(path.dirname(this.files.directory), 0o700);
    await chmod(this.files.directory, 0o700);
    await atomicWrite(this.files.launchScript, launchScript, 0o600);
    await atomicWrite(this.files.environmentFile, environment, 0o600);
  }

  async remove(): Promise<void> {
    await rm(this.files.directory, { recursive: true, force: true });
  }

  /** Restart counts by instance name, after noting the containers that run the instances now. */
  async observe(containers: readonly ContainerView[]): Promise<Map<string, number>> {
    const ledger = await this.read();
    let changed = false;
    for (const container of containers) {
      const instance = container.component_instance_name;
      if (!instance || !container.id) continue;
      const record = ledger[instance];
      if (!record) {
        ledger[instance] = { container: container.id, restarts: 0 };
        changed = true;
      } else if (record.container !== container.id) {
        if (record.killedOnRequest === record.container) delete record.killedOnRequest;
        else record.restarts += 1;
        record.container = container.id;
        changed = true;
      }
    }
    if (changed) await this.save(ledger);
    return new Map(Object.entries(ledger).map(([instance, record]) => [instance, record.restarts]));
  }

  /** Notes that `restart()` is about to kill `container`, which runs `instance`. */
  async killingOnRequest(instance: string, container: string): Promise<void> {
    const ledger = await this.read();
    const record = ledger[instance] ?? { container, restarts: 0 };
    if (record.container === container) record.killedOnRequest = container;
    ledger[instance] = record;
    await this.save(ledger);
  }

  /** Forgets instances that no longer exist (removed by a scale-down), so a later one of that name starts afresh. */
  async forget(instances: readonly string[]): Promise<void> {
    const ledger = await this.read();
    for (const instance of instances) delete ledger[instance];
    await this.save(ledger);
  }

  /** Whether the instance ran before (it is being started again rather than for the first time). */
  async known(instance: string): Promise<boolean> {
    return (await this.read())[instance] !== undefined;
  }

  private async read(): Promise<Ledger> {
    try {
      return JSON.parse(await readFile(path.join(this.files.directory, LEDGER_FILE), 'utf8')) as Ledger;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || error instanceof SyntaxError) return {};
      throw error;
    }
  }

  private async save(ledger: Ledger): Promise<void> {
    await mkdir(this.files.directory, { recursive: true, mode: 0o700 });
    await atomicWrite(path.join(this.files.directory, LEDGER_FILE), JSON.stringify(ledger), 0o600);
  }
}

/** Readers (a NodeManager localizing, another call) see the old file or the new one, never half of one. */
async function atomicWrite(file: string, content: string, mode: number): Promise<void> {
  const temporary = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, content, { mode });
  await rename(temporary, file);
}
