import { shellCommand } from '@ardea/core/plugin';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import type { ServiceRequirement } from '@ardea/core/testing';
import type { SshSettings } from './slurm-config.js';
import { SshConnection } from './ssh-connection.js';

/** Where scripts/sshd-up.sh and scripts/slurm-up.sh put things, with the same knobs. */
export const SSHD_BASE = process.env.SSHD_BASE ?? '/tmp/ardea-sshd';
export const SSHD_PORT = Number(process.env.SSHD_PORT ?? 2222);

export function testSshSettings(overrides: Partial<SshSettings> = {}): SshSettings {
  return {
    host: '127.0.0.1',
    port: SSHD_PORT,
    user: 'root',
    privateKeyPath: `${SSHD_BASE}/client_key`,
    agent: false,
    knownHostsPath: `${SSHD_BASE}/known_hosts`,
    strictHostKeyChecking: true,
    connectTimeoutMs: 10_000,
    commandTimeoutMs: 30_000,
    ...overrides,
  };
}

/** Why the loopback Slurm cluster cannot be used, or undefined when it can. */
async function probeSlurm(): Promise<string | undefined> {
  for (const file of [`${SSHD_BASE}/client_key`, `${SSHD_BASE}/known_hosts`]) {
    if (!existsSync(file)) return `${file} does not exist`;
  }
  const ssh = new SshConnection(testSshSettings({ connectTimeoutMs: 3000, commandTimeoutMs: 10_000 }), 'test');
  try {
    const ping = await ssh.exec('scontrol ping && sinfo -h -o %T');
    if (ping.code !== 0 || !/is UP/.test(ping.stdout))
      return `Slurm does not answer through ${ssh.target}: ${ping.stderr.trim() || ping.stdout.trim()}`;
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await ssh.close();
  }
}

/** The loopback Slurm cluster and its sshd (the login node), as scripts/slurm-up.sh starts them. */
export const LOOPBACK_SLURM: ServiceRequirement = {
  name: 'the loopback Slurm cluster',
  probe: probeSlurm,
  startHint: 'bash scripts/slurm-up.sh',
};

/** Runs a command on the login node, for looking behind the plugin's back. */
export async function onLoginNode(command: string): Promise<string> {
  const ssh = new SshConnection(testSshSettings(), 'test');
  try {
    const result = await ssh.exec(command);
    if (result.code !== 0) throw new Error(`'${command}' failed on the login node: ${result.stderr}`);
    return result.stdout;
  } finally {
    await ssh.close();
  }
}

export interface QueuedJob {
  readonly jobId: string;
  readonly name: string;
  readonly state: string;
}

/** Jobs squeue lists by default (pending, running, completing) whose name starts with `prefix`. */
export async function liveJobs(prefix: string): Promise<QueuedJob[]> {
  const output = await onLoginNode(shellCommand(['squeue', '--me', '--noheader', '--format=%i|%j|%T']));
  return output
    .split('\n')
    .map((line) => line.trim().split('|'))
    .filter(([jobId, name]) => jobId && name?.startsWith(prefix))
    .map(([jobId, name, state]) => ({ jobId: jobId!, name: name!, state: state ?? '' }));
}

/** Cancels whatever a test left behind under `prefix`. */
export async function cancelJobs(prefix: string): Promise<void> {
  const ids = (await liveJobs(prefix)).map((job) => job.jobId);
  if (ids.length > 0) await onLoginNode(shellCommand(['scancel', '--quiet', ...ids]));
}

/** A known_hosts line for `[127.0.0.1]:<port>` with a freshly made key: what a spoofed login node looks like. */
export function foreignKnownHostsLine(port = SSHD_PORT): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const type = Buffer.from('ssh-ed25519');
  const blob = Buffer.concat([u32(type.length), type, u32(raw.length), raw]);
  return `[127.0.0.1]:${port} ssh-ed25519 ${blob.toString('base64')}\n`;
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

/** A loopback port nothing listens on. */
export async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
