import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TopologyStaging } from './staging.js';
import type { ContainerView } from './yarn-rest.js';

let directory = '';
let stagingDirectory = '';

beforeEach(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'ardea-yarn-staging-'));
  stagingDirectory = path.join(directory, 'staging');
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function mode(file: string): Promise<number> {
  return (await stat(file)).mode & 0o7777;
}

function staging(serviceName = 'word-count'): TopologyStaging {
  return new TopologyStaging(stagingDirectory, 'alice', serviceName);
}

/** The service's containers as the Services API lists them: instance name → YARN container id. */
function running(instances: Record<string, string>): ContainerView[] {
  return Object.entries(instances).map(([instance, id]) => ({ id, state: 'READY', component_instance_name: instance }));
}

describe('the staged files of a topology', () => {
  it('writes them under <staging>/<user>/<service>, readable by their owner only, in a root every user can add to', async () => {
    const topology = staging();
    await topology.write('#!/bin/sh\nexec true\n', "SECRET='s3cret'\n");

    const serviceDirectory = path.join(stagingDirectory, 'alice', 'word-count');
    expect(topology.files).toEqual({
      directory: serviceDirectory,
      launchScript: path.join(serviceDirectory, 'ardea-launch.sh'),
      environmentFile: path.join(serviceDirectory, 'ardea-executor.env'),
    });
    expect(await mode(stagingDirectory)).toBe(0o1777);
    expect(await mode(path.join(stagingDirectory, 'alice'))).toBe(0o700);
    expect(await mode(serviceDirectory)).toBe(0o700);
    expect(await mode(topology.files.launchScript)).toBe(0o600);
    expect(await mode(topology.files.environmentFile)).toBe(0o600);
    expect(await readFile(topology.files.launchScript, 'utf8')).toBe('#!/bin/sh\nexec true\n');
    expect(await readFile(topology.files.environmentFile, 'utf8')).toBe("SECRET='s3cret'\n");
    // Written through temporary files and renamed: none may be left behind for a NodeManager to find.
    expect((await readdir(serviceDirectory)).sort()).toEqual(['ardea-executor.env', 'ardea-launch.sh']);
  });

  it('replaces files written before, tightens a user directory, and leaves the mode of a root that already existed', async () => {
    await mkdir(path.join(stagingDirectory, 'alice'), { recursive: true });
    await chmod(stagingDirectory, 0o755);
    await chmod(path.join(stagingDirectory, 'alice'), 0o755);
    const topology = staging();
    await topology.write('old script', 'OLD=1\n');
    await topology.write('new script', 'NEW=1\n');

    // Its owner chose who may use it; only a root the plugin creates is opened to every user.
    expect(await mode(stagingDirectory)).toBe(0o755);
    expect(await mode(path.join(stagingDirectory, 'alice'))).toBe(0o700);
    expect(await readFile(topology.files.launchScript, 'utf8')).toBe('new script');
    expect(await readFile(topology.files.environmentFile, 'utf8')).toBe('NEW=1\n');
  });

  it('removes the topology directory and nothing of other topologies; removing twice is no error', async () => {
    const gone = staging('word-count');
    const kept = staging('other');
    await gone.write('script', 'A=1\n');
    await kept.write('script', 'B=1\n');
    await gone.observe(running({ 'manager-0': 'c0' }));

    await gone.remove();
    await expect(stat(gone.files.directory)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await gone.known('manager-0')).toBe(false);
    expect(await readFile(kept.files.launchScript, 'utf8')).toBe('script');
    await expect(gone.remove()).resolves.toBeUndefined();
  });
});

describe('the instance ledger', () => {
  it("counts a container YARN replaced on its own as a restart, but not the replacement of one 'restart' killed", async () => {
    const topology = staging();
    expect(await topology.observe(running({ 'manager-0': 'c0', 'executor-0': 'c1' }))).toEqual(
      new Map([
        ['manager-0', 0],
        ['executor-0', 0],
      ]),
    );
    expect((await topology.observe(running({ 'manager-0': 'c0', 'executor-0': 'c1' }))).get('executor-0')).toBe(0);

    expect((await topology.observe(running({ 'manager-0': 'c0', 'executor-0': 'c2' }))).get('executor-0')).toBe(1);

    await topology.killingOnRequest('executor-0', 'c2');
    // Until YARN replaces it, the killed container is still the instance's: nothing to count yet.
    expect((await topology.observe(running({ 'executor-0': 'c2' }))).get('executor-0')).toBe(1);
    expect((await topology.observe(running({ 'executor-0': 'c3' }))).get('executor-0')).toBe(1);
    // The request covered one replacement only.
    expect((await topology.observe(running({ 'executor-0': 'c4' }))).get('executor-0')).toBe(2);
    expect((await topology.observe([])).get('manager-0')).toBe(0);
  });

  it('does not let a request to kill a container the instance no longer runs hide a restart', async () => {
    const topology = staging();
    await topology.observe(running({ 'executor-0': 'c1' }));
    await topology.observe(running({ 'executor-0': 'c2' }));
    await topology.killingOnRequest('executor-0', 'c1');
    expect((await topology.observe(running({ 'executor-0': 'c3' }))).get('executor-0')).toBe(2);
  });

  it('ignores containers without an instance name or id', async () => {
    const topology = staging();
    const counts = await topology.observe([{ id: 'c1' }, { id: '', component_instance_name: 'executor-0' }]);
    expect(counts).toEqual(new Map());
    expect(await topology.known('executor-0')).toBe(false);
  });

  it('is shared by every process that drives the topology: counts and kill requests persist in the staging directory', async () => {
    await staging().observe(running({ 'executor-0': 'c1', 'executor-1': 'c2' }));
    await staging().observe(running({ 'executor-0': 'c5', 'executor-1': 'c2' }));
    await staging().killingOnRequest('executor-1', 'c2');

    expect(await staging().observe(running({ 'executor-0': 'c5', 'executor-1': 'c6' }))).toEqual(
      new Map([
        ['executor-0', 1],
        ['executor-1', 0],
      ]),
    );
    expect(await mode(path.join(staging().files.directory, 'instances.json'))).toBe(0o600);
    // Another topology's instances of the same names are its own.
    expect(await staging('other').known('executor-0')).toBe(false);
  });

  it('knows an instance once it has been seen, and forgets one a scale-down removed, so a new one of that name starts at 0', async () => {
    const topology = staging();
    expect(await topology.known('executor-1')).toBe(false);
    await topology.observe(running({ 'executor-0': 'c1', 'executor-1': 'c2' }));
    await topology.observe(running({ 'executor-0': 'c3', 'executor-1': 'c4' }));
    expect(await topology.known('executor-1')).toBe(true);

    await topology.forget(['executor-1']);
    expect(await topology.known('executor-1')).toBe(false);
    expect(await topology.known('executor-0')).toBe(true);
    expect(await topology.observe(running({ 'executor-0': 'c3', 'executor-1': 'c9' }))).toEqual(
      new Map([
        ['executor-0', 1],
        ['executor-1', 0],
      ]),
    );
  });

  it('starts afresh from a ledger that is not JSON rather than failing every status call', async () => {
    const topology = staging();
    await topology.write('script', 'A=1\n');
    await writeFile(path.join(topology.files.directory, 'instances.json'), '{"executor-0": {"cont');
    expect(await topology.observe(running({ 'executor-0': 'c1' }))).toEqual(new Map([['executor-0', 0]]));
  });
});
