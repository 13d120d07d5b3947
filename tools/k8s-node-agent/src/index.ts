/**
 * The kubelet stand-in of Ardea's Kubernetes tests: registers a Node with a real control plane and
 * runs the pods bound to it as local processes. `ardea-k8s-node-agent` runs it; tests embed it.
 */
export { HOST_IP, NodeAgent, type NodeAgentOptions } from './agent.js';
export { KUBERNETES_BACKOFF, nextBackoff, type BackoffPolicy } from './backoff.js';
export { containerCommandLine, resolveEnvironment, type ObjectSource } from './env.js';
export { AgentConfigError, ContainerConfigError, NodeAgentError } from './errors.js';
export { expandReferences } from './expand.js';
export { SILENT_LOGGER, streamLogger, type AgentLogger } from './logger.js';
export { parseAgentArguments, USAGE } from './options.js';
export { buildPodStatus, podPhase, type ContainerRecord } from './status.js';
