/**
 * Errors the node agent raises on purpose. The agent is a test tool that `scripts/k8s-up.sh` builds on
 * its own (`tsc -b tools/k8s-node-agent`), so it does not depend on `@ardea/core` and its
 * `ArdeaError`; the rule is the same: say what failed, for which input, and what to do.
 */
export class NodeAgentError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** The agent's flags are invalid; the message names the flag. */
export class AgentConfigError extends NodeAgentError {}

/**
 * A container cannot be created yet: a Secret, ConfigMap or key its env names is missing, or a volume
 * cannot be set up. `reason` is the waiting reason the pod's status shows (Kubernetes'
 * `CreateContainerConfigError`, `ContainerCreating`...); the agent retries.
 */
export class ContainerConfigError extends NodeAgentError {
  constructor(
    readonly reason: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}
