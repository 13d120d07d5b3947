/**
 * What the plugin's tests share: a Nomad emulator (tools/nomad-emulator) per test file with ACLs on,
 * and schedulers configured as a user writes scheduler.yaml.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { SilentLogger } from '@ardea/core/plugin';
import { startNomadEmulator, type NomadEmulator, type NomadEmulatorOptions } from '@ardea/nomad-emulator';
import { nomadSchedulerConfigSchema } from './nomad-config.js';
import { NomadScheduler } from './nomad-scheduler.js';

export interface TestNomad {
  readonly emulator: NomadEmulator;
  readonly token: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

export async function startTestNomad(options: Partial<NomadEmulatorOptions> = {}): Promise<TestNomad> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ardea-nomad-'));
  const token = randomUUID();
  const emulator = await startNomadEmulator({ dataDir, aclToken: token, ...options });
  return {
    emulator,
    token,
    dataDir,
    stop: async () => {
      await emulator.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A scheduler as `config` (scheduler.yaml's keys) configures it, on the test Nomad, with its token. */
export function schedulerFor(
  nomad: TestNomad,
  config: Record<string, unknown> = {},
  token: string | undefined = nomad.token,
): NomadScheduler {
  const parsed = nomadSchedulerConfigSchema.parse({
    address: nomad.emulator.address,
    container0: { cpus: 0.25, memoryMb: 128 },
    ...config,
  });
  return new NomadScheduler({ config: parsed, token, pollIntervalMs: 100 }, new SilentLogger());
}
