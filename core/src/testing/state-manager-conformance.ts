import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { LockTimeoutError, StateConflictError } from '../errors/index.js';
import { GiB, MiB } from '../model/resources.js';
import {
  STATE_KINDS,
  TOPOLOGY_REMOVAL_ORDER,
  type StateKind,
  type StateManager,
  type StateOperation,
  type StateRecords,
  type WriteOptions,
} from '../spi/state-manager.js';

export interface StateManagerConformanceFactory {
  /**
   * A new client. The suite calls `start()` on it itself, so it may be returned started or not.
   * Clients made by one factory may share a store: every test uses topology names of its own.
   */
  create(): Promise<StateManager>;
  /**
   * A second, independent client of the same store as the clients `create` makes (another process,
   * another session). Without it the tests that need two clients (ephemeral nodes outliving their
   * owner's client, locks, races between clients) are not registered.
   */
  createPeer?(): Promise<StateManager>;
  /** Runs once after the whole suite, after every client has been closed. */
  cleanup?(): Promise<void>;
  /**
   * Upper bound on how long the suite waits for something asynchronous to become visible: a watch
   * notification, the removal of a closed client's ephemeral node, a released lock. Defaults to 5000 ms.
   * Passing tests only wait as long as the implementation needs.
   */
  readonly eventTimeoutMs?: number;
}

type Sample = { readonly [K in StateKind]: (topology: string, variant: number) => StateRecords[K] };

/** Valid records of every kind, differing by `variant`, with enough nesting and text to catch lossy encodings. */
const SAMPLES: Sample = {
  topology: (topology, variant) => ({
    name: topology,
    id: `${topology}-${variant}`,
    components: [
      {
        name: 'words',
        kind: 'spout',
        parallelism: 1 + (variant % 4),
        config: { note: 'h\u00e9ron \u2713 "quoted" \\ slash', nested: { list: [1, 'two', null, true, 2.5] } },
        outputs: [{ id: 'default', fields: ['word'] }],
        inputs: [],
      },
      {
        name: 'count',
        kind: 'bolt',
        parallelism: 2,
        resources: { cpu: 0.5, ramBytes: 256 * MiB },
        config: {},
        outputs: [],
        inputs: [{ component: 'words', stream: 'default', grouping: { type: 'fields', fields: ['word'] } }],
      },
    ],
    config: { 'topology.variant': variant, 'topology.debug': variant % 2 === 0 },
    packing: { containers: 2 },
  }),
  packingPlan: (topology, variant) => ({
    topologyId: `${topology}-${variant}`,
    containers: [
      {
        id: 1,
        instances: [{ component: 'words', taskId: 1, componentIndex: 0, resources: { cpu: 1, ramBytes: 512 * MiB, diskBytes: GiB } }],
        required: { cpu: 2, ramBytes: 1024 * MiB + variant, diskBytes: 2 * GiB },
      },
    ],
  }),
  physicalPlan: (topology, variant) => ({
    topologyName: topology,
    topologyId: `${topology}-${variant}`,
    version: variant + 1,
    state: variant % 2 === 0 ? 'RUNNING' : 'PAUSED',
    streamManagers: [{ id: 'stmgr-1', containerId: 1, host: 'host-a', dataPort: 6000 + variant }],
    instances: [{ instanceId: 'container_1_words_1', containerId: 1, component: 'words', taskId: 1, componentIndex: 0 }],
    runtimeConfig: { '*': { variant }, words: { 'rate.limit': 100 } },
  }),
  executionState: (topology, variant) => ({
    topologyName: topology,
    topologyId: `${topology}-${variant}`,
    cluster: 'conformance',
    submittedBy: 'tester',
    submittedAt: 1_700_000_000_000 + variant,
    ardeaVersion: '0.1.0',
    packageUri: `file:///packages/${topology}/${variant}/topology.tgz`,
    schedulerPlugin: 'local',
    schedulerMode: 'library',
    secret: `secret-of-${topology}-${variant}-0123456789`,
    initialState: variant % 2 === 0 ? 'RUNNING' : 'PAUSED',
  }),
  topologyMaster: (topology, variant) => ({
    topologyName: topology,
    topologyId: `${topology}-${variant}`,
    host: 'host-a',
    serverPort: 7000 + variant,
    controllerPort: 7100 + variant,
  }),
  scheduler: (topology, variant) => ({
    topologyName: topology,
    mode: 'service',
    endpoint: `http://host-a:${8000 + variant}`,
    jobLinks: [`http://pool/jobs/${topology}`],
  }),
  metricsCache: (topology, variant) => ({
    topologyName: topology,
    topologyId: `${topology}-${variant}`,
    host: 'host-b',
    port: 9000 + variant,
  }),
  checkpoints: (topology, variant) => ({
    checkpoints: [
      { checkpointId: `ckpt-${variant}`, packingPlanTopologyId: `${topology}-${variant}`, takenAt: 1_700_000_000_000 + variant },
      { checkpointId: `ckpt-${variant - 1}`, packingPlanTopologyId: `${topology}-${variant}`, takenAt: 1_699_999_999_000 },
    ],
  }),
  healthLog: (_topology, variant) => ({
    rounds: [
      {
        policy: 'dynamic-resource-provisioning',
        round: variant,
        at: 1_700_000_000_000 + variant,
        windowMs: 60_000,
        symptoms: [{ type: 'backpressure', component: 'count', instances: ['container_1_count_2'], details: { msPerSec: 400 + variant } }],
        diagnoses: [{ type: 'under-provisioned', component: 'count', instances: ['container_1_count_2'] }],
        actions: [],
        blacklisted: [],
      },
    ],
  }),
  metricsTotals: (topology, variant) => ({
    topologyId: `${topology}-${variant}`,
    containers: { '1': { incarnation: `run-${variant}`, restarts: variant, streamManagerOffsets: { cpuUserUs: 1000 * variant } } },
    instanceOffsets: { container_1_count_2: { emitted: 10 * variant, restarts: variant } },
    retired: { container_2_count_3: { component: 'count', taskId: 3, counts: { executed: 7 + variant } } },
    retiredDrops: { frames: 0, tuples: 0 },
  }),
};

