import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeSchedulerConformance, describeWithService } from '@ardea/core/testing';
import { LOOPBACK_YARN } from '@ardea/test-support/yarn';
import { afterAll, beforeAll } from 'vitest';
import { schedulerFor } from './test-support.js';

let stagingDirectory = '';

await describeWithService(LOOPBACK_YARN, 'the yarn pool on the loopback YARN', () => {
  beforeAll(async () => {
    stagingDirectory = await mkdtemp(path.join(os.tmpdir(), 'ardea-yarn-conformance-'));
  });

  afterAll(async () => {
    await rm(stagingDirectory, { recursive: true, force: true });
  });

  // Probes are processes the NodeManager starts on this machine: they write where the suite reads.
  describeSchedulerConformance('yarn', {
    create: async () => schedulerFor({ stagingDirectory }),
    recoversCrashedContainers: true,
    containerIdentity: 'ordinal',
    reportsHosts: true,
    servesContainerLogs: true,
    // Every service starts its own AM (a JVM) before its containers; a crashed probe comes back after
    // the AM's relaunch interval.
    timeoutMs: 90_000,
  });
});
