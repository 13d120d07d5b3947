/**
 * `@ardea/plugin-kubernetes`: the Kubernetes pool, in library mode (`plugin: kubernetes` in
 * scheduler.yaml). A topology is two StatefulSets — `<name>-manager` for container 0 and
 * `<name>-executors` for containers 1..N by pod ordinal — with a headless Service and a Secret
 * holding the executor's environment, all owned by the manager set. Scaling changes the executors'
 * replica count; restarting a container deletes its pod alone. `rbac/ardea-deployer.yaml` is the
 * Role it needs.
 * @module
 */
import { definePlugin, Scheduler } from '@ardea/core/plugin';
import { ContainerModule } from 'inversify';
import { baseDirectory, kubernetesSchedulerConfigSchema, localPath } from './kubernetes-config.js';
import { KubernetesScheduler } from './kubernetes-scheduler.js';
import { loadKubeConfig } from './kube-client.js';

export { KubernetesScheduler, type KubernetesSchedulerOptions } from './kubernetes-scheduler.js';
export { kubernetesSchedulerConfigSchema, type KubernetesSchedulerConfig } from './kubernetes-config.js';

export default definePlugin({
  name: 'kubernetes',
  kind: 'scheduler',
  configSchema: kubernetesSchedulerConfigSchema,
  createModule: (config, context) =>
    new ContainerModule(({ bind }) => {
      bind<Scheduler>(Scheduler)
        .toDynamicValue(() => {
          const kubeconfig = config.kubeconfig === undefined ? undefined : localPath(config.kubeconfig, baseDirectory(context));
          const loaded = loadKubeConfig({ kubeconfig, context: config.context });
          return new KubernetesScheduler(
            {
              config,
              kubeConfig: loaded.kubeConfig,
              endpoint: { server: loaded.server, credentials: loaded.credentials, cluster: context.cluster },
            },
            context.logger,
          );
        })
        .inSingletonScope();
    }),
});
