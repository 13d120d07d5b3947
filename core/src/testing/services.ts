import { readFileSync } from 'node:fs';
import { beforeAll, describe, it } from 'vitest';

/** A server a group of tests needs: ZooKeeper, Slurm, a Kubernetes control plane, a browser... */
export interface ServiceRequirement {
  /** How the service is called in messages, e.g. `ZooKeeper`. */
  readonly name: string;
  /** Resolves to why the service cannot be used, or undefined when it can. */
  readonly probe: () => Promise<string | undefined>;
  /** The command that starts it, e.g. `bash scripts/zk-up.sh`. */
  readonly startHint: string;
}

const probes = new Map<string, Promise<string | undefined>>();

/**
 * `describe` for tests that need a running service. Outside CI a missing service skips the tests,
 * printing why and how to start it; under `CI=true` it fails them: one test fails by name (so the
 * failure shows in the counts, not only as a failed hook) and `beforeAll` throws for the rest.
 * Probes run once per service name per test file. Call it with `await` at the top of a test file.
 */
export async function describeWithService(requirement: ServiceRequirement, title: string, body: () => void): Promise<void> {
  let probing = probes.get(requirement.name);
  if (!probing) {
    probing = requirement.probe().catch((error: unknown) => `probing it failed: ${error instanceof Error ? error.message : String(error)}`);
    probes.set(requirement.name, probing);
  }
  const unavailable = await probing;
  const reason = `${requirement.name} is not available (${unavailable}); start it with ${requirement.startHint}`;
  if (unavailable && process.env.CI !== 'true') {
    process.stderr.write(`skipping '${title}': ${reason}\n`);
    describe.skip(title, body);
    return;
  }
  const require = () => {
    if (unavailable) throw new Error(`CI=true requires ${requirement.name}, but ${reason} (.ci/run must start it)`);
  };
  if (unavailable) it(`${title}: needs ${requirement.name}`, require);
  describe(title, () => {
    beforeAll(require);
    body();
  });
}

/**
 * Whether process `pid` is alive. A zombie (exited, not yet reaped by its parent) counts as dead:
 * it runs nothing any more.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the pid exists but belongs to someone else, which still means it is alive.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    // No /proc (not Linux), or the process ended between the two checks.
    return process.platform !== 'linux';
  }
}
