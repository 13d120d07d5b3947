import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterConfig, Launcher, SchedulerError, StateManager } from '@ardea/core/plugin';
import { InMemoryStateManager, loadClusterConfig, loadPluginForTest } from '@ardea/core/testing';
import { describe, expect, it } from 'vitest';
import localPlugin, { LocalServiceLauncher } from './index.js';

describe('the local pool launcher', () => {
  it(
    'is bound by the plugin, and starts the core supervisor as a process of its own, ' +
      'reporting why it exited before its containers ran',
    async () => {
      const plugin = await loadPluginForTest(localPlugin, {}, { cluster: 'local' });
      try {
        const home = plugin.context.home;
        plugin.container
          .bind<ClusterConfig>(ClusterConfig)
          .toConstantValue(loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home } }));
        const state = new InMemoryStateManager();
        await state.start();
        plugin.container.bind<StateManager>(StateManager).toConstantValue(state);
        const launcher = plugin.get<Launcher>(Launcher);
        expect(launcher).toBeInstanceOf(LocalServiceLauncher);

        // The cluster has no state for 'ghost': the supervisor, reading the cluster config it was handed, gives up.
        const log = join(home, 'logs', 'local', 'ghost-supervisor.log');
        const launched = launcher.launch({
          topology: {
            name: 'ghost',
            id: 'ghost-1',
            components: [{ name: 's', kind: 'spout', parallelism: 1, config: {}, outputs: [], inputs: [] }],
            config: {},
          },
          packingPlan: { topologyId: 'ghost-1', containers: [] },
          packageUri: 'file:///nonexistent/topology.tgz',
          executor: { argv: ['ardea-executor'], env: {} },
        });
        await expect(launched).rejects.toBeInstanceOf(SchedulerError);
        await expect(launched).rejects.toThrow(
          `the supervisor of 'ghost' exited (code 1) before its containers ran: ` +
            `ardea-supervisor: topology 'ghost' has no complete state on cluster local (log: ${log})`,
        );
        expect((await stat(log)).mode & 0o777).toBe(0o600);
      } finally {
        await plugin.close();
      }
    },
  );
});
