/**
 * Word count on the Kubernetes pool, through the `ardea` CLI, against the real control plane and node
 * agent of scripts/k8s-up.sh. The cluster is examples/clusters/kubernetes as shipped; the CLI runs as
 * `ardea-user`, who has exactly the rights of plugins/kubernetes/rbac/ardea-deployer.yaml. What the
 * plugin did is checked with kubectl (an independent client) as the admin.
 */
import { describeWithService, isAlive } from '@ardea/core/testing';
import { execFile, type ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ardea as ardeaIn,
  closedPort,
  configProperties,
  countsGrow,
  E2E_WAIT_MS,
  expectHealthManagerScaledCount,
  expectWordCountDrainedWithoutLoss,
  freshHome,
  plannedContainers,
  processesWithEnvironment,
  removeHome,
  repoRoot,
  SATURATED_COUNT,
  SCALED_BY_THE_TEST,
  startPackageServer,
  stopPackageServer,
  submitFailsWithOneLine,
} from './support.js';
import { adminKubeconfig, kubeRunDirectory, LOOPBACK_KUBERNETES, USER_TOKEN } from './kubernetes.js';

const run = promisify(execFile);
const TOPOLOGY = 'word-count';
const CLUSTER = path.join(repoRoot, 'examples', 'clusters', 'kubernetes');
const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
/** The namespace examples/clusters/kubernetes/scheduler.yaml names. */
const NAMESPACE = 'ardea';
const PACKAGE_SERVER_PORT = 8478;
const SELECTOR = `ardea.io/topology=${TOPOLOGY}`;
const slow = { timeout: E2E_WAIT_MS, interval: 500 };

let home = '';
let packageServer: ChildProcess | undefined;
/** Every process a pod of this test ran (from containerStatuses), checked dead after kill. */
const seenPids = new Set<number>();

