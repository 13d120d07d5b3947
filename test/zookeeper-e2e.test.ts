import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createArdea } from '@ardea/core';
import { describeWithService } from '@ardea/core/testing';
import { ardea, CLEANUP_TIMEOUT_MS, E2E_WAIT_MS, freshHome, processesOf, removeHome, repoRoot } from './support.js';

const connectString = process.env.ZK_CONNECT ?? '127.0.0.1:2181';

/** Why no ZooKeeper answers on its port, or undefined when one does; the suite needs a real server. */
async function zookeeperUnreachable(): Promise<string | undefined> {
  const [host, port] = connectString.split(',')[0]!.split(':');
  return new Promise((resolve) => {
    const socket = net.connect({ host: host!, port: Number(port) });
    const done = (reason: string | undefined) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(1000, () => done(`nothing answers at ${connectString} within 1 s`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (error) => done(`nothing answers at ${connectString} (${error.message})`));
  });
}

await describeWithService(
  { name: 'ZooKeeper', probe: zookeeperUnreachable, startHint: 'bash scripts/zk-up.sh' },
  'word count on the local pool with the ZooKeeper state manager',
  () => {
    let home: string;
    let cluster: string;
    const rootPath = `/ardea-e2e-${randomUUID().slice(0, 8)}`;

    beforeAll(() => {
      home = freshHome('ardea-zk-e2e-');
      cluster = path.join(home, 'local-zookeeper');
      mkdirSync(cluster);
      writeFileSync(path.join(cluster, 'scheduler.yaml'), 'plugin: local\n');
      writeFileSync(path.join(cluster, 'statemgr.yaml'), `plugin: zookeeper\nconnectString: ${connectString}\nrootPath: ${rootPath}\n`);
    });

    afterAll(async () => {
      await removeHome(home, [cluster]);
    }, CLEANUP_TIMEOUT_MS);

    it('runs, drains without loss, and is killed without leftovers', async () => {
      const submit = await ardea(
        home,
        'submit',
        cluster,
        path.join(repoRoot, 'examples', 'word-count'),
        '--config-property',
        'topology.metricsIntervalMs=500',
        '--config-property',
        'sentence.rate=2000',
      );
      expect(submit.code, submit.stderr).toBe(0);
      const client = await createArdea({ cluster, env: { ...process.env, ARDEA_HOME: home } });
      try {
        expect(await client.list()).toEqual(['word-count']);
        expect((await client.state.get('topologyMaster', 'word-count'))?.controllerPort).toBeGreaterThan(0);
        await vi.waitFor(async () => expect((await client.metrics('word-count')).components.count?.executed).toBeGreaterThan(5000), {
          timeout: E2E_WAIT_MS,
          interval: 500,
        });
        await client.deactivate('word-count');
        let previous = '';
        await vi.waitFor(
          async () => {
            const { components: c } = await client.metrics('word-count');
            const now = JSON.stringify([c.sentence!.emitted, c.split!.executed, c.split!.emitted, c.count!.executed]);
            const stable = now === previous;
            previous = now;
            expect(stable).toBe(true);
            expect(c.count!.executed).toBe(c.split!.emitted);
            expect(c.split!.executed).toBe(c.sentence!.emitted);
          },
          { timeout: E2E_WAIT_MS, interval: 1200 },
        );
        await client.kill('word-count');
        expect(await client.list()).toEqual([]);
        for (const kind of ['topology', 'packingPlan', 'physicalPlan', 'executionState', 'topologyMaster', 'scheduler'] as const) {
          expect(await client.state.get(kind, 'word-count')).toBeUndefined();
        }
      } finally {
        await client.close();
      }
      expect(processesOf(home)).toEqual([]);
    }, 600_000);
  },
);
