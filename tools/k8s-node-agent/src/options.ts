import { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { NodeAgentOptions } from './agent.js';
import { KUBERNETES_BACKOFF } from './backoff.js';
import { AgentConfigError } from './errors.js';
import type { AgentLogger } from './logger.js';
import { parseQuantity } from './quantity.js';

export const USAGE = `usage: ardea-k8s-node-agent [flags]

Registers a Node with a Kubernetes API server and runs the pods bound to it as local processes
(command and args; images are ignored), each in its own mount namespace (needs root).

  --kubeconfig PATH          credentials of the node (default: $KUBECONFIG)
  --node-name NAME           the Node to register (default: ardea-node)
  --state-dir DIR            pod directories, logs (<dir>/pods/<ns>_<pod>_<uid>/<container>.log)
                             and process records (default: ~/.cache/ardea/node-agent/<node-name>)
  --cpu QUANTITY             node capacity (default: this machine's cpu count)
  --memory QUANTITY          node capacity (default: this machine's memory)
  --pods N                   node capacity (default: 110)
  --pod-cidr CIDR            loopback range of pod addresses (default: 127.0.0.0/16)
  --backoff-base-ms N        first CrashLoopBackOff delay, doubled per crash (default: 10000)
  --backoff-max-ms N         longest CrashLoopBackOff delay (default: 300000)
  --heartbeat-seconds N      node status and lease renewal interval (default: 10)
  --config-retry-ms N        retry interval for containers waiting on a Secret, ConfigMap or volume (default: 2000)
  --shutdown-grace-seconds N on agent shutdown, the longest a pod's grace period delays SIGKILL (default: 10)
  --pass-env NAME            also give pods this variable of the agent's environment (repeatable)
  --register-with-taints T   taints key=value:Effect,... the Node is created with (NodeRestriction
                             forbids a node to change its taints later)
  --help                     this text
`;

function positiveInteger(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new AgentConfigError(`--${flag} '${text}' is not a positive integer`);
  return value;
}

function quantity(flag: string, text: string | undefined, fallback: string): string {
  if (text === undefined) return fallback;
  try {
    if (parseQuantity(text) <= 0) throw new Error('not positive');
  } catch (error) {
    throw new AgentConfigError(`--${flag} '${text}' is not a positive Kubernetes quantity (examples: 4, 500m, 8Gi)`, { cause: error });
  }
  return text;
}

/** `key=value:Effect,key:Effect` as the kubelet's --register-with-taints takes it. */
export function parseTaints(text: string): { key: string; value?: string; effect: string }[] {
  return text
    .split(',')
    .filter((part) => part.trim() !== '')
    .map((part) => {
      const match = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(part.trim());
      if (!match)
        throw new AgentConfigError(
          `--register-with-taints '${part}' is not key=value:Effect (Effect: NoSchedule, PreferNoSchedule or NoExecute)`,
        );
      return { key: match[1], ...(match[2] ? { value: match[2] } : {}), effect: match[3] };
    });
}

/** The agent's options from its command line, or undefined for --help. Throws {@link AgentConfigError} naming the bad flag. */
export function parseAgentArguments(argv: readonly string[], env: NodeJS.ProcessEnv, logger: AgentLogger): NodeAgentOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        kubeconfig: { type: 'string' },
        'node-name': { type: 'string' },
        'state-dir': { type: 'string' },
        cpu: { type: 'string' },
        memory: { type: 'string' },
        pods: { type: 'string' },
        'pod-cidr': { type: 'string' },
        'backoff-base-ms': { type: 'string' },
        'backoff-max-ms': { type: 'string' },
        'heartbeat-seconds': { type: 'string' },
        'config-retry-ms': { type: 'string' },
        'shutdown-grace-seconds': { type: 'string' },
        'pass-env': { type: 'string', multiple: true },
        'register-with-taints': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new AgentConfigError(`${error instanceof Error ? error.message : String(error)}; see --help`, { cause: error });
  }
  const flags = parsed.values;
  if (flags.help) return undefined;
  const kubeconfigPath = flags.kubeconfig ?? env.KUBECONFIG;
  if (!kubeconfigPath) throw new AgentConfigError('no kubeconfig: pass --kubeconfig PATH (the node credentials) or set KUBECONFIG');
  if (!existsSync(kubeconfigPath)) throw new AgentConfigError(`--kubeconfig ${kubeconfigPath} does not exist`);
  const kubeConfig = new KubeConfig();
  try {
    kubeConfig.loadFromFile(kubeconfigPath);
  } catch (error) {
    throw new AgentConfigError(`cannot read kubeconfig ${kubeconfigPath}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  const nodeName = flags['node-name'] ?? 'ardea-node';
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(nodeName)) {
    throw new AgentConfigError(`--node-name '${nodeName}' is not a valid Node name (lower-case letters, digits, '-' and '.')`);
  }
  const baseMs = positiveInteger('backoff-base-ms', flags['backoff-base-ms'], KUBERNETES_BACKOFF.baseMs);
  const maxMs = positiveInteger('backoff-max-ms', flags['backoff-max-ms'], KUBERNETES_BACKOFF.maxMs);
  if (maxMs < baseMs) throw new AgentConfigError(`--backoff-max-ms ${maxMs} is below --backoff-base-ms ${baseMs}`);
  return {
    kubeConfig,
    nodeName,
    stateDirectory: path.resolve(flags['state-dir'] ?? path.join(os.homedir(), '.cache', 'ardea', 'node-agent', nodeName)),
    cpu: quantity('cpu', flags.cpu, String(os.availableParallelism())),
    memory: quantity('memory', flags.memory, `${Math.floor(os.totalmem() / 1024)}Ki`),
    pods: positiveInteger('pods', flags.pods, 110),
    podCidr: flags['pod-cidr'] ?? '127.0.0.0/16',
    // The kubelet forgets earlier crashes after a run twice as long as the longest delay.
    backoff: { baseMs, maxMs, resetAfterMs: 2 * maxMs },
    heartbeatMs: positiveInteger('heartbeat-seconds', flags['heartbeat-seconds'], 10) * 1000,
    configRetryMs: positiveInteger('config-retry-ms', flags['config-retry-ms'], 2000),
    shutdownGraceMs: positiveInteger('shutdown-grace-seconds', flags['shutdown-grace-seconds'], 10) * 1000,
    passEnv: flags['pass-env'] ?? [],
    taints: parseTaints(flags['register-with-taints'] ?? ''),
    logger,
  };
}