const ardea = (...args: string[]) => ardeaIn(home, ...args);

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run('kubectl', ['--kubeconfig', adminKubeconfig, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

interface PodView {
  readonly name: string;
  readonly uid: string;
  readonly containerId: number;
  readonly phase: string;
  readonly ready: boolean;
  readonly pid?: number;
  readonly podIP?: string;
  readonly ownerKind?: string;
}

interface Objects {
  readonly statefulSets: { name: string; replicas: number }[];
  readonly pods: PodView[];
}

/** The topology's StatefulSets and pods, as kubectl sees them. */
async function objects(): Promise<Objects> {
  const list = JSON.parse(await kubectl('-n', NAMESPACE, 'get', 'statefulsets,pods', '-l', SELECTOR, '-o', 'json')) as {
    items: Array<{
      kind: string;
      metadata: { name: string; uid: string; labels?: Record<string, string>; ownerReferences?: { kind: string; controller?: boolean }[] };
      spec?: { replicas?: number };
      status?: {
        phase?: string;
        podIP?: string;
        conditions?: { type: string; status: string }[];
        containerStatuses?: { containerID?: string }[];
      };
    }>;
  };
  const statefulSets = list.items
    .filter((i) => i.kind === 'StatefulSet')
    .map((i) => ({ name: i.metadata.name, replicas: i.spec!.replicas! }));
  const pods = list.items
    .filter((i) => i.kind === 'Pod')
    .map((i): PodView => {
      const containerID = i.status?.containerStatuses?.[0]?.containerID;
      const pid = containerID?.startsWith('ardea://') ? Number(containerID.slice('ardea://'.length)) : undefined;
      if (pid) seenPids.add(pid);
      return {
        name: i.metadata.name,
        uid: i.metadata.uid,
        containerId: Number(i.metadata.labels?.['apps.kubernetes.io/pod-index']),
        phase: i.status?.phase ?? '',
        ready: i.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        pid,
        podIP: i.status?.podIP,
        ownerKind: i.metadata.ownerReferences?.find((o) => o.controller)?.kind,
      };
    })
    .sort((a, b) => a.containerId - b.containerId || a.name.localeCompare(b.name));
  return { statefulSets, pods };
}

/** Waits until exactly the planned containers run as Ready pods; resolves to them. */
async function podsRunning(): Promise<PodView[]> {
  const planned = await plannedContainers(home, CLUSTER, TOPOLOGY);
  return vi.waitFor(async () => {
    const { pods } = await objects();
    expect(pods.map((p) => p.containerId)).toEqual(planned);
    for (const pod of pods) expect(pod.phase === 'Running' && pod.ready, `pod ${pod.name} is ${pod.phase}`).toBe(true);
    return pods;
  }, slow);
}

function userKubeconfig(name = 'kubeconfig', token = USER_TOKEN, server = 'https://127.0.0.1:6443'): string {
  const file = path.join(home, name);
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: loopback`,
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority: ${path.join(kubeRunDirectory, 'pki', 'ca.crt')}`,
      'users:',
      '- name: ardea-user',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: loopback',
      '  context: { cluster: loopback, user: ardea-user, namespace: ardea }',
      'current-context: loopback',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

/**
 * Kills the topology if the cluster's state (ZooKeeper, shared by every run) still has it, as the
 * admin: a run that failed half-way may have left it, and whatever rights it took from ardea-user.
 */
async function killLeftover(): Promise<void> {
  if (!(await ardea('list', CLUSTER)).stdout.includes(TOPOLOGY)) return;
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = adminKubeconfig;
  try {
    const kill = await ardea('kill', CLUSTER, TOPOLOGY);
    expect(kill.code, kill.stderr).toBe(0);
  } finally {
    process.env.KUBECONFIG = saved;
  }
}

/** Waits until the namespace is gone (a previous run's may still be terminating), then makes it and grants the deployer role. */
async function freshNamespace(): Promise<void> {
  await kubectl('delete', 'namespace', NAMESPACE, '--ignore-not-found', '--wait=true', '--timeout=120s');
  await kubectl('create', 'namespace', NAMESPACE);
  await kubectl('-n', NAMESPACE, 'apply', '-f', path.join(repoRoot, 'plugins', 'kubernetes', 'rbac', 'ardea-deployer.yaml'));
}

/** The value the plugin gave every pod as ARDEA_CLUSTER_CONFIG, read from its Secret; every process of the topology has it. */
async function topologyProcesses(): Promise<number[]> {
  const secrets = JSON.parse(await kubectl('-n', NAMESPACE, 'get', 'secrets', '-l', SELECTOR, '-o', 'json')) as {
    items: { data?: Record<string, string> }[];
  };
  const encoded = secrets.items.map((s) => s.data?.ARDEA_CLUSTER_CONFIG).find(Boolean);
  if (!encoded) return [];
  return processesWithEnvironment(`ARDEA_CLUSTER_CONFIG=${Buffer.from(encoded, 'base64').toString('utf8')}`);
}

await describeWithService(LOOPBACK_KUBERNETES, 'word count on Kubernetes through the CLI', () => {
  let clusterConfigProcesses: number[] = [];

  beforeAll(async () => {
    home = freshHome('ardea-k8s-e2e-');
    process.env.KUBECONFIG = userKubeconfig();
    await freshNamespace();
    await killLeftover();
    packageServer = await startPackageServer(home, PACKAGE_SERVER_PORT);
    // The scaling checked first is the test's own; the health manager's comes last.
    const submit = await ardea('submit', CLUSTER, WORD_COUNT, ...SCALED_BY_THE_TEST);
    expect(submit.code, submit.stderr).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await killLeftover().catch(() => undefined);
    await stopPackageServer(packageServer);
    await kubectl('delete', 'namespace', NAMESPACE, '--ignore-not-found', '--wait=false').catch(() => undefined);
    await removeHome(home, []);
  }, 300_000);

  it('runs every container as a pod of a StatefulSet, created by the StatefulSet controller, and counts words', async () => {
    const pods = await podsRunning();
    const { statefulSets } = await objects();
    expect(statefulSets.map((s) => s.name).sort()).toEqual([`${TOPOLOGY}-executors`, `${TOPOLOGY}-manager`]);
    for (const pod of pods) expect(pod.ownerKind, `owner of ${pod.name}`).toBe('StatefulSet');
    expect(pods[0]!.name).toBe(`${TOPOLOGY}-manager-0`);
    for (const pod of pods.slice(1)) expect(pod.name).toBe(`${TOPOLOGY}-executors-${pod.containerId}`);
    // Each executor listens on its own pod's IP and tells the others that address, as on a real cluster.
    const described = await ardea('describe', CLUSTER, TOPOLOGY, '--json');
    const physical = (JSON.parse(described.stdout) as { physicalPlan: { streamManagers: { containerId: number; host: string }[] } })
      .physicalPlan;
    for (const pod of pods.slice(1)) {
      expect(pod.podIP).toMatch(/^127\./);
      expect(pod.podIP).not.toBe('127.0.0.1');
      expect(physical.streamManagers.find((m) => m.containerId === pod.containerId)?.host, `stream manager of ${pod.name}`).toBe(pod.podIP);
    }
    await countsGrow(home, TOPOLOGY, CLUSTER);
    clusterConfigProcesses = await topologyProcesses();
    expect(clusterConfigProcesses.length).toBeGreaterThanOrEqual(pods.length);
  }, 300_000);

  it('update scales count to 6 and back through the StatefulSet, keeping the pods that stay, and loses nothing', async () => {
    const before = await podsRunning();
    const up = await ardea('update', CLUSTER, TOPOLOGY, '--component-parallelism', 'count:6');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^ {2}count: 2 -> 6 instances$/m);
    const scaled = await podsRunning();
    expect(scaled.length).toBeGreaterThan(before.length);
    const executors = (await objects()).statefulSets.find((s) => s.name === `${TOPOLOGY}-executors`)!;
    expect(executors.replicas).toBe(scaled.length - 1);
    for (const pod of before) expect(scaled.find((p) => p.name === pod.name)?.uid, `uid of ${pod.name}`).toBe(pod.uid);
    await countsGrow(home, TOPOLOGY, CLUSTER);

    const down = await ardea('update', CLUSTER, TOPOLOGY, '--component-parallelism', 'count:2');
    expect(down.code, down.stderr).toBe(0);
    const after = await podsRunning();
    expect(after.map((p) => p.uid)).toEqual(before.map((p) => p.uid));
    await countsGrow(home, TOPOLOGY, CLUSTER);

    await expectWordCountDrainedWithoutLoss(home, CLUSTER, TOPOLOGY);
  }, 600_000);

  it('restart of container 1 replaces only its pod', async () => {
    const before = await podsRunning();
    const restart = await ardea('restart', CLUSTER, TOPOLOGY, '1');
    expect(restart.code, restart.stderr).toBe(0);
    const after = await vi.waitFor(async () => {
      const pods = await podsRunning();
      expect(pods.find((p) => p.containerId === 1)!.uid).not.toBe(before.find((p) => p.containerId === 1)!.uid);
      return pods;
    }, slow);
    for (const pod of before.filter((p) => p.containerId !== 1))
      expect(after.find((p) => p.containerId === pod.containerId)!.uid, `uid of ${pod.name}`).toBe(pod.uid);
    await countsGrow(home, TOPOLOGY, CLUSTER);
  }, 300_000);

  it('kill leaves no object and no process behind', async () => {
    const running = await topologyProcesses();
    expect(running.length).toBeGreaterThan(0);
    const kill = await ardea('kill', CLUSTER, TOPOLOGY);
    expect(kill.code, kill.stderr).toBe(0);
    const left = await kubectl('-n', NAMESPACE, 'get', 'statefulsets,pods,services,secrets,configmaps', '-l', SELECTOR, '-o', 'name');
    expect(left.trim()).toBe('');
    await vi.waitFor(() => {
      const alive = [...new Set([...running, ...clusterConfigProcesses, ...seenPids])].filter(isAlive);
      expect(alive, 'processes of the topology still alive').toEqual([]);
    }, slow);
  }, 300_000);

  it('the health manager, in container 0 inside a pod, scales a saturated count bolt through the Kubernetes API', async () => {
    // The submitting user may create and delete the topology's objects but not scale or patch them:
    // whatever scales the topology does it from inside container 0's pod, with the pod's ServiceAccount.
    try {
      await kubectl('-n', NAMESPACE, 'delete', 'rolebinding', 'ardea-deployer-user');
      await kubectl(
        ...['-n', NAMESPACE, 'create', 'role', 'ardea-no-scale', '--verb=get,list,create,delete,deletecollection'],
        '--resource=statefulsets.apps,services,secrets,pods,events',
      );
      await kubectl('-n', NAMESPACE, 'create', 'rolebinding', 'ardea-no-scale-user', '--role=ardea-no-scale', '--user=ardea-user');
      const canScale = await run('kubectl', [
        '--kubeconfig',
        adminKubeconfig,
        '-n',
        NAMESPACE,
        'auth',
        'can-i',
        'patch',
        'statefulsets/scale',
        '--as',
        'ardea-user',
      ]).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
      expect(canScale.stdout.trim()).toBe('no');
      const submit = await ardea('submit', CLUSTER, WORD_COUNT, ...SATURATED_COUNT, '--json');
      expect(submit.code, submit.stderr).toBe(0);
      // The submitted plan's containers, container 0 included: on a busy machine the health manager can
      // scale before the pods are all up, so the pods running after submit may be the scaled plan's.
      const initial = (JSON.parse(submit.stdout) as { containers: number }).containers;
      await expectHealthManagerScaledCount(home, CLUSTER, TOPOLOGY);
      // The repacked plan has more containers, which only the StatefulSet's replica count can add.
      const executors = (await objects()).statefulSets.find((s) => s.name === `${TOPOLOGY}-executors`)!;
      expect(executors.replicas + 1).toBeGreaterThan(initial);
      const scaled = await podsRunning();
      expect(scaled.length).toBe(executors.replicas + 1);
    } finally {
      await kubectl('-n', NAMESPACE, 'delete', 'rolebinding', 'ardea-no-scale-user', '--ignore-not-found');
      await kubectl('-n', NAMESPACE, 'delete', 'role', 'ardea-no-scale', '--ignore-not-found');
      await kubectl('-n', NAMESPACE, 'apply', '-f', path.join(repoRoot, 'plugins', 'kubernetes', 'rbac', 'ardea-deployer.yaml'));
    }
    const kill = await ardea('kill', CLUSTER, TOPOLOGY);
    expect(kill.code, kill.stderr).toBe(0);
  }, 900_000);

  describe('bad input gets one clear ardea: line and leaves nothing behind', () => {
    const submitWith = async (kubeconfig: string, ...properties: string[]): Promise<string> => {
      const saved = process.env.KUBECONFIG;
      process.env.KUBECONFIG = kubeconfig;
      try {
        return await submitFailsWithOneLine(home, CLUSTER, WORD_COUNT, ...configProperties(...properties));
      } finally {
        process.env.KUBECONFIG = saved;
      }
    };

    beforeAll(async () => {
      // Whatever an earlier test of this file left running would make every submit here fail for that reason.
      await killLeftover();
    }, 300_000);

    afterEach(async () => {
      const left = await kubectl('get', 'statefulsets,pods,services,secrets', '-A', '-l', SELECTOR, '-o', 'name');
      expect(left.trim(), 'objects of the topology left behind').toBe('');
      const list = await ardea('list', CLUSTER);
      expect(list.stdout).not.toContain(TOPOLOGY);
      const stored = readdirSync(path.join(home, 'package-server'), { recursive: true, withFileTypes: true });
      expect(stored.filter((entry) => entry.isFile() && !entry.name.startsWith('.')).map((entry) => entry.name)).toEqual([]);
    }, 120_000);

    it('a wrong token', async () => {
      const line = await submitWith(userKubeconfig('wrong-token.kubeconfig', 'not-a-token'));
      expect(line).toMatch(/Unauthorized \(401\)/);
      expect(line).toMatch(/did not accept the credentials/);
    }, 120_000);

    it('a user without the deployer role', async () => {
      await kubectl('-n', NAMESPACE, 'delete', 'rolebinding', 'ardea-deployer-user');
      try {
        const line = await submitWith(process.env.KUBECONFIG!);
        expect(line).toMatch(/\(403 Forbidden\)/);
        expect(line).toMatch(/User "ardea-user" cannot create resource "statefulsets"/);
        expect(line).toMatch(/'create' 'statefulsets' in API group 'apps'/);
        expect(line).toMatch(/ardea-deployer\.yaml/);
      } finally {
        await kubectl('-n', NAMESPACE, 'apply', '-f', path.join(repoRoot, 'plugins', 'kubernetes', 'rbac', 'ardea-deployer.yaml'));
      }
    }, 120_000);

    it('an API server that does not answer', async () => {
      const line = await submitWith(userKubeconfig('closed-port.kubeconfig', USER_TOKEN, `https://127.0.0.1:${await closedPort()}`));
      expect(line).toMatch(/unreachable \(ECONNREFUSED\)/);
    }, 120_000);

    it('a namespace that does not exist', async () => {
      const line = await submitWith(adminKubeconfig, 'scheduler.namespace=ardea-nowhere');
      expect(line).toMatch(/namespace 'ardea-nowhere' does not exist/);
    }, 120_000);

    it('containers larger than any node', async () => {
      // Three instances of 100 CPUs per container, where the node has 16.
      const line = await submitWith(process.env.KUBECONFIG!, 'packing.instance.cpu=100', 'packing.container.cpu=1000');
      expect(line).toMatch(/Insufficient cpu/);
    }, 300_000);
  });
});
