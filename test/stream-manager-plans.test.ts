/**
 * One stream manager against a scripted topology master and a scripted peer, so the order in which
 * plans and data frames reach it is the test's, not the network's: frames that arrive before the
 * plan that explains them must wait for it, and a frame that can go nowhere must be counted.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  buildTopologyPackage,
  SilentLogger,
  StreamManager,
  type PackingPlan,
  type PhysicalPlan,
  type TopologyDefinition,
} from '@ardea/core';
import type { MetricsReport } from '../core/dist/runtime/control-messages.js';
import { acceptAuthenticated, connectAuthenticated, listen, type Link } from '../core/dist/runtime/link.js';
import { decodeDataFrame, Emitter, OutboundBatches, StreamTable } from '../core/dist/runtime/routing.js';
import { E2E_WAIT_MS, repoRoot } from './support.js';

const SECRET = 'stream-manager-plans-secret-0123';
const HOST = '127.0.0.1';
const logger = new SilentLogger();
const resources = { cpu: 1, ramBytes: 256 * 1024 * 1024, diskBytes: 0 };
// The sequence topology: ids (tasks 1, 2), relay (3, 4, and 7 once added), sink (5, 6). Container 1
// is the stream manager under test; container 2 is the scripted peer and hosts everything else.
const IDS = 1;
const RELAY_HERE = 3;
const RELAY_ADDED = 7;

let scratch: string;
let definition: TopologyDefinition;
let table: StreamTable;
let streamManager: StreamManager;
const servers: net.Server[] = [];
let masterLink: Link | undefined;
let dataPort = 0;
let peerPort = 0;
let peerLink: Link;
const heartbeats: MetricsReport[] = [];
const appliedVersions: number[] = [];
const arrivedAtPeer: string[] = [];

function server(onLink: (link: Link) => void): Promise<number> {
  const created = net.createServer();
  servers.push(created);
  acceptAuthenticated(created, { secret: SECRET, topologyId: definition.id, logger }, onLink);
  return listen(created, HOST);
}

function plan(version: number, relaysHere: readonly number[]): PhysicalPlan {
  const instance = (containerId: number, component: string, taskId: number, componentIndex: number) => ({
    instanceId: `container_${containerId}_${component}_${taskId}`,
    containerId,
    component,
    taskId,
    componentIndex,
  });
  return {
    topologyName: definition.name,
    topologyId: definition.id,
    version,
    state: 'RUNNING',
    streamManagers: [
      { id: 'stmgr-1', containerId: 1, host: HOST, dataPort },
      { id: 'stmgr-2', containerId: 2, host: HOST, dataPort: peerPort },
    ],
    instances: [
      instance(2, 'ids', 1, 0),
      instance(2, 'ids', 2, 1),
      ...relaysHere.map((taskId, index) => instance(1, 'relay', taskId, index)),
      instance(2, 'relay', 4, relaysHere.length),
      instance(2, 'sink', 5, 0),
      instance(2, 'sink', 6, 1),
    ],
    runtimeConfig: {},
  };
}

/** A data frame from the peer's spout task to `task`, carrying one id. */
function frameTo(task: number, id: string): Uint8Array {
  const batches = new OutboundBatches(IDS);
  const emitter = new Emitter('ids', batches, table, definition, () => {
    throw new Error('the sequence topology has no custom grouping');
  });
  emitter.setTasks(new Map([['relay', [task]]]));
  emitter.emit('default', [id]);
  return new Uint8Array(batches.take()[0]!);
}

