import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { SchedulerError } from '@ardea/core/plugin';

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeConfigChoice {
  /** A kubeconfig file, resolved (scheduler.kubeconfig). */
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
}

export interface LoadedKubeConfig {
  readonly kubeConfig: KubeConfig;
  /** The API server's URL. */
  readonly server: string;
  /** Where the credentials come from, for messages. */
  readonly credentials: string;
}

/**
 * Where the API credentials come from. Inside a pod (container 0's health manager) the pod's
 * service account; elsewhere the configured kubeconfig file, or else the one kubectl would use
 * ($KUBECONFIG, then ~/.kube/config). `context` picks a context of the file.
 */
export function loadKubeConfig(
  choice: KubeConfigChoice,
  environment: NodeJS.ProcessEnv = process.env,
  /** Where the pod's service-account files are mounted, below the standard path (tests only). */
  serviceAccountPrefix = '',
): LoadedKubeConfig {
  const kubeConfig = new KubeConfig();
  let credentials: string;
  try {
    if (environment.KUBERNETES_SERVICE_HOST && existsSync(`${serviceAccountPrefix}${SERVICE_ACCOUNT_TOKEN}`)) {
      kubeConfig.loadFromCluster(serviceAccountPrefix);
      credentials = "the pod's service account";
    } else if (choice.kubeconfig !== undefined) {
      if (!existsSync(choice.kubeconfig)) {
        throw new SchedulerError(`the kubeconfig ${choice.kubeconfig} (scheduler.kubeconfig) does not exist`, {
          code: 'kubernetes.kubeconfig',
        });
      }
      kubeConfig.loadFromFile(choice.kubeconfig);
      credentials = `the kubeconfig ${choice.kubeconfig}`;
    } else {
      kubeConfig.loadFromDefault();
      credentials = environment.KUBECONFIG
        ? `the kubeconfig ${environment.KUBECONFIG} ($KUBECONFIG)`
        : 'the default kubeconfig (~/.kube/config)';
    }
  } catch (error) {
    if (error instanceof SchedulerError) throw error;
    throw new SchedulerError(`cannot load the Kubernetes credentials: ${(error as Error).message}`, {
      cause: error,
      code: 'kubernetes.kubeconfig',
    });
  }
  if (choice.context !== undefined && !credentials.startsWith('the pod')) {
    if (!kubeConfig.getContextObject(choice.context)) {
      throw new SchedulerError(
        `${credentials} has no context '${choice.context}' (scheduler.context); it has ${
          kubeConfig
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        }`,
        { code: 'kubernetes.kubeconfig' },
      );
    }
    kubeConfig.setCurrentContext(choice.context);
    credentials = `${credentials} (context ${choice.context})`;
  }
  const server = kubeConfig.getCurrentCluster()?.server;
  if (!server) throw new SchedulerError(`${credentials} names no API server for its current context`, { code: 'kubernetes.kubeconfig' });
  return { kubeConfig, server, credentials };
}
