import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { ConfigProperty } from '../config/config-property.js';
import { ConfigError, describeError, StateConflictError, TopologyError } from '../errors/index.js';
import { validateHealthSettings } from '../healthmgr/builtin-policies.js';
import { componentBounds, healthModeOf, operatorSettingsOf } from '../healthmgr/settings.js';
import { checkPackingPlan, type PackingPlan } from '../model/packing-plan.js';
import type { ExecutionState, SchedulerLocation } from '../model/runtime-state.js';
import { validateTopology, type TopologyDefinition } from '../model/topology.js';
import { applyPackingHints, selectPackingAlgorithm } from '../packing/index.js';
import { displayedPackageUri, sha256Of } from '../runtime/package-fetch.js';
import { runtimeSettingsOf } from '../runtime/runtime-settings.js';
import { executorSpec } from '../scheduler/executor-spec.js';
import { planForPool } from '../scheduler/pool-kit/container-identity.js';
import { buildTopologyPackage } from '../scheduler/topology-package.js';
import { PackingAlgorithm } from '../spi/packing.js';
import { Launcher, Scheduler } from '../spi/scheduler.js';
import { Uploader } from '../spi/uploader.js';
import { killTopology } from './control.js';
import type { Deployment } from './deployment.js';

const ARDEA_CORE_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export interface SubmitOptions {
  /** A topology package directory, or a .tgz of one. */
  readonly packagePath: string;
  /** Run under this name instead of the one the topology declares. */
  readonly name?: string;
  /**
   * Topology properties: `<component>.parallelism=<n>`, `<component>.<key>=<value>` (component
   * config) and `topology.<key>=<value>` (topology config).
   */
  readonly properties?: readonly ConfigProperty[];
  readonly deployDeactivated?: boolean;
  /** Pack and stop: nothing is uploaded, written or started. */
  readonly dryRun?: boolean;
  /** How long to wait for every container to run. */
  readonly timeoutMs?: number;
  readonly onProgress?: (message: string) => void;
}

export interface SubmitResult {
  readonly definition: TopologyDefinition;
  readonly packingPlan: PackingPlan;
  readonly scheduler?: SchedulerLocation;
}

