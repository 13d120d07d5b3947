/** An emulator of Nomad's HTTP API for tests: see README.md for what it covers and what it does not. */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Cluster } from './cluster.js';
import { NomadHttpServer } from './server.js';

export interface NomadEmulatorOptions {
  /** Where allocation directories go (<dataDir>/allocs/<allocId>/...). Required. */
  readonly dataDir: string;
  readonly host?: string;
  readonly port?: number;
  /** When set, ACLs are on: every request needs X-Nomad-Token (or Authorization: Bearer) equal to it, else 403 "Permission denied". */
  readonly aclToken?: string;
  readonly region?: string;
  /** The one node's datacenter is the first; default ['dc1']. */
  readonly datacenters?: readonly string[];
  readonly namespaces?: readonly string[];
  /** The one client node: what it offers, and the drivers it has (default raw_exec and exec; no docker). */
  readonly node?: {
    readonly name?: string;
    readonly cpuMhz?: number;
    readonly memoryMb?: number;
    readonly diskMb?: number;
    readonly drivers?: readonly string[];
  };
}

export interface NomadEmulator {
  /** http://127.0.0.1:<port> */
  readonly address: string;
  /** Stops every task process (KillSignal, then SIGKILL after KillTimeout) and the HTTP server. Idempotent. */
  close(): Promise<void>;
}

export async function startNomadEmulator(options: NomadEmulatorOptions): Promise<NomadEmulator> {
  if (!options.dataDir) throw new Error('nomad emulator: dataDir is required');
  const dataDir = resolve(options.dataDir);
  mkdirSync(join(dataDir, 'allocs'), { recursive: true });
  const region = options.region ?? 'global';
  const datacenter = options.datacenters?.[0] ?? 'dc1';
  const namespaces = options.namespaces && options.namespaces.length > 0 ? [...options.namespaces] : ['default'];
  if (!namespaces.includes('default')) namespaces.unshift('default');
  const name = options.node?.name ?? hostname();
  const cluster = new Cluster(
    {
      id: randomUUID(),
      name,
      datacenter,
      region,
      cpuMhz: options.node?.cpuMhz ?? 16000,
      memoryMb: options.node?.memoryMb ?? 32768,
      diskMb: options.node?.diskMb ?? 102400,
      drivers: options.node?.drivers ?? ['raw_exec', 'exec'],
    },
    namespaces,
    dataDir,
  );
  const server = new NomadHttpServer(cluster, options.aclToken, { region, datacenter, name });
  const address = await server.listen(options.host ?? '127.0.0.1', options.port ?? 0);
  let closing: Promise<void> | undefined;
  return {
    address,
    close() {
      closing ??= (async () => {
        await cluster.close();
        await server.close();
      })();
      return closing;
    },
  };
}