/** A valid record of `kind` for `topology`; different `variant`s give different records. */
export function sampleStateRecord<K extends StateKind>(kind: K, topology: string, variant = 0): StateRecords[K] {
  return (SAMPLES[kind] as (topology: string, variant: number) => StateRecords[K])(topology, variant);
}

interface Recorder<K extends StateKind> {
  readonly calls: Array<StateRecords[K] | undefined>;
  readonly listener: (value: StateRecords[K] | undefined) => void;
}

function recorder<K extends StateKind>(): Recorder<K> {
  const calls: Array<StateRecords[K] | undefined> = [];
  return { calls, listener: (value) => void calls.push(value) };
}

/**
 * Registers vitest tests checking that a {@link StateManager} honours every clause of its contract.
 * Call it at the top level of a test file (or inside a `describe`).
 *
 * Watch tests cannot know when an implementation has finished registering a watch (the SPI returns the
 * watch synchronously), so they first write probe values until the watch reports one, and only then
 * make the change under test.
 */
export function describeStateManagerConformance(name: string, factory: StateManagerConformanceFactory): void {
  const timeout = factory.eventTimeoutMs ?? 5000;
  const waitOptions = { timeout, interval: 10 };
  const runId = Math.random().toString(36).slice(2, 7);
  let counter = 0;
  const clients: StateManager[] = [];
  const usedTopologies: string[] = [];
  let janitor: StateManager | undefined;

  const open = async (): Promise<StateManager> => {
    const client = await factory.create();
    clients.push(client);
    await client.start();
    return client;
  };
  const openPeer = async (): Promise<StateManager> => {
    const client = await factory.createPeer!();
    clients.push(client);
    await client.start();
    return client;
  };
  /** A topology name no other test (or earlier run against the same store) uses. */
  const topologyName = (suffix = 'topo'): string => {
    const topology = `cf${runId}${(counter++).toString(36)}-${suffix}`;
    usedTopologies.push(topology);
    return topology;
  };
  const sample = sampleStateRecord;

  /** Writes probe values until `recorders` have each seen one, proving the watches are registered. */
  const primeWatches = async <K extends StateKind>(
    writer: StateManager,
    kind: K,
    topology: string,
    recorders: ReadonlyArray<Recorder<K>>,
    options?: WriteOptions,
  ): Promise<void> => {
    let probe = 1000;
    await vi.waitFor(async () => {
      if (recorders.every((r) => r.calls.length > 0)) return;
      await writer.set(kind, topology, sample(kind, topology, probe++), options);
      throw new Error(`watch on ${kind}/${topology} has not reported any of ${probe - 1000} probe writes`);
    }, waitOptions);
  };

  const lastCallEquals = async <K extends StateKind>(rec: Recorder<K>, expected: StateRecords[K] | undefined): Promise<void> => {
    await vi.waitFor(() => {
      expect(rec.calls.length).toBeGreaterThan(0);
      expect(rec.calls[rec.calls.length - 1]).toEqual(expected);
    }, waitOptions);
  };

  describe(name, () => {
    afterEach(async () => {
      const closing = clients.splice(0);
      for (const client of closing) await client.close();
      const topologies = usedTopologies.splice(0);
      if (topologies.length === 0) return;
      janitor ??= await factory.create();
      await janitor.start();
      await janitor.transaction(
        topologies.flatMap((topology) => TOPOLOGY_REMOVAL_ORDER.map((kind): StateOperation => ({ op: 'delete', kind, topology }))),
      );
    });

    afterAll(async () => {
      await janitor?.close();
      await factory.cleanup?.();
    });

    describe('lifecycle', () => {
      it('start and close are idempotent', async () => {
        const sm = await open();
        await sm.start();
        const topology = topologyName();
        await sm.set('topology', topology, sample('topology', topology));
        expect(await sm.get('topology', topology)).toEqual(sample('topology', topology));
        await sm.close();
        await sm.close();
      });
    });

    describe('reads and writes', () => {
      it('resolves a missing node of every kind to undefined', async () => {
        const sm = await open();
        const topology = topologyName();
        for (const kind of STATE_KINDS) expect(await sm.get(kind, topology)).toBeUndefined();
      });

      it('round-trips a record of every kind through set and get', async () => {
        const sm = await open();
        const topology = topologyName();
        for (const kind of STATE_KINDS) await sm.set(kind, topology, sample(kind, topology, 1));
        for (const kind of STATE_KINDS) expect(await sm.get(kind, topology)).toEqual(sample(kind, topology, 1));
      });

      it('set replaces an existing node', async () => {
        const sm = await open();
        const topology = topologyName();
        for (const kind of STATE_KINDS) {
          await sm.set(kind, topology, sample(kind, topology, 1));
          await sm.set(kind, topology, sample(kind, topology, 2));
          expect(await sm.get(kind, topology)).toEqual(sample(kind, topology, 2));
        }
      });

      it('keeps the records of different topologies and kinds apart', async () => {
        const sm = await open();
        const first = topologyName('first');
        const second = topologyName('second');
        await sm.set('executionState', first, sample('executionState', first, 1));
        await sm.set('executionState', second, sample('executionState', second, 2));
        expect(await sm.get('executionState', first)).toEqual(sample('executionState', first, 1));
        expect(await sm.get('executionState', second)).toEqual(sample('executionState', second, 2));
        expect(await sm.get('topology', first)).toBeUndefined();
      });

      it('create writes an absent node', async () => {
        const sm = await open();
        const topology = topologyName();
        for (const kind of STATE_KINDS) await sm.create(kind, topology, sample(kind, topology, 3));
        for (const kind of STATE_KINDS) expect(await sm.get(kind, topology)).toEqual(sample(kind, topology, 3));
      });

      it('create of an existing node rejects with a StateConflictError naming the node and keeps the old value', async () => {
        const sm = await open();
        const topology = topologyName();
        await sm.create('topology', topology, sample('topology', topology, 1));
        const failure = sm.create('topology', topology, sample('topology', topology, 2));
        await expect(failure).rejects.toBeInstanceOf(StateConflictError);
        await expect(failure).rejects.toThrow(topology);
        expect(await sm.get('topology', topology)).toEqual(sample('topology', topology, 1));
      });

      it('create conflicts with a node written by set', async () => {
        const sm = await open();
        const topology = topologyName();
        await sm.set('physicalPlan', topology, sample('physicalPlan', topology, 1));
        await expect(sm.create('physicalPlan', topology, sample('physicalPlan', topology, 2))).rejects.toBeInstanceOf(StateConflictError);
      });

      it('lets exactly one of several concurrent creates of a node win', async () => {
        const sm = await open();
        const topology = topologyName();
        const attempts = [1, 2, 3, 4, 5].map((variant) =>
          sm.create('executionState', topology, sample('executionState', topology, variant)),
        );
        const results = await Promise.allSettled(attempts);
        const winners = results.flatMap((result, i) => (result.status === 'fulfilled' ? [i + 1] : []));
        expect(winners).toHaveLength(1);
        for (const result of results) {
          if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(StateConflictError);
        }
        expect(await sm.get('executionState', topology)).toEqual(sample('executionState', topology, winners[0]));
      });

      it('delete removes a node, and deleting a missing node resolves', async () => {
        const sm = await open();
        const topology = topologyName();
        await sm.set('packingPlan', topology, sample('packingPlan', topology));
        await sm.delete('packingPlan', topology);
        expect(await sm.get('packingPlan', topology)).toBeUndefined();
        await sm.delete('packingPlan', topology);
        await sm.delete('checkpoints', topologyName('never-written'));
      });

      it('create succeeds again after a delete', async () => {
        const sm = await open();
        const topology = topologyName();
        await sm.create('topology', topology, sample('topology', topology, 1));
        await sm.delete('topology', topology);
        await sm.create('topology', topology, sample('topology', topology, 2));
        expect(await sm.get('topology', topology)).toEqual(sample('topology', topology, 2));
      });

      it('never lets a reader see a torn write', async () => {
        const sm = await open();
        const topology = topologyName();
        const values = [sample('physicalPlan', topology, 1), sample('physicalPlan', topology, 2)];
        const expected = values.map(canonicalJson);
        await sm.set('physicalPlan', topology, values[0]!);
        let writing = true;
        const writer = (async () => {
          try {
            for (let i = 0; i < 20; i++) await sm.set('physicalPlan', topology, values[i % 2]!);
          } finally {
            writing = false;
          }
        })();
        let reads = 0;
        while (writing || reads === 0) {
          const read = await sm.get('physicalPlan', topology);
          expect(expected).toContain(canonicalJson(read));
          reads++;
        }
        await writer;
      });
    });

    describe('list', () => {
      it('names the topologies that have a node of the kind, sorted', async () => {
        const sm = await open();
        const [charlie, alpha, bravo, delta] = ['charlie', 'alpha', 'bravo', 'delta'].map((suffix) => topologyName(suffix));
        const ours = (names: string[]) => names.filter((n) => [alpha, bravo, charlie, delta].includes(n));
        for (const topology of [charlie!, alpha!, bravo!]) await sm.set('executionState', topology, sample('executionState', topology));
        await sm.set('topology', delta!, sample('topology', delta!));

        const listed = await sm.list('executionState');
        expect(ours(listed)).toEqual([alpha, bravo, charlie].sort());
        expect(ours(await sm.list('topology'))).toEqual([delta]);

        await sm.delete('executionState', bravo!);
        expect(ours(await sm.list('executionState'))).toEqual([alpha, charlie].sort());
        expect(ours(await sm.list('checkpoints'))).toEqual([]);
      });

      it('returns names sorted for every kind', async () => {
        const sm = await open();
        const names = ['zulu', 'mike', 'alpha'].map((suffix) => topologyName(suffix));
        for (const kind of STATE_KINDS) {
          for (const topology of names) await sm.set(kind, topology, sample(kind, topology));
          const listed = (await sm.list(kind)).filter((n) => names.includes(n));
          expect(listed).toEqual([...names].sort());
        }
      });
    });

    describe('transaction', () => {
      it('applies every operation', async () => {
        const sm = await open();
        const topology = topologyName();
        const gone = topologyName('gone');
        await sm.set('scheduler', gone, sample('scheduler', gone));
        await sm.transaction([
          { op: 'create', kind: 'topology', topology, value: sample('topology', topology) },
          { op: 'set', kind: 'packingPlan', topology, value: sample('packingPlan', topology) },
          { op: 'create', kind: 'executionState', topology, value: sample('executionState', topology) },
          { op: 'delete', kind: 'scheduler', topology: gone },
        ]);
        expect(await sm.get('topology', topology)).toEqual(sample('topology', topology));
        expect(await sm.get('packingPlan', topology)).toEqual(sample('packingPlan', topology));
        expect(await sm.get('executionState', topology)).toEqual(sample('executionState', topology));
        expect(await sm.get('scheduler', gone)).toBeUndefined();
      });

      it('applies nothing when a create conflicts, and rejects with StateConflictError', async () => {
        const sm = await open();
        const topology = topologyName();
        const other = topologyName('other');
        await sm.set('executionState', topology, sample('executionState', topology, 1));
        await sm.set('scheduler', other, sample('scheduler', other, 1));
        await sm.set('packingPlan', topology, sample('packingPlan', topology, 1));

        const failure = sm.transaction([
          { op: 'create', kind: 'topology', topology, value: sample('topology', topology, 2) },
          { op: 'set', kind: 'packingPlan', topology, value: sample('packingPlan', topology, 2) },
          { op: 'delete', kind: 'scheduler', topology: other },
          { op: 'create', kind: 'executionState', topology, value: sample('executionState', topology, 2) },
          { op: 'set', kind: 'physicalPlan', topology, value: sample('physicalPlan', topology, 2) },
        ]);
        await expect(failure).rejects.toBeInstanceOf(StateConflictError);
        await expect(failure).rejects.toThrow(topology);

        expect(await sm.get('topology', topology)).toBeUndefined();
        expect(await sm.get('packingPlan', topology)).toEqual(sample('packingPlan', topology, 1));
        expect(await sm.get('scheduler', other)).toEqual(sample('scheduler', other, 1));
        expect(await sm.get('executionState', topology)).toEqual(sample('executionState', topology, 1));
        expect(await sm.get('physicalPlan', topology)).toBeUndefined();
      });

      it('treats a delete of a missing node as no error', async () => {
        const sm = await open();
        const topology = topologyName();
        await sm.set('topology', topology, sample('topology', topology));
        await sm.transaction(TOPOLOGY_REMOVAL_ORDER.map((kind): StateOperation => ({ op: 'delete', kind, topology })));
        for (const kind of STATE_KINDS) expect(await sm.get(kind, topology)).toBeUndefined();
      });

      it('applies operations in order', async () => {
        const sm = await open();
        const topology = topologyName();
        await sm.set('topology', topology, sample('topology', topology, 1));
        await sm.transaction([
          { op: 'delete', kind: 'topology', topology },
          { op: 'create', kind: 'topology', topology, value: sample('topology', topology, 2) },
          { op: 'set', kind: 'checkpoints', topology, value: sample('checkpoints', topology, 1) },
          { op: 'set', kind: 'checkpoints', topology, value: sample('checkpoints', topology, 2) },
        ]);
        expect(await sm.get('topology', topology)).toEqual(sample('topology', topology, 2));
        expect(await sm.get('checkpoints', topology)).toEqual(sample('checkpoints', topology, 2));
      });

      it('fails as a whole when it creates the same node twice', async () => {
        const sm = await open();
        const topology = topologyName();
        await expect(
          sm.transaction([
            { op: 'set', kind: 'packingPlan', topology, value: sample('packingPlan', topology) },
            { op: 'create', kind: 'topology', topology, value: sample('topology', topology, 1) },
            { op: 'create', kind: 'topology', topology, value: sample('topology', topology, 2) },
          ]),
        ).rejects.toBeInstanceOf(StateConflictError);
        expect(await sm.get('topology', topology)).toBeUndefined();
        expect(await sm.get('packingPlan', topology)).toBeUndefined();
      });

      it('accepts an empty transaction', async () => {
        const sm = await open();
        await sm.transaction([]);
      });

      it('applies the writes when its check holds', async () => {
        const sm = await open();
        const topology = topologyName();
        await sm.set('topology', topology, sample('topology', topology, 1));
        await sm.transaction([
          { op: 'check', kind: 'topology', topology, topologyId: sample('topology', topology, 1).id },
          { op: 'set', kind: 'topology', topology, value: { ...sample('topology', topology, 2), id: sample('topology', topology, 1).id } },
          { op: 'set', kind: 'packingPlan', topology, value: sample('packingPlan', topology, 2) },
        ]);
        expect(await sm.get('topology', topology)).toEqual({ ...sample('topology', topology, 2), id: sample('topology', topology, 1).id });
        expect(await sm.get('packingPlan', topology)).toEqual(sample('packingPlan', topology, 2));
      });

      it('applies nothing when the checked topology node is missing or holds another id, and rejects with StateConflictError', async () => {
        const sm = await open();
        const topology = topologyName();
        const writes = (variant: number): StateOperation[] => [
          { op: 'set', kind: 'packingPlan', topology, value: sample('packingPlan', topology, variant) },
          { op: 'check', kind: 'topology', topology, topologyId: sample('topology', topology, 1).id },
          { op: 'set', kind: 'topology', topology, value: sample('topology', topology, variant) },
        ];
        const missing = sm.transaction(writes(2));
        await expect(missing).rejects.toBeInstanceOf(StateConflictError);
        await expect(missing).rejects.toThrow(topology);
        expect(await sm.get('topology', topology)).toBeUndefined();
        expect(await sm.get('packingPlan', topology)).toBeUndefined();

        await sm.set('topology', topology, sample('topology', topology, 3));
        await expect(sm.transaction(writes(4))).rejects.toBeInstanceOf(StateConflictError);
        expect(await sm.get('topology', topology)).toEqual(sample('topology', topology, 3));
        expect(await sm.get('packingPlan', topology)).toBeUndefined();
      });

      it('judges a check on the state the transaction starts from', async () => {
        const sm = await open();
        const topology = topologyName();
        await sm.set('topology', topology, sample('topology', topology, 1));
        await sm.transaction([
          { op: 'delete', kind: 'topology', topology },
          { op: 'check', kind: 'topology', topology, topologyId: sample('topology', topology, 1).id },
        ]);
        expect(await sm.get('topology', topology)).toBeUndefined();
      });
    });

    describe('watch', () => {
      it('reports set and delete with the new value, then undefined', async () => {
        const sm = await open();
        const topology = topologyName();
        const rec = recorder<'physicalPlan'>();
        const watch = sm.watch('physicalPlan', topology, rec.listener);
        await primeWatches(sm, 'physicalPlan', topology, [rec]);

        await sm.set('physicalPlan', topology, sample('physicalPlan', topology, 1));
        await lastCallEquals(rec, sample('physicalPlan', topology, 1));
        await sm.delete('physicalPlan', topology);
        await lastCallEquals(rec, undefined);
        await sm.create('physicalPlan', topology, sample('physicalPlan', topology, 2));
        await lastCallEquals(rec, sample('physicalPlan', topology, 2));
        watch.close();
      });

      it('ends on the latest value after changes in quick succession', async () => {
        const sm = await open();
        const topology = topologyName();
        const rec = recorder<'packingPlan'>();
        const watch = sm.watch('packingPlan', topology, rec.listener);
        await primeWatches(sm, 'packingPlan', topology, [rec]);
        for (let variant = 1; variant <= 6; variant++) await sm.set('packingPlan', topology, sample('packingPlan', topology, variant));
        await lastCallEquals(rec, sample('packingPlan', topology, 6));
        watch.close();
      });

      it('is not called for the value present when it starts', async () => {
        const sm = await open();
        const present = topologyName('present');
        const missing = topologyName('missing');
        const initial = sample('executionState', present, 0);
        await sm.set('executionState', present, initial);
        const onPresent = recorder<'executionState'>();
        const onMissing = recorder<'executionState'>();
        sm.watch('executionState', present, onPresent.listener);
        sm.watch('executionState', missing, onMissing.listener);
        await primeWatches(sm, 'executionState', present, [onPresent]);
        await primeWatches(sm, 'executionState', missing, [onMissing]);
        expect(onPresent.calls).not.toContainEqual(initial);
        expect(onMissing.calls).not.toContain(undefined);
      });

      it('is not called after close, and close is idempotent', async () => {
        const sm = await open();
        const topology = topologyName();
        const closed = recorder<'topologyMaster'>();
        const sentinel = recorder<'topologyMaster'>();
        const watch = sm.watch('topologyMaster', topology, closed.listener);
        sm.watch('topologyMaster', topology, sentinel.listener);
        await primeWatches(sm, 'topologyMaster', topology, [closed, sentinel]);

        watch.close();
        watch.close();
        const seenBeforeClose = closed.calls.length;
        const after = sample('topologyMaster', topology, 1);
        await sm.set('topologyMaster', topology, after);
        await lastCallEquals(sentinel, after);
        await sm.delete('topologyMaster', topology);
        await lastCallEquals(sentinel, undefined);
        expect(closed.calls.slice(seenBeforeClose)).toEqual([]);
      });

      it('keeps separate watches on different nodes apart', async () => {
        const sm = await open();
        const first = topologyName('first');
        const second = topologyName('second');
        const onFirst = recorder<'checkpoints'>();
        const onSecond = recorder<'checkpoints'>();
        sm.watch('checkpoints', first, onFirst.listener);
        sm.watch('checkpoints', second, onSecond.listener);
        await primeWatches(sm, 'checkpoints', first, [onFirst]);
        await primeWatches(sm, 'checkpoints', second, [onSecond]);
        await sm.set('checkpoints', first, sample('checkpoints', first, 1));
        await lastCallEquals(onFirst, sample('checkpoints', first, 1));
        await sm.set('checkpoints', second, sample('checkpoints', second, 2));
        await lastCallEquals(onSecond, sample('checkpoints', second, 2));
        expect(onSecond.calls).not.toContainEqual(sample('checkpoints', first, 1));
        expect(onFirst.calls).not.toContainEqual(sample('checkpoints', second, 2));
      });

      it('reports the changes of a transaction', async () => {
        const sm = await open();
        const topology = topologyName();
        const rec = recorder<'topology'>();
        sm.watch('topology', topology, rec.listener);
        await primeWatches(sm, 'topology', topology, [rec]);
        await sm.transaction([{ op: 'set', kind: 'topology', topology, value: sample('topology', topology, 7) }]);
        await lastCallEquals(rec, sample('topology', topology, 7));
        await sm.transaction([{ op: 'delete', kind: 'topology', topology }]);
        await lastCallEquals(rec, undefined);
      });
    });

    describe('ephemeral nodes', () => {
      it('are readable and listed while their owner is open', async () => {
        const sm = await open();
        const topology = topologyName();
        await sm.create('topologyMaster', topology, sample('topologyMaster', topology), { ephemeral: true });
        await sm.set('metricsCache', topology, sample('metricsCache', topology), { ephemeral: true });
        expect(await sm.get('topologyMaster', topology)).toEqual(sample('topologyMaster', topology));
        expect(await sm.get('metricsCache', topology)).toEqual(sample('metricsCache', topology));
        expect(await sm.list('topologyMaster')).toContain(topology);
        await expect(
          sm.create('topologyMaster', topology, sample('topologyMaster', topology, 1), { ephemeral: true }),
        ).rejects.toBeInstanceOf(StateConflictError);
      });

      it('can be deleted by their owner', async () => {
        const sm = await open();
        const topology = topologyName();
        await sm.set('scheduler', topology, sample('scheduler', topology), { ephemeral: true });
        await sm.delete('scheduler', topology);
        expect(await sm.get('scheduler', topology)).toBeUndefined();
      });
    });

    describe('locks', () => {
      it('can be taken again by the same client after release', async () => {
        const sm = await open();
        const topology = topologyName();
        for (let i = 0; i < 3; i++) {
          const lock = await sm.lock(topology, 'update', { timeoutMs: timeout });
          await lock.release();
        }
      });
    });

    if (factory.createPeer) {
      describe('two clients', () => {
        it('see each other’s writes', async () => {
          const sm = await open();
          const peer = await openPeer();
          const topology = topologyName();
          await sm.set('executionState', topology, sample('executionState', topology, 1));
          expect(await peer.get('executionState', topology)).toEqual(sample('executionState', topology, 1));
          await peer.delete('executionState', topology);
          expect(await sm.get('executionState', topology)).toBeUndefined();
        });

        it('a watch reports the other client’s changes', async () => {
          const sm = await open();
          const peer = await openPeer();
          const topology = topologyName();
          const rec = recorder<'physicalPlan'>();
          sm.watch('physicalPlan', topology, rec.listener);
          await primeWatches(peer, 'physicalPlan', topology, [rec]);
          await peer.set('physicalPlan', topology, sample('physicalPlan', topology, 1));
          await lastCallEquals(rec, sample('physicalPlan', topology, 1));
          await peer.delete('physicalPlan', topology);
          await lastCallEquals(rec, undefined);
        });

        it('a watch is not called after its client closes', async () => {
          const sm = await open();
          const writer = await openPeer();
          const topology = topologyName();
          const rec = recorder<'scheduler'>();
          sm.watch('scheduler', topology, rec.listener);
          await primeWatches(writer, 'scheduler', topology, [rec]);
          await sm.close();
          const seenBeforeClose = rec.calls.length;

          const sentinel = recorder<'scheduler'>();
          writer.watch('scheduler', topology, sentinel.listener);
          await primeWatches(writer, 'scheduler', topology, [sentinel]);
          await writer.set('scheduler', topology, sample('scheduler', topology, 1));
          await lastCallEquals(sentinel, sample('scheduler', topology, 1));
          expect(rec.calls.slice(seenBeforeClose)).toEqual([]);
        });

        it('exactly one of two clients creating the same node wins', async () => {
          const sm = await open();
          const peer = await openPeer();
          for (let round = 0; round < 5; round++) {
            const topology = topologyName(`race${round}`);
            const results = await Promise.allSettled([
              sm.create('topology', topology, sample('topology', topology, 1)),
              peer.create('topology', topology, sample('topology', topology, 2)),
            ]);
            const winners = results.flatMap((result, i) => (result.status === 'fulfilled' ? [i + 1] : []));
            expect(winners).toHaveLength(1);
            const loser = results.find((result) => result.status === 'rejected');
            expect(loser?.reason).toBeInstanceOf(StateConflictError);
            expect(await peer.get('topology', topology)).toEqual(sample('topology', topology, winners[0]));
          }
        });

        it('a transaction’s create conflicts with the other client’s node', async () => {
          const sm = await open();
          const peer = await openPeer();
          const topology = topologyName();
          await peer.create('topology', topology, sample('topology', topology, 1));
          await expect(
            sm.transaction([
              { op: 'set', kind: 'packingPlan', topology, value: sample('packingPlan', topology, 2) },
              { op: 'create', kind: 'topology', topology, value: sample('topology', topology, 2) },
            ]),
          ).rejects.toBeInstanceOf(StateConflictError);
          expect(await peer.get('packingPlan', topology)).toBeUndefined();
          expect(await peer.get('topology', topology)).toEqual(sample('topology', topology, 1));
        });

        it('a transaction’s check fails once the other client removed or replaced the topology', async () => {
          const sm = await open();
          const peer = await openPeer();
          const topology = topologyName();
          const first = sample('topology', topology, 1);
          const conditional = (): Promise<void> =>
            sm.transaction([
              { op: 'check', kind: 'topology', topology, topologyId: first.id },
              { op: 'set', kind: 'packingPlan', topology, value: sample('packingPlan', topology, 1) },
            ]);
          await sm.set('topology', topology, first);
          await peer.transaction([{ op: 'delete', kind: 'topology', topology }]);
          await expect(conditional()).rejects.toBeInstanceOf(StateConflictError);
          await peer.create('topology', topology, sample('topology', topology, 2));
          await expect(conditional()).rejects.toBeInstanceOf(StateConflictError);
          expect(await peer.get('packingPlan', topology)).toBeUndefined();
          expect(await peer.get('topology', topology)).toEqual(sample('topology', topology, 2));
        });

        it('an ephemeral node disappears for the other client when its owner closes, and its watch reports it', async () => {
          const owner = await open();
          const peer = await openPeer();
          const topology = topologyName();
          const rec = recorder<'topologyMaster'>();
          peer.watch('topologyMaster', topology, rec.listener);
          await primeWatches(owner, 'topologyMaster', topology, [rec], { ephemeral: true });
          const location = sample('topologyMaster', topology, 1);
          await owner.set('topologyMaster', topology, location, { ephemeral: true });
          await lastCallEquals(rec, location);
          expect(await peer.get('topologyMaster', topology)).toEqual(location);
          expect(await peer.list('topologyMaster')).toContain(topology);

          await owner.close();
          await lastCallEquals(rec, undefined);
          await vi.waitFor(async () => expect(await peer.get('topologyMaster', topology)).toBeUndefined(), waitOptions);
          expect(await peer.list('topologyMaster')).not.toContain(topology);
          await peer.create('topologyMaster', topology, sample('topologyMaster', topology, 2), { ephemeral: true });
          expect(await peer.get('topologyMaster', topology)).toEqual(sample('topologyMaster', topology, 2));
        });

        it('only the ephemeral nodes go when their owner closes', async () => {
          const owner = await open();
          const peer = await openPeer();
          const topology = topologyName();
          await owner.create('metricsCache', topology, sample('metricsCache', topology), { ephemeral: true });
          await owner.create('topology', topology, sample('topology', topology));
          await owner.set('scheduler', topology, sample('scheduler', topology));
          await peer.set('topologyMaster', topology, sample('topologyMaster', topology), { ephemeral: true });
          await owner.close();
          await vi.waitFor(async () => expect(await peer.get('metricsCache', topology)).toBeUndefined(), waitOptions);
          expect(await peer.get('topology', topology)).toEqual(sample('topology', topology));
          expect(await peer.get('scheduler', topology)).toEqual(sample('scheduler', topology));
          expect(await peer.get('topologyMaster', topology)).toEqual(sample('topologyMaster', topology));
        });

        describe('locks between clients', () => {
          it(
            'are exclusive: the second client times out with a ' + 'LockTimeoutError naming the lock, then succeeds after release',
            async () => {
              const sm = await open();
              const peer = await openPeer();
              const topology = topologyName();
              const held = await sm.lock(topology, 'update', { timeoutMs: timeout });
              const failure = peer.lock(topology, 'update', { timeoutMs: 200 });
              await expect(failure).rejects.toBeInstanceOf(LockTimeoutError);
              await expect(failure).rejects.toThrow(topology);
              await held.release();
              await held.release();
              const taken = await peer.lock(topology, 'update', { timeoutMs: timeout });
              await expect(sm.lock(topology, 'update', { timeoutMs: 100 })).rejects.toBeInstanceOf(LockTimeoutError);
              await taken.release();
            },
          );

          it('a waiting client gets the lock when the holder releases it', async () => {
            const sm = await open();
            const peer = await openPeer();
            const topology = topologyName();
            const held = await sm.lock(topology, 'update', { timeoutMs: timeout });
            const waiting = peer.lock(topology, 'update', { timeoutMs: timeout });
            await held.release();
            const lock = await waiting;
            await lock.release();
          });

          it('are released when the holder closes', async () => {
            const sm = await open();
            const peer = await openPeer();
            const topology = topologyName();
            await sm.lock(topology, 'update', { timeoutMs: timeout });
            await sm.close();
            const lock = await peer.lock(topology, 'update', { timeoutMs: timeout });
            await lock.release();
          });

          it('of different topologies are independent', async () => {
            const sm = await open();
            const peer = await openPeer();
            const first = topologyName('first');
            const second = topologyName('second');
            const a = await sm.lock(first, 'update', { timeoutMs: timeout });
            const b = await peer.lock(second, 'update', { timeoutMs: 200 });
            await b.release();
            await a.release();
          });
        });
      });
    }
  });
}

/** JSON with sorted keys, so two equal records compare equal whatever key order a store returns. */
function canonicalJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) =>
      v !== null && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : v,
    ) ?? 'undefined'
  );
}
