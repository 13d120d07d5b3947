/**
 * Every error Ardea raises on purpose is an {@link ArdeaError}. Each SPI area has its own subclass so
 * callers can branch on the area (`err instanceof SchedulerError`) and print one line for the user.
 *
 * `instanceof` is brand-based rather than prototype-based: a plugin may resolve a second copy of
 * `@ardea/core` (a linked checkout, a bundled plugin), and an error thrown by that copy must still be
 * recognised by this one.
 */
const ERROR_KINDS = Symbol.for('ardea.error.kinds');

export interface ArdeaErrorOptions {
  readonly cause?: unknown;
  /** Stable machine-readable code, e.g. `config.invalid`. Defaults to the class name. */
  readonly code?: string;
  /**
   * Lines for the user under the one-line message, when the message cannot hold what they need:
   * the stack of an exception thrown by their own code.
   */
  readonly detail?: string;
}

export class ArdeaError extends Error {
  readonly code: string;
  readonly detail?: string;

  constructor(message: string, options: ArdeaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? new.target.name;
    if (options.detail !== undefined) this.detail = options.detail;
    const kinds: string[] = [];
    for (let cls: unknown = new.target; typeof cls === 'function' && cls !== Error; cls = Object.getPrototypeOf(cls)) {
      kinds.push((cls as { name: string }).name);
    }
    Object.defineProperty(this, ERROR_KINDS, { value: kinds, enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const kinds = (value as { [ERROR_KINDS]?: unknown })[ERROR_KINDS];
    return Array.isArray(kinds) && kinds.includes(this.name);
  }
}

/** A cluster directory, a YAML file, a `--config-property` or a plugin's config section is invalid. */
export class ConfigError extends ArdeaError {}

/** A plugin could not be resolved, imported, validated or bound. */
export class PluginLoadError extends ArdeaError {}

/** A topology definition is malformed (unknown component, cycle, undeclared stream or field...). */
export class TopologyError extends ArdeaError {}

/**
 * `emit` refused a tuple: one of its values cannot be sent (a function, a class instance...), or its
 * encoding exceeds what one frame can carry. Nothing of the tuple was sent; the caller may catch this
 * and go on.
 */
export class TupleValueError extends TopologyError {}

/** A packing or repacking algorithm could not produce a plan that satisfies its constraints. */
export class PackingError extends ArdeaError {}

/** The state manager failed, or a state precondition (exists / absent / lock) did not hold. */
export class StateManagerError extends ArdeaError {}

/** A node that must be absent exists (e.g. submitting a topology whose name is taken). */
export class StateConflictError extends StateManagerError {}

/** The update lock of a topology is held by someone else and was not released within the timeout. */
export class LockTimeoutError extends StateManagerError {}

/** An uploader could not store or remove a topology package. */
export class UploaderError extends ArdeaError {}

/** A scheduler could not start, scale, restart or kill a topology's containers. */
export class SchedulerError extends ArdeaError {}

/** An instance of a component failed to start: its `open` or `prepare` threw, or its worker could not load the topology. */
export class InstanceStartError extends ArdeaError {}

/** A health policy, or one of its sensors, detectors, diagnosers or resolvers, failed. */
export class HealthPolicyError extends ArdeaError {}

/** Storing, loading or committing a checkpoint of an effectively-once topology failed. */
export class CheckpointError extends ArdeaError {}

/**
 * One line for the user. An {@link ArdeaError}'s message is complete by contract (it names what
 * failed, the input and what to do), so it stands alone; for other errors the first line of each
 * cause is appended where it adds information.
 */
export function describeError(error: unknown): string {
  if (error instanceof ArdeaError) return error.message;
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const message = (current instanceof Error ? current.message : String(current)).split('\n')[0]!.trim();
    if (message && !parts.some((part) => part.includes(message))) parts.push(message);
    if (current instanceof ArdeaError) break;
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ');
}
