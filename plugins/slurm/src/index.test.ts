import os from 'node:os';
import { Scheduler, SilentLogger, Uploader, type PluginContext } from '@ardea/core/plugin';
import { assertPluginDescriptor, loadPluginForTest } from '@ardea/core/testing';
import { describe, expect, it, vi } from 'vitest';
import slurmPlugin, { sftpUploader, SftpUploader, SlurmScheduler, slurmSchedulerConfigSchema, sshSettings } from './index.js';

const context: PluginContext = { cluster: 'hpc', home: '/home/me/.ardea', clusterDirectory: '/etc/ardea/hpc', logger: new SilentLogger() };

describe('@ardea/plugin-slurm descriptors', () => {
  it('default-exports the slurm scheduler and names the sftp uploader', () => {
    assertPluginDescriptor(slurmPlugin, '@ardea/plugin-slurm');
    assertPluginDescriptor(sftpUploader, '@ardea/plugin-slurm#sftpUploader');
    expect([slurmPlugin.name, slurmPlugin.kind, sftpUploader.name, sftpUploader.kind]).toEqual(['slurm', 'scheduler', 'sftp', 'uploader']);
  });

  it('fills defaults, and resolves relative paths from the cluster directory', () => {
    const config = slurmSchedulerConfigSchema.parse({
      host: 'login.hpc',
      workDirectory: '/shared/ardea',
      privateKeyPath: 'keys/id_ed25519',
    });
    expect(config).toMatchObject({
      port: 22,
      strictHostKeyChecking: true,
      jobNamePrefix: 'ardea-',
      sbatchOptions: [],
      container0: { cpus: 1, memoryMb: 1024 },
    });
    const settings = sshSettings(config, '/etc/ardea/hpc');
    expect(settings).toMatchObject({
      user: os.userInfo().username,
      privateKeyPath: '/etc/ardea/hpc/keys/id_ed25519',
      knownHostsPath: `${os.homedir()}/.ssh/known_hosts`,
    });
  });

  it('rejects unknown keys and values Slurm would misread', () => {
    const base = { host: 'login.hpc', workDirectory: '/shared/ardea' };
    expect(slurmSchedulerConfigSchema.safeParse({ ...base, partiton: 'x' }).success).toBe(false);
    expect(slurmSchedulerConfigSchema.safeParse({ ...base, workDirectory: 'relative/dir' }).success).toBe(false);
    expect(slurmSchedulerConfigSchema.safeParse({ ...base, timeLimit: 'a day' }).success).toBe(false);
    expect(slurmSchedulerConfigSchema.safeParse({ ...base, partition: 'a b' }).success).toBe(false);
    expect(slurmSchedulerConfigSchema.safeParse({ ...base, timeLimit: '2-00:00:00' }).success).toBe(true);
    expect(sftpUploader.configSchema.safeParse({ host: 'login.hpc' }).success).toBe(false);
  });

  it('binds a library-mode scheduler and an uploader without connecting, each closed when its container closes', async () => {
    const closed: string[] = [];
    vi.spyOn(SlurmScheduler.prototype, 'close').mockImplementation(async () => void closed.push('scheduler'));
    vi.spyOn(SftpUploader.prototype, 'close').mockImplementation(async () => void closed.push('uploader'));
    const options = { home: context.home, clusterDirectory: context.clusterDirectory };
    const scheduling = await loadPluginForTest(slurmPlugin, { host: 'login.hpc', workDirectory: '/shared/ardea' }, options);
    const uploading = await loadPluginForTest(sftpUploader, { host: 'login.hpc', directory: '/shared/packages' }, options);
    const scheduler = scheduling.get<Scheduler>(Scheduler);
    expect(scheduler).toBeInstanceOf(SlurmScheduler);
    expect(scheduler.mode).toBe('library');
    expect(uploading.get<Uploader>(Uploader)).toBeInstanceOf(SftpUploader);
    await scheduling.close();
    await uploading.close();
    expect(closed).toEqual(['scheduler', 'uploader']);
    vi.restoreAllMocks();
  });
});