/** `Ardea.submit`, documented there: every step up to a running topology, each undone if a later one fails. */
export async function submitTopology(deployment: Deployment, options: SubmitOptions): Promise<SubmitResult> {
  const progress = options.onProgress ?? (() => undefined);
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'ardea-submit-'));
  try {
    progress(`building topology package ${options.packagePath}`);
    const built = await buildTopologyPackage(options.packagePath, scratch, { onProgress: progress });
    const definition = applyTopologyProperties(built.definition, options.name, options.properties ?? []);
    runtimeSettingsOf(definition);
    validateHealthSettings(deployment.config);
    // A bad health-manager mode or autoscale bound fails the submit, not container 0.
    healthModeOf(deployment.config, definition);
    componentBounds(definition, operatorSettingsOf(deployment.config));
    const settings = applyPackingHints(deployment.config.packing.settings, definition.packing);
    const algorithm = selectPackingAlgorithm(
      deployment.container.getAll<PackingAlgorithm>(PackingAlgorithm),
      deployment.config.packing.algorithm,
    );
    const scheduler = deployment.container.get<Scheduler>(Scheduler);
    const packingPlan = planForPool(scheduler, undefined, algorithm.pack(definition, settings));
    checkPackingPlan(packingPlan);
    progress(
      `packed ${definition.components.reduce((n, c) => n + c.parallelism, 0)} instances ` +
        `into ${packingPlan.containers.length} container(s) with ${algorithm.name}`,
    );
    if (options.dryRun) return { definition, packingPlan };
    if (await deployment.state.get('topology', definition.name)) {
      throw new StateConflictError(
        `topology '${definition.name}' is already running on cluster ${deployment.config.cluster}; kill it first or submit with --name`,
      );
    }
    const uploader = deployment.container.get<Uploader>(Uploader);
    // With externals this is an archive of the bundle and their node_modules; executors unpack it once.
    const packageSha256 = await sha256Of(built.uploadPath);
    const packageUri = await uploader.upload({ topologyName: definition.name, topologyId: definition.id, packagePath: built.uploadPath });
    progress(
      `uploaded package to ${displayedPackageUri(packageUri)}` +
        (built.externals.length > 0 ? ` (with externals ${built.externals.join(', ')})` : ''),
    );
    const execution: ExecutionState = {
      topologyName: definition.name,
      topologyId: definition.id,
      cluster: deployment.config.cluster,
      submittedBy: os.userInfo().username,
      submittedAt: Date.now(),
      ardeaVersion: ARDEA_CORE_VERSION,
      packageUri,
      packageSha256,
      schedulerPlugin: deployment.config.scheduler.plugin,
      schedulerMode: scheduler.mode,
      secret: randomBytes(24).toString('hex'),
      initialState: options.deployDeactivated ? 'PAUSED' : 'RUNNING',
    };
    try {
      await deployment.state.transaction([
        { op: 'create', kind: 'topology', topology: definition.name, value: definition },
        { op: 'create', kind: 'packingPlan', topology: definition.name, value: packingPlan },
        { op: 'create', kind: 'executionState', topology: definition.name, value: execution },
      ]);
    } catch (error) {
      await uploader.undo(packageUri).catch(() => undefined);
      throw error;
    }
    let launched = false;
    try {
      progress(`launching on ${deployment.config.scheduler.plugin} (${scheduler.mode} mode)`);
      const location = await deployment.container
        .get<Launcher>(Launcher)
        .launch({ topology: definition, packingPlan, packageUri, executor: executorSpec(deployment.config, definition.name) });
      launched = true;
      await deployment.waitUntilRunning(definition, packingPlan, options.timeoutMs ?? 60_000, progress);
      return { definition, packingPlan, scheduler: location };
    } catch (error) {
      progress(`submit failed, cleaning up: ${describeError(error)}`);
      const stopContainers = launched || scheduler.mode === 'service';
      await killTopology(deployment, definition.name, undefined, { stopContainers }).catch((cleanup: unknown) =>
        deployment.logger.warn('cleanup after a failed submit failed', { error: describeError(cleanup) }),
      );
      throw error;
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Applies `<component>.parallelism=n`, `<component>.<key>=v` and `topology.<key>=v` to a definition,
 * renames it if asked, gives it a fresh submission id, and validates the result.
 */
export function applyTopologyProperties(
  definition: TopologyDefinition,
  name: string | undefined,
  properties: readonly ConfigProperty[],
): TopologyDefinition {
  let components = definition.components.map((c) => ({ ...c, config: { ...c.config } }));
  const config: Record<string, unknown> = { ...definition.config };
  for (const property of properties) {
    const [head, ...rest] = property.key.split('.');
    const key = rest.join('.');
    if (!head || !key)
      throw new ConfigError(`--config-property ${property.key}: expected <component>.<key>=<value> or topology.<key>=<value>`);
    if (head === 'topology') {
      config[key] = property.value;
      continue;
    }
    const component = components.find((c) => c.name === head);
    if (!component) {
      throw new ConfigError(
        `--config-property ${property.key}: topology '${definition.name}' has no component '${head}' ` +
          `(components: ${components.map((c) => c.name).join(', ')}; topology-wide keys start with topology.)`,
      );
    }
    if (key === 'parallelism') {
      if (typeof property.value !== 'number' || !Number.isInteger(property.value) || property.value < 1) {
        throw new ConfigError(
          `--config-property ${property.key}: parallelism must be a whole number of at least 1, got ${JSON.stringify(property.value)}`,
        );
      }
      components = components.map((c) => (c.name === head ? { ...c, parallelism: property.value as number } : c));
    } else {
      component.config[key] = property.value;
    }
  }
  const topologyName = name ?? definition.name;
  try {
    return validateTopology({
      ...definition,
      name: topologyName,
      id: `${topologyName}-${randomBytes(4).toString('hex')}`,
      components,
      config,
    });
  } catch (error) {
    throw error instanceof TopologyError ? error : new TopologyError(describeError(error), { cause: error });
  }
}
