#!/usr/bin/env node
/**
 * The scheduler service of one topology on a service-mode pool (the local pool): it owns the
 * topology's containers through the pool's Scheduler, serves the scheduler HTTP API, and publishes
 * where it listens. It exits after a kill, or on SIGTERM after stopping its containers.
 */
import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clusterConfigOfProcess } from '../config/cluster-config.js';
import { createArdeaContainer } from '../app/ardea-container.js';
import { closeArdeaContainer } from '../di/container-lifecycle.js';
import { ArdeaError, describeError } from '../errors/index.js';
import { StreamLogger } from '../logging/index.js';
import { Scheduler } from '../spi/scheduler.js';
import { StateManager } from '../spi/state-manager.js';
import { executorSpec } from '../scheduler/executor-spec.js';
import { SchedulerService } from '../scheduler/scheduler-service.js';

async function main(): Promise<void> {
  // Whatever this process creates (logs, state, files of pool plugins) is its owner's alone.
  process.umask(0o077);
  const { values } = parseArgs({
    options: { cluster: { type: 'string' }, topology: { type: 'string' }, host: { type: 'string' } },
    strict: true,
  });
  const usage =
    'usage: ardea-supervisor [--cluster <cluster>] --topology <name>, ' +
    'with the cluster config in ARDEA_CLUSTER_CONFIG when --cluster is not given';
  if (!values.topology) throw new ArdeaError(usage);
  const config = clusterConfigOfProcess({ cluster: values.cluster, usage });
  const logger = new StreamLogger({ level: 'info', format: 'json' }, { topology: values.topology, role: 'supervisor' });
  const container = await createArdeaContainer(config, { logger });
  const state = container.get<StateManager>(StateManager);
  const scheduler = container.get<Scheduler>(Scheduler);
  await state.start();
  const name = values.topology;
  const [topology, packingPlan, execution] = await Promise.all([
    state.get('topology', name),
    state.get('packingPlan', name),
    state.get('executionState', name),
  ]);
  if (!topology || !packingPlan || !execution)
    throw new ArdeaError(`topology '${name}' has no complete state on cluster ${config.cluster}`);

  let exiting = false;
  const exit = async (code: number, reason: string) => {
    if (exiting) return;
    exiting = true;
    logger.info('supervisor exiting', { reason });
    const deadline = setTimeout(() => process.exit(code || 1), 15_000);
    deadline.unref();
    await service.close().catch(() => undefined);
    // Closes the scheduler (which stops the containers it owns) and the state manager.
    await closeArdeaContainer(container).catch((error: unknown) =>
      logger.warn('closing the scheduler or the state manager failed', { error: describeError(error) }),
    );
    process.exit(code);
  };
  const executor = executorSpec(config, name);
  const service = new SchedulerService({
    scheduler,
    topologyName: name,
    secret: execution.secret,
    executor,
    logger,
    onKilled: () => void exit(0, 'killed'),
  });
  process.once('SIGTERM', () => void exit(0, 'SIGTERM'));
  process.once('SIGINT', () => void exit(0, 'SIGINT'));

  await scheduler.schedule({ topology, packingPlan, packageUri: execution.packageUri, executor });
  const endpoint = await service.listen(values.host ?? '127.0.0.1');
  await state.set(
    'scheduler',
    name,
    { topologyName: name, mode: 'service', endpoint, jobLinks: await scheduler.jobLinks(name) },
    { ephemeral: true },
  );
  logger.info('supervising', { endpoint, containers: packingPlan.containers.length + 1 });

  // A topology whose state disappears was killed by someone who could not reach this service.
  state.watch('topology', name, (value) => {
    if (value === undefined) void scheduler.kill(name).then(() => exit(0, 'topology state removed'));
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    process.stderr.write(`ardea-supervisor: ${describeError(error)}\n`);
    process.exit(1);
  });
}
