import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  applyPackingHints,
  buildTopologyPackage,
  DEFAULT_PACKING_SETTINGS,
  LocalFsStateManager,
  type BackpressureSettings,
  RoundRobinPacking,
  SilentLogger,
  StreamManager,
  TopologyDefinition,
  TopologyMaster,
} from '@ardea/core';

export interface InProcessEngine {
  readonly master: TopologyMaster;
  stop(): Promise<void>;
}

/**
 * Runs a topology package without a pool: its topology master and one stream manager per container
 * of its round-robin packing plan, all in this process (instances are worker threads), talking over
 * 127.0.0.1 as separate containers do. `adapt` sets the id and config of the built definition.
 */
export async function startInProcessEngine(
  packageDirectory: string,
  scratch: string,
  adapt: (definition: TopologyDefinition) => TopologyDefinition,
  options: { backpressure?: BackpressureSettings } = {},
): Promise<InProcessEngine> {
  const built = await buildTopologyPackage(packageDirectory, path.join(scratch, 'package'));
  const definition = adapt(built.definition);
  const plan = new RoundRobinPacking().pack(definition, applyPackingHints(DEFAULT_PACKING_SETTINGS, definition.packing));
  const logger = new SilentLogger();
  const state = new LocalFsStateManager({ rootPath: path.join(scratch, 'state') }, logger);
  const streamManagers: StreamManager[] = [];
  let master: TopologyMaster | undefined;
  const stop = async () => {
    await Promise.all(streamManagers.map((s) => s.stop()));
    await master?.stop();
    await state.close();
  };
  try {
    await state.start();
    const secret = 'in-process-engine-secret-0123456789';
    await state.set('topology', definition.name, definition);
    await state.set('packingPlan', definition.name, plan);
    master = new TopologyMaster({
      definition,
      packingPlan: plan,
      secret,
      host: '127.0.0.1',
      initialState: 'RUNNING',
      state,
      logger,
      metricsSamples: 100,
      metricsIntervalMs: 200,
      metricsWindowMs: 1000,
    });
    await master.start();
    const { serverPort } = master.addresses;
    for (const container of plan.containers) {
      streamManagers.push(
        new StreamManager({
          definition,
          container,
          secret,
          bundleUrl: pathToFileURL(built.bundlePath).href,
          host: '127.0.0.1',
          backpressure: options.backpressure ?? { highWatermarkBytes: 1024 * 1024, lowWatermarkBytes: 512 * 1024 },
          metricsIntervalMs: 200,
          logger,
          logLevel: 'warn',
          locateTopologyMaster: async () => ({ host: '127.0.0.1', port: serverPort }),
          readPackingPlan: () => state.get('packingPlan', definition.name),
        }),
      );
    }
    await Promise.all(streamManagers.map((s) => s.start()));
  } catch (error) {
    await stop();
    throw error;
  }
  return { master, stop };
}
