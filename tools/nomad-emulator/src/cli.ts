/** The `ardea-nomad-emulator` command: parse flags, serve until SIGTERM or SIGINT. */
import { readFileSync } from 'node:fs';
import { startNomadEmulator, type NomadEmulatorOptions } from './index.js';

export const USAGE = `usage: ardea-nomad-emulator --data-dir DIR [--port N] [--token-file FILE] [--datacenter DC]
       [--namespace NS]... [--node-cpu-mhz N] [--node-memory-mb N]
`;

/** Turns the command line into emulator options; throws with a message naming the bad flag. */
export function parseArguments(argv: readonly string[]): NomadEmulatorOptions {
  let dataDir: string | undefined;
  let port = 0;
  let aclToken: string | undefined;
  const datacenters: string[] = [];
  const namespaces: string[] = [];
  let cpuMhz: number | undefined;
  let memoryMb: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const [name, inline] = flag.includes('=') ? [flag.slice(0, flag.indexOf('=')), flag.slice(flag.indexOf('=') + 1)] : [flag, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${name} needs a value`);
      return v;
    };
    const integer = (): number => {
      const v = value();
      if (!/^\d+$/u.test(v)) throw new Error(`${name} needs a whole number, got ${JSON.stringify(v)}`);
      return Number(v);
    };
    switch (name) {
      case '--data-dir':
        dataDir = value();
        break;
      case '--port':
        port = integer();
        break;
      case '--token-file':
        aclToken = readFileSync(value(), 'utf8').trim();
        if (aclToken === '') throw new Error('--token-file: the file is empty');
        break;
      case '--datacenter':
        datacenters.push(value());
        break;
      case '--namespace':
        namespaces.push(value());
        break;
      case '--node-cpu-mhz':
        cpuMhz = integer();
        break;
      case '--node-memory-mb':
        memoryMb = integer();
        break;
      default:
        throw new Error(`unknown flag ${name}\n${USAGE}`);
    }
  }
  if (!dataDir) throw new Error(`--data-dir is required\n${USAGE}`);
  return {
    dataDir,
    port,
    ...(aclToken !== undefined ? { aclToken } : {}),
    ...(datacenters.length > 0 ? { datacenters } : {}),
    ...(namespaces.length > 0 ? { namespaces } : {}),
    node: { ...(cpuMhz !== undefined ? { cpuMhz } : {}), ...(memoryMb !== undefined ? { memoryMb } : {}) },
  };
}

export async function main(argv: readonly string[]): Promise<void> {
  let options: NomadEmulatorOptions;
  try {
    options = parseArguments(argv);
  } catch (error) {
    process.stderr.write(`ardea-nomad-emulator: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const emulator = await startNomadEmulator(options);
  process.stdout.write(`nomad emulator listening on ${emulator.address}\n`);
  const stop = () => {
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