function lastHeartbeat(): MetricsReport | undefined {
  return heartbeats[heartbeats.length - 1];
}

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'ardea-stmgr-plans-'));
  const logDir = path.join(scratch, 'ids');
  mkdirSync(logDir);
  const built = await buildTopologyPackage(path.join(repoRoot, 'test', 'topologies', 'sequence'), path.join(scratch, 'package'));
  definition = {
    ...built.definition,
    id: 'sequence-stmgr-plans',
    components: built.definition.components.map((c) => ({ ...c, config: { ...c.config, logDir } })),
  };
  table = new StreamTable(definition);
  const masterPort = await server((link) => {
    masterLink = link;
    link.on('control', (message) => {
      const typed = message as { type: string; dataPort?: number; version?: number };
      if (typed.type === 'register') dataPort = typed.dataPort!;
      else if (typed.type === 'counters' || typed.type === 'metrics') heartbeats.push(message as unknown as MetricsReport);
      else if (typed.type === 'plan-applied') appliedVersions.push(typed.version!);
    });
  });
  peerPort = await server((link) => {
    link.on('data', (frame) => decodeDataFrame(frame, table, (_entry, values) => arrivedAtPeer.push(String(values[0]))));
  });
  const packingPlan = (relaysHere: readonly number[]): PackingPlan => ({
    topologyId: definition.id,
    containers: [
      {
        id: 1,
        instances: relaysHere.map((taskId, index) => ({ component: 'relay', taskId, componentIndex: index, resources })),
        required: resources,
      },
    ],
  });
  streamManager = new StreamManager({
    definition,
    container: packingPlan([RELAY_HERE]).containers[0]!,
    secret: SECRET,
    bundleUrl: pathToFileURL(built.bundlePath).href,
    host: HOST,
    backpressure: { highWatermarkBytes: 1024 * 1024, lowWatermarkBytes: 512 * 1024 },
    metricsIntervalMs: 60_000,
    logger,
    logLevel: 'warn',
    locateTopologyMaster: async () => ({ host: HOST, port: masterPort }),
    readPackingPlan: async () => packingPlan([RELAY_HERE, RELAY_ADDED]),
  });
  await streamManager.start();
  await vi.waitFor(() => expect(dataPort).toBeGreaterThan(0), { timeout: E2E_WAIT_MS });
  peerLink = await connectAuthenticated({
    host: HOST,
    port: dataPort,
    secret: SECRET,
    identity: { role: 'peer', containerId: 2, topologyId: definition.id },
    logger,
  });
}, 300_000);

afterAll(async () => {
  peerLink?.socket.destroy();
  await streamManager?.stop();
  for (const created of servers) created.close();
  rmSync(scratch, { recursive: true, force: true });
}, 120_000);

/** One story: plan versions 1, 2, 3 in turn, each test going on from the version the one before applied. */
describe.sequential('a stream manager receiving frames ahead of its plans', { timeout: 300_000 }, () => {
  it('holds what an instance emits for a frame that came before any plan, and routes it by the first plan', async () => {
    peerLink.sendFrame(frameTo(RELAY_HERE, 'before-any-plan'));
    // The frame reached the instance (it is queued there, or executed) before the plan does.
    await vi.waitFor(
      () => {
        const relay = lastHeartbeat()?.instances[`container_1_relay_${RELAY_HERE}`];
        expect((relay?.pendingBytes ?? 0) + (relay?.executed ?? 0)).toBeGreaterThan(0);
      },
      { timeout: E2E_WAIT_MS, interval: 50 },
    );
    masterLink!.sendControl({ type: 'pplan', plan: plan(1, [RELAY_HERE]) });
    await vi.waitFor(() => expect(arrivedAtPeer).toEqual(['before-any-plan']), { timeout: E2E_WAIT_MS, interval: 50 });
  });

  it('keeps a frame for a task that a plan it has not seen yet adds here, and delivers it once that plan comes', async () => {
    peerLink.sendFrame(frameTo(RELAY_ADDED, 'for-the-added-instance'));
    peerLink.sendControl({ type: 'fence', containerId: 2, version: 1 });
    await vi.waitFor(() => expect(appliedVersions).toContain(1), { timeout: E2E_WAIT_MS, interval: 50 });
    masterLink!.sendControl({ type: 'pplan', plan: plan(2, [RELAY_HERE, RELAY_ADDED]) });
    await vi.waitFor(() => expect(arrivedAtPeer).toEqual(['before-any-plan', 'for-the-added-instance']), {
      timeout: E2E_WAIT_MS,
      interval: 50,
    });
    expect(lastHeartbeat()!.streamManager.droppedTuples).toBe(0);
  });

  it('counts a frame that arrives for an instance already removed and stopped as dropped', async () => {
    peerLink.sendControl({ type: 'fence', containerId: 2, version: 2 });
    masterLink!.sendControl({ type: 'pplan', plan: plan(3, [RELAY_ADDED]) });
    peerLink.sendControl({ type: 'fence', containerId: 2, version: 3 });
    await vi.waitFor(() => expect(appliedVersions).toContain(3), { timeout: E2E_WAIT_MS, interval: 50 });
    peerLink.sendFrame(frameTo(RELAY_HERE, 'after-its-fence'));
    await vi.waitFor(() => expect(lastHeartbeat()!.streamManager).toMatchObject({ droppedFrames: 1, droppedTuples: 1 }), {
      timeout: E2E_WAIT_MS,
      interval: 50,
    });
    expect(lastHeartbeat()!.instances[`container_1_relay_${RELAY_HERE}`]).toBeUndefined();
  });
});
