/**
 * A running word count's container logs and hosts through the API (`Ardea.containerLog`,
 * `Ardea.status`): the CLI's client reaches the local pool's supervisor over its scheduler service,
 * which reads the log file the container's executor writes.
 */
import { hostname } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createArdea, type Ardea } from '@ardea/core';
import { ardea, CLEANUP_TIMEOUT_MS, configProperties, E2E_WAIT_MS, freshHome, removeHome, repoRoot, withContainerLogs } from './support.js';

const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
const NAME = 'word-count';
let home: string;
let client: Ardea | undefined;

beforeEach(() => {
  home = freshHome('ardea-container-log-');
});

afterEach(async () => {
  try {
    await client?.close();
    client = undefined;
  } finally {
    await removeHome(home);
  }
}, CLEANUP_TIMEOUT_MS);

describe('container logs of a topology on the local pool', () => {
  it('are read by byte ranges through the API, followed across a restart, with the host in the status', async () => {
    const submit = await ardea(
      home,
      'submit',
      'local',
      WORD_COUNT,
      ...configProperties('topology.metricsIntervalMs=500', 'sentence.rate=200', 'topology.healthManager=false'),
    );
    expect(submit.code, submit.stderr).toBe(0);
    client = await createArdea({ cluster: 'local', env: { ...process.env, ARDEA_HOME: home } });
    const api = client;
    await withContainerLogs(home, async () => {
      const status = await api.status(NAME);
      expect(status.map((container) => container.containerId)).toEqual([0, 1, 2]);
      for (const container of status) expect(container.host, `host of container ${container.containerId}`).toBe(hostname());

      const logFile = path.join(home, 'topologies', 'local', NAME, 'logs', 'container-1.log');
      const tail = await api.containerLog(NAME, 1, { maxBytes: 64 * 1024 });
      expect(tail).toMatchObject({ containerId: 1, source: logFile });
      // The supervisor heads each run of the container with this line.
      expect(tail.text).toMatch(/^\[ardea-local [^\]]+\] starting container 1: /m);
      expect(tail.end - tail.start).toBe(Buffer.byteLength(tail.text));

      const head = await api.containerLog(NAME, 1, { fromOffset: 0, maxBytes: 16 });
      expect(head).toMatchObject({ start: 0, end: 16, text: expect.stringMatching(/^\[ardea-local \d{3}$/) });

      // Restarting the container appends its next run to the same log: a follower finds it past its offset.
      await api.restart(NAME, 1);
      await vi.waitFor(
        async () => {
          const next = await api.containerLog(NAME, 1, { fromOffset: tail.end, maxBytes: 1024 * 1024 });
          expect(next.start).toBe(tail.end);
          expect(next.text).toMatch(/^\[ardea-local [^\]]+\] starting container 1: /m);
        },
        { timeout: E2E_WAIT_MS, interval: 250 },
      );
      expect((await api.status(NAME)).find((container) => container.containerId === 1)?.host).toBe(hostname());

      await expect(api.containerLog(NAME, 9, { maxBytes: 100 })).rejects.toThrow(/no container 9; its containers are 0, 1, 2/);
    });
  }, 300_000);
});
