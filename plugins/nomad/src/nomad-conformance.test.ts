import { describeSchedulerConformance } from '@ardea/core/testing';
import { afterAll, beforeAll } from 'vitest';
import { schedulerFor, startTestNomad, type TestNomad } from './test-support.js';

let nomad: TestNomad | undefined;

beforeAll(async () => {
  nomad = await startTestNomad();
});

afterAll(async () => {
  await nomad?.stop();
});

// The emulator runs raw_exec tasks as local processes of this machine: the probes write where the suite reads.
describeSchedulerConformance('nomad (on the Nomad emulator)', {
  create: async () => schedulerFor(nomad!),
  recoversCrashedContainers: true,
  containerIdentity: 'ordinal',
  reportsHosts: true,
  servesContainerLogs: true,
});
