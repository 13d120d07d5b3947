import { chmod, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LogFields, Logger } from '../logging/index.js';
import { isUnder, makePrivateDirectory, securePrivateTree } from './private-files.js';

class Warnings implements Logger {
  readonly lines: string[] = [];
  debug(): void {}
  info(): void {}
  error(): void {}
  warn(message: string, _fields?: LogFields): void {
    this.lines.push(message);
  }
  child(): Logger {
    return this;
  }
}

const modeOf = async (file: string) => ((await stat(file)).mode & 0o777).toString(8);

describe('private files', () => {
  let base: string;
  let umask: number;

  beforeEach(async () => {
    // The permissive umask most users have: what Ardea makes private must not depend on it.
    umask = process.umask(0o022);
    base = await mkdtemp(path.join(os.tmpdir(), 'ardea-private-'));
  });

  afterEach(async () => {
    process.umask(umask);
    await rm(base, { recursive: true, force: true });
  });

  /** A tree as an older version or a careless copy leaves it: everything open to others. */
  const openTree = async (root: string) => {
    await mkdir(path.join(root, 'topologies', 'nested'), { recursive: true, mode: 0o755 });
    await writeFile(path.join(root, 'topologies', 'secret.json'), '{}', { mode: 0o644 });
    await writeFile(path.join(root, 'topologies', 'nested', 'deep.json'), '{}', { mode: 0o666 });
    for (const directory of [root, path.join(root, 'topologies'), path.join(root, 'topologies', 'nested')]) await chmod(directory, 0o755);
    await chmod(path.join(root, 'topologies', 'nested', 'deep.json'), 0o666);
  };

  it('creates missing directories, parents included, for their owner only', async () => {
    await makePrivateDirectory(path.join(base, 'home', 'state', 'local'));
    for (const directory of ['home', 'home/state', 'home/state/local']) expect(await modeOf(path.join(base, directory))).toBe('700');
  });

  it('repairs a tree left open, the root included, and says what it changed', async () => {
    const root = path.join(base, 'store');
    await openTree(root);
    const warnings = new Warnings();
    await securePrivateTree(root, { what: 'state store', logger: warnings, repairRoot: true, recursive: true });
    expect(await modeOf(root)).toBe('700');
    expect(await modeOf(path.join(root, 'topologies'))).toBe('700');
    expect(await modeOf(path.join(root, 'topologies', 'secret.json'))).toBe('600');
    expect(await modeOf(path.join(root, 'topologies', 'nested', 'deep.json'))).toBe('600');
    expect(warnings.lines).toEqual([
      expect.stringMatching(/^made the state store private to its owner: .*store \(was 0755\), .* and 2 more$/),
    ]);

    await securePrivateTree(root, { what: 'state store', logger: warnings, repairRoot: true, recursive: true });
    expect(warnings.lines).toHaveLength(1);
  });

  it('leaves a configured root outside ARDEA_HOME as it is, warning once, but makes what is inside private', async () => {
    const root = path.join(base, 'shared');
    await openTree(root);
    const warnings = new Warnings();
    for (let i = 0; i < 2; i++)
      await securePrivateTree(root, { what: 'package directory', logger: warnings, repairRoot: false, recursive: true });
    expect(await modeOf(root)).toBe('755');
    expect(await modeOf(path.join(root, 'topologies', 'secret.json'))).toBe('600');
    expect(warnings.lines.filter((line) => line.startsWith('the configured package directory'))).toEqual([
      `the configured package directory ${root} can be entered by other users (mode 0755); ` +
        `Ardea keeps what it writes there private, but restrict the directory (chmod 700) unless it is shared on purpose`,
    ]);
  });

  it('does not follow symbolic links, and stops below the first level unless recursive', async () => {
    const root = path.join(base, 'work');
    await openTree(root);
    const outside = path.join(base, 'outside.txt');
    await writeFile(outside, 'not ours');
    await chmod(outside, 0o644);
    await symlink(outside, path.join(root, 'link'));
    await securePrivateTree(root, { what: 'working directory', logger: new Warnings(), repairRoot: true, recursive: false });
    expect(await modeOf(outside)).toBe('644');
    expect(await modeOf(path.join(root, 'topologies'))).toBe('700');
    expect(await modeOf(path.join(root, 'topologies', 'secret.json'))).toBe('644');
  });

  it('tells a directory under ARDEA_HOME from one elsewhere', () => {
    expect(isUnder('/home/u/.ardea/state/local', '/home/u/.ardea')).toBe(true);
    expect(isUnder('/home/u/.ardea', '/home/u/.ardea')).toBe(true);
    expect(isUnder('/home/u/.ardea-shared/state', '/home/u/.ardea')).toBe(false);
    expect(isUnder('/scratch/state', '/home/u/.ardea')).toBe(false);
  });
});
