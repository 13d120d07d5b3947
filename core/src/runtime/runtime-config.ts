import { ConfigError } from '../errors/index.js';
import { runtimeConfigMismatch, type ComponentDefinition, type TopologyDefinition } from '../model/topology.js';
import { SHUFFLE_WEIGHTS_KEY } from '../model/topology.js';
import { RUNTIME_SETTING_KEYS } from './runtime-settings.js';

/** One change asked of `ardea update --runtime-config` (component `*`: every component it fits). */
export interface RuntimeConfigChange {
  readonly component: string;
  readonly key: string;
  readonly value: unknown;
}

/** A change the topology master accepted, for one component. */
export interface AcceptedChange {
  readonly component: string;
  readonly key: string;
  readonly value: unknown;
}

/** Whether the key is set by the engine (a health policy's shuffle weights), not by users. */
export function isEngineKey(key: string): boolean {
  return key.startsWith('__');
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'number' && !Number.isFinite(value) ? 'non-finite number' : typeof value;
}

/** Why the engine refuses `value` for an engine key, or undefined. */
function engineMismatch(key: string, value: unknown): string | undefined {
  if (key !== SHUFFLE_WEIGHTS_KEY) return `'${key}' is reserved: keys starting with '__' belong to the engine, and it knows no '${key}'`;
  // Shuffle weights per target task id; none (null) restores plain round robin.
  if (value === null) return undefined;
  const valid =
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.entries(value as Record<string, unknown>).every(
      ([task, weight]) => /^\d+$/.test(task) && typeof weight === 'number' && Number.isFinite(weight) && weight >= 0,
    );
  return valid ? undefined : `${SHUFFLE_WEIGHTS_KEY} takes an object of task id → weight ≥ 0`;
}

/**
 * What `component` accepts for `key`, checked against `value`: the spec it declares for the key,
 * or — when it declares none at all — the JSON type of the value its config already has.
 * Returns why the value is refused (naming what is accepted), or undefined when it fits.
 */
export function runtimeConfigRefusal(
  topology: TopologyDefinition,
  component: ComponentDefinition,
  key: string,
  value: unknown,
): string | undefined {
  if (isEngineKey(key)) return engineMismatch(key, value);
  if ((RUNTIME_SETTING_KEYS as readonly string[]).includes(key)) return `'${key}' is an engine setting, fixed at submit (topology.${key})`;
  const declared = component.runtimeConfigSpec;
  if (declared) {
    const spec = declared[key];
    if (!spec) return `it does not declare '${key}' settable at run time; settable: ${Object.keys(declared).sort().join(', ')}`;
    const mismatch = runtimeConfigMismatch(spec, value);
    return mismatch ? `${key} takes ${mismatch}` : undefined;
  }
  const current = key in component.config ? component.config[key] : topology.config[key];
  if (current === undefined) {
    const known = [...new Set([...Object.keys(topology.config), ...Object.keys(component.config)])].filter(
      (k) => !(RUNTIME_SETTING_KEYS as readonly string[]).includes(k) && !isEngineKey(k),
    );
    return (
      `its config has no '${key}' and it declares no runtime config keys, so only keys its config has can change ` +
      `(${known.sort().join(', ') || 'none'}); declare others with .runtimeConfig('${key}', {...}) in the topology`
    );
  }
  return jsonType(value) === jsonType(current)
    ? undefined
    : `${key} takes a ${jsonType(current)} like its current value ${JSON.stringify(current)}`;
}

/**
 * Checks every change before anything is stored: all are accepted, or a {@link ConfigError} names
 * the first refused one (component, key, value and what is accepted). `*` applies a change to every
 * component it fits; it is refused if it fits none, or if a component that has the key refuses the value.
 */
export function acceptRuntimeConfig(topology: TopologyDefinition, changes: readonly RuntimeConfigChange[]): AcceptedChange[] {
  const accepted: AcceptedChange[] = [];
  for (const change of changes) {
    const shown = `${change.component}:${change.key}=${JSON.stringify(change.value)}`;
    if (change.component === '*') {
      const verdicts = topology.components.map((c) => ({
        component: c,
        refusal: runtimeConfigRefusal(topology, c, change.key, change.value),
      }));
      const fitting = verdicts.filter((v) => v.refusal === undefined);
      // A component that knows the key but not this value refuses the whole change.
      const wrongValue = verdicts.find((v) => v.refusal !== undefined && knowsKey(topology, v.component, change.key));
      if (wrongValue) throw refused(shown, wrongValue.component.name, wrongValue.refusal!);
      if (fitting.length === 0)
        throw new ConfigError(
          `runtime config ${shown} refused: no component of '${topology.name}' has a runtime config key '${change.key}'`,
          { code: 'runtime-config.refused' },
        );
      for (const v of fitting) accepted.push({ component: v.component.name, key: change.key, value: change.value });
      continue;
    }
    const component = topology.components.find((c) => c.name === change.component);
    if (!component) {
      throw new ConfigError(
        `runtime config ${shown} refused: topology '${topology.name}' has no component ` +
          `'${change.component}' (components: ${topology.components.map((c) => c.name).join(', ')})`,
        {
          code: 'runtime-config.refused',
        },
      );
    }
    const refusal = runtimeConfigRefusal(topology, component, change.key, change.value);
    if (refusal) throw refused(shown, component.name, refusal);
    accepted.push({ component: component.name, key: change.key, value: change.value });
  }
  return accepted;
}

function knowsKey(topology: TopologyDefinition, component: ComponentDefinition, key: string): boolean {
  if (isEngineKey(key)) return true;
  return component.runtimeConfigSpec ? key in component.runtimeConfigSpec : key in component.config || key in topology.config;
}

function refused(shown: string, component: string, why: string): ConfigError {
  return new ConfigError(`runtime config ${shown} refused by component '${component}': ${why}; nothing was changed`, {
    code: 'runtime-config.refused',
  });
}
