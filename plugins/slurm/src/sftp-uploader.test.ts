import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SilentLogger, UploaderError } from '@ardea/core/plugin';
import { describeUploaderConformance, describeWithService } from '@ardea/core/testing';
import type { SshSettings } from './slurm-config.js';
import { SftpUploader } from './sftp-uploader.js';
import { LOOPBACK_SLURM, foreignKnownHostsLine, testSshSettings, unusedPort } from './test-support.js';

const logger = new SilentLogger();
let scratch: string | undefined;
const scratchDirectory = async () => (scratch ??= await mkdtemp(path.join(os.tmpdir(), 'ardea-sftp-test-')));
const packages = async () => path.join(await scratchDirectory(), 'shared', 'packages');
const open: SftpUploader[] = [];

async function uploader(ssh: Partial<SshSettings> = {}): Promise<SftpUploader> {
  const created = new SftpUploader({ ssh: testSshSettings(ssh), directory: await packages() }, logger);
  open.push(created);
  return created;
}

await describeWithService(LOOPBACK_SLURM, 'SftpUploader through the loopback sshd', () => {
  afterAll(async () => {
    await Promise.all(open.splice(0).map((created) => created.close()));
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  describeUploaderConformance('uploader conformance: sftp', {
    create: () => uploader(),
    // Executors read the package where the URI points, on the shared filesystem: here, this machine's.
    read: async (uri) => {
      try {
        return await readFile(fileURLToPath(uri));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
  });

  describe('layout and errors', () => {
    let packagePath: string;
    beforeAll(async () => {
      packagePath = path.join(await scratchDirectory(), 'word-count.tgz');
      await writeFile(packagePath, 'package bytes');
    });

    it('stores <directory>/<topology>/<id>/<file> and leaves an empty upload directory behind undo', async () => {
      const current = await uploader();
      const uri = await current.upload({ topologyName: 'word-count', topologyId: 'word-count-1a2b', packagePath });
      const stored = path.join(await packages(), 'word-count', 'word-count-1a2b', 'word-count.tgz');
      expect(uri).toBe(pathToFileURL(stored).href);
      expect(await readFile(stored, 'utf8')).toBe('package bytes');
      // The jobs run as the SSH user: nobody else needs to read the topology's code.
      const modes = await Promise.all(
        [stored, path.dirname(stored), path.dirname(path.dirname(stored))].map(async (file) =>
          ((await stat(file)).mode & 0o777).toString(8),
        ),
      );
      expect(modes).toEqual(['600', '700', '700']);
      await current.undo(uri);
      expect(await readdir(await packages())).toEqual([]);
    });

    it('refuses to remove what is not one of its packages', async () => {
      const current = await uploader();
      await expect(current.undo(pathToFileURL(path.join(await scratchDirectory(), 'word-count.tgz')).href)).rejects.toThrow(
        /refusing to remove .* not a package under the upload directory/,
      );
      await expect(current.undo('https://example.org/word-count.tgz')).rejects.toBeInstanceOf(UploaderError);
    });

    /** The upload must fail with one UploaderError matching `message`, and nothing may be stored. */
    async function failsCleanly(current: SftpUploader, message: RegExp, code: string): Promise<void> {
      const failure = current.upload({ topologyName: 'failing', topologyId: 'failing-1', packagePath });
      await expect(failure).rejects.toBeInstanceOf(UploaderError);
      await expect(failure).rejects.toThrow(message);
      await expect(failure).rejects.toMatchObject({ code });
      expect(await readdir(await packages()).catch(() => [])).not.toContain('failing');
    }

    it('refuses a host whose key does not match known_hosts', async () => {
      const knownHosts = path.join(await scratchDirectory(), 'spoofed_known_hosts');
      await writeFile(knownHosts, foreignKnownHostsLine());
      await failsCleanly(
        await uploader({ knownHostsPath: knownHosts }),
        /^cannot upload topology package .*word-count\.tgz to root@127\.0\.0\.1:\d+:.*: the host key of 127\.0\.0\.1:\d+ .* does not match/,
        'ssh.host-key',
      );
    });

    it('reports a login the host refuses', async () => {
      await failsCleanly(
        await uploader({ user: 'no-such-ardea-user' }),
        /refused SSH login as 'no-such-ardea-user'.*check uploader\.user/,
        'ssh.auth',
      );
    });

    it('reports a host that does not answer', async () => {
      await failsCleanly(
        await uploader({ port: await unusedPort() }),
        /cannot reach the login node at 127\.0\.0\.1:\d+ \(ECONNREFUSED\); check uploader\.host and uploader\.port/,
        'ssh.unreachable',
      );
    });
  });
});
