/**
 * The node agent against the real control plane of scripts/k8s-up.sh. Each run starts its own agent
 * in-process, as its own node `ardea-test-<pid>-<random>` with a client certificate for
 * `system:node:<that name>` signed by the cluster CA, so the Node authorizer and NodeRestriction
 * judge it exactly as they judge the agent k8s-up.sh starts. The node is tainted so that the
 * scheduler places no one else's pods on it; the tests bind their pods by `spec.nodeName`, and the
 * StatefulSet test tolerates the taint. Everything the run creates (node, namespace, processes)
 * goes in afterAll, also after a failure.
 */
import { AppsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig, type V1Container, type V1Pod, type V1PodSpec } from '@kubernetes/client-node';
import { describeWithService, isAlive } from '@ardea/core/testing';
import { adminKubeconfig, kubeRunDirectory, LOOPBACK_KUBERNETES_CONTROL_PLANE } from '@ardea/test-support/kubernetes';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NodeAgent } from './agent.js';
import { apiStatusCode } from './kube.js';
import type { AgentLogger } from './logger.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLIENT_NODE = path.join(REPO, 'node_modules', '@kubernetes', 'client-node', 'dist', 'index.js');
const TAINT_KEY = 'ardea.test/node';

/** A kubeconfig for node `name`: a client certificate (CN system:node:<name>, O system:nodes) from the cluster CA. */
function nodeKubeconfig(name: string, directory: string): string {
  const pki = path.join(kubeRunDirectory, 'pki');
  const key = path.join(directory, 'node.key');
  const request = path.join(directory, 'node.csr');
  const certificate = path.join(directory, 'node.crt');
  execFileSync(
    'openssl',
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/O=system:nodes/CN=system:node:${name}`, '-keyout', key, '-out', request],
    {
      stdio: 'ignore',
    },
  );
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      request,
      '-CA',
      path.join(pki, 'ca.crt'),
      '-CAkey',
      path.join(pki, 'ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      certificate,
    ],
    { stdio: 'ignore' },
  );
  const file = path.join(directory, 'node.kubeconfig');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: local, cluster: {server: "https://127.0.0.1:6443", certificate-authority: "${path.join(pki, 'ca.crt')}"}}]`,
      `users: [{name: node, user: {client-certificate: "${certificate}", client-key: "${key}"}}]`,
      'contexts: [{name: local, context: {cluster: local, user: node}}]',
      'current-context: local',
      '',
    ].join('\n'),
  );
  return file;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function pidOf(pod: V1Pod, container = 0): number {
  const id = pod.status?.containerStatuses?.[container]?.containerID ?? '';
  expect(id).toMatch(/^ardea:\/\/\d+$/);
  return Number(id.slice('ardea://'.length));
}

function readEnvFile(file: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
const nodeName = `ardea-test-${suffix}`;
const namespace = `ardea-agent-${suffix}`;
// One /16 of loopback per run, away from ardea-node's 127.0.x.y.
const podCidr = `127.${100 + (process.pid % 150)}.0.0/16`;

await describeWithService(LOOPBACK_KUBERNETES_CONTROL_PLANE, 'the node agent against the real control plane', () => {
  let temp = '';
  let stateDirectory = '';
  let agent: NodeAgent | undefined;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let coordination: CoordinationV1Api;
  const seenPids = new Set<number>();
  const log: string[] = [];
  const logger: AgentLogger = {
    info: (m) => log.push(`info ${m}`),
    warn: (m) => log.push(`warn ${m}`),
    error: (m) => log.push(`error ${m}`),
  };

  const podDirectory = (pod: V1Pod) => path.join(stateDirectory, 'pods', `${namespace}_${pod.metadata?.name}_${pod.metadata?.uid}`);

  async function createPod(
    name: string,
    spec: Partial<V1PodSpec> & { containers: V1Container[] },
    labels: Record<string, string> = {},
  ): Promise<V1Pod> {
    return core.createNamespacedPod({
      namespace,
      body: { metadata: { name, labels }, spec: { nodeName, terminationGracePeriodSeconds: 5, ...spec } },
    });
  }

  async function podWhen(name: string, what: string, ready: (pod: V1Pod) => boolean, timeoutMs?: number): Promise<V1Pod> {
    return eventually(
      `pod ${name}: ${what}`,
      async () => {
        const pod = await core.readNamespacedPod({ name, namespace });
        for (const status of pod.status?.containerStatuses ?? []) {
          const id = status.containerID ?? '';
          if (id.startsWith('ardea://')) seenPids.add(Number(id.slice(8)));
        }
        return ready(pod) ? pod : undefined;
      },
      timeoutMs,
    );
  }

  async function podGone(name: string): Promise<void> {
    await eventually(`pod ${name} to be deleted`, async () => {
      try {
        await core.readNamespacedPod({ name, namespace });
        return undefined;
      } catch (error) {
        if (apiStatusCode(error) === 404) return true;
        throw error;
      }
    });
  }

  const runningAndReady = (pod: V1Pod) =>
    pod.status?.phase === 'Running' && pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

  beforeAll(async () => {
    temp = mkdtempSync(path.join(os.tmpdir(), 'ardea-node-agent-test-'));
    stateDirectory = path.join(temp, 'state');
    const admin = new KubeConfig();
    admin.loadFromFile(adminKubeconfig);
    core = admin.makeApiClient(CoreV1Api);
    apps = admin.makeApiClient(AppsV1Api);
    coordination = admin.makeApiClient(CoordinationV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    // The ServiceAccount admission plugin refuses pods until the controller has made the namespace's default account.
    await eventually('the default service account', () => core.readNamespacedServiceAccount({ name: 'default', namespace }));
    const nodeConfig = new KubeConfig();
    nodeConfig.loadFromFile(nodeKubeconfig(nodeName, temp));
    agent = new NodeAgent({
      kubeConfig: nodeConfig,
      nodeName,
      stateDirectory,
      cpu: '4',
      memory: '8Gi',
      pods: 20,
      podCidr,
      backoff: { baseMs: 300, maxMs: 1200, resetAfterMs: 60_000 },
      heartbeatMs: 10_000,
      configRetryMs: 300,
      shutdownGraceMs: 5000,
      passEnv: ['ARDEA_TEST_RUN'],
      taints: [{ key: TAINT_KEY, value: nodeName, effect: 'NoSchedule' }],
      logger,
    });
    await agent.start();
  });

  afterAll(async () => {
    if (core) {
      await core.deleteNamespace({ name: namespace }).catch(() => {});
      // The namespace controller deletes the pods with their grace periods; the agent must still run to end them.
      const namespaceGone = async () => {
        try {
          await core.readNamespace({ name: namespace });
          return undefined;
        } catch (error) {
          if (apiStatusCode(error) === 404) return true;
          throw error;
        }
      };
      await eventually(`namespace ${namespace} to be deleted`, namespaceGone, 40_000).catch(async (error: unknown) => {
        // Without a working agent nothing would end them: remove the objects so the namespace goes anyway.
        const left = await core.listNamespacedPod({ namespace });
        await Promise.all(
          left.items.map((pod) => core.deleteNamespacedPod({ name: pod.metadata?.name ?? '', namespace, gracePeriodSeconds: 0 })),
        );
        throw error;
      });
    }
    await agent?.stop();
    await core?.deleteNode({ name: nodeName }).catch(() => {});
    if (temp) rmSync(temp, { recursive: true, force: true });
    expect([...seenPids].filter((pid) => isAlive(pid))).toEqual([]);
  });

  it('registers a Ready node with the given capacity, as the node user', async () => {
    const node = await core.readNode({ name: nodeName });
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
    expect(node.status?.capacity).toMatchObject({ cpu: '4', memory: '8Gi', pods: '20' });
    expect(node.status?.addresses).toEqual(expect.arrayContaining([{ type: 'InternalIP', address: '127.0.0.1' }]));
    expect(node.metadata?.labels).toMatchObject({ 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux' });
    expect(node.spec?.taints).toEqual([{ key: TAINT_KEY, value: nodeName, effect: 'NoSchedule' }]);
    const lease = await coordination.readNamespacedLease({ name: nodeName, namespace: 'kube-node-lease' });
    expect(lease.spec?.holderIdentity).toBe(nodeName);
  });

  it('runs a container with its env (downward API, pod-index, Secret, ConfigMap, $(VAR)) and reports it Running and Ready', async () => {
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'creds' }, stringData: { password: 's3cret' } } });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'settings' }, data: { LEVEL: 'debug' } } });
    const created = await createPod(
      'env',
      {
        containers: [
          {
            name: 'main',
            image: 'ignored',
            command: ['sh', '-c'],
            // Single quotes: the shell must print what the agent's expansion left, not run $(...) itself.
            args: [`env > "$HOME/env.txt"; echo '$(POD_NAME) $$(POD_NAME)' > "$HOME/args.txt"; exec sleep 300`],
            envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'CFG_' }],
            env: [
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } } },
              { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
              { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'settings', key: 'LEVEL' } } },
              { name: 'SHARD', value: 'shard-$(INDEX)' },
            ],
          },
        ],
      },
      { 'apps.kubernetes.io/pod-index': '7' },
    );
    const pod = await podWhen('env', 'Running and Ready', runningAndReady);
    const pid = pidOf(pod);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\u0000300\u0000');
    expect(pod.status).toMatchObject({ hostIP: '127.0.0.1' });
    expect(pod.status?.podIP).toMatch(new RegExp(`^127\\.${podCidr.split('.')[1]}\\.`));
    expect(pod.status?.containerStatuses?.[0]).toMatchObject({ name: 'main', ready: true, started: true, restartCount: 0, imageID: '' });
    expect(pod.status?.containerStatuses?.[0].state?.running).toBeDefined();
    const env = readEnvFile(path.join(podDirectory(created), 'env.txt'));
    expect(env).toMatchObject({
      POD_NAME: 'env',
      POD_NAMESPACE: namespace,
      POD_IP: pod.status?.podIP,
      INDEX: '7',
      PASSWORD: 's3cret',
      LEVEL: 'debug',
      CFG_LEVEL: 'debug',
      SHARD: 'shard-7',
      HOME: podDirectory(created),
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: '6443',
    });
    // The agent's own environment stays out, apart from what it passes on purpose.
    expect(env.KUBECONFIG).toBeUndefined();
    expect(env.VITEST).toBeUndefined();
    expect(env.ARDEA_TEST_RUN).toBe(process.env.ARDEA_TEST_RUN);
    expect(readFileSync(path.join(podDirectory(created), 'args.txt'), 'utf8')).toBe('env $(POD_NAME)\n');
  });

  it('mounts the service-account volume in the container, and its token authenticates in-cluster (loadFromCluster)', async () => {
    const script = [
      `import { AuthenticationV1Api, KubeConfig } from ${JSON.stringify(`file://${CLIENT_NODE}`)};`,
      "import { readdirSync } from 'node:fs';",
      "const files = readdirSync('/var/run/secrets/kubernetes.io/serviceaccount').filter((f) => !f.includes('ardea-tmp')).sort();",
      "console.log('files=' + files.join(','));",
      'const config = new KubeConfig();',
      'config.loadFromCluster();',
      'const api = config.makeApiClient(AuthenticationV1Api);',
      "const body = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' };",
      'const review = await api.createSelfSubjectReview({ body });',
      "console.log('user=' + review.status.userInfo.username);",
    ].join('\n');
    const created = await createPod('in-cluster', {
      restartPolicy: 'Never',
      containers: [{ name: 'main', image: 'ignored', command: ['node', '--input-type=module', '-e', script] }],
    });
    const pod = await podWhen('in-cluster', 'Succeeded or Failed', (p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed');
    const output = readFileSync(path.join(podDirectory(created), 'main.log'), 'utf8');
    expect(output).toContain('files=ca.crt,namespace,token');
    expect(output).toContain(`user=system:serviceaccount:${namespace}:default`);
    expect(pod.status?.phase).toBe('Succeeded');
    expect(pod.status?.containerStatuses?.[0].state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('mounts secret, configMap, downwardAPI and emptyDir volumes in each container only, read-only when asked', async () => {
    const mounts = path.join(temp, 'mounts');
    const script = [
      'cat "$MOUNTS/secret/pw.txt" > "$HOME/secret.txt"',
      'cat "$MOUNTS/config/LEVEL" > "$HOME/config.txt"',
      'cat "$MOUNTS/down/labels" > "$HOME/labels.txt"',
      '(touch "$MOUNTS/secret/x" 2>/dev/null && echo writable || echo read-only) > "$HOME/secret-mode.txt"',
      'echo hello > "$MOUNTS/shared/note"',
      'exec sleep 300',
    ].join('; ');
    const env = [{ name: 'MOUNTS', value: mounts }];
    const created = await createPod(
      'volumes',
      {
        volumes: [
          { name: 'secret', secret: { secretName: 'files', items: [{ key: 'password', path: 'pw.txt' }] } },
          { name: 'config', configMap: { name: 'file-settings' } },
          { name: 'down', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
          { name: 'shared', emptyDir: {} },
        ],
        containers: [
          {
            name: 'writer',
            image: 'ignored',
            command: ['sh', '-c', script],
            env,
            volumeMounts: [
              { name: 'secret', mountPath: path.join(mounts, 'secret'), readOnly: true },
              { name: 'config', mountPath: path.join(mounts, 'config') },
              { name: 'down', mountPath: path.join(mounts, 'down') },
              { name: 'shared', mountPath: path.join(mounts, 'shared') },
            ],
          },
          {
            name: 'reader',
            image: 'ignored',
            command: [
              'sh',
              '-c',
              'until [ -f "$MOUNTS/shared/note" ]; do sleep 0.1; done; cp "$MOUNTS/shared/note" "$HOME/shared.txt"; exec sleep 300',
            ],
            env,
            volumeMounts: [{ name: 'shared', mountPath: path.join(mounts, 'shared') }],
          },
        ],
      },
      { app: 'volumes', tier: 'test' },
    );
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'files' }, stringData: { password: 'pw-1' } } });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'file-settings' }, data: { LEVEL: 'info' } } });
    const pod = await podWhen('volumes', 'both containers Running and Ready', runningAndReady);
    expect(pod.status?.containerStatuses?.map((c) => c.name).sort()).toEqual(['reader', 'writer']);
    const directory = podDirectory(created);
    const read = (file: string) =>
      eventually(file, async () => (existsSync(path.join(directory, file)) ? readFileSync(path.join(directory, file), 'utf8') : undefined));
    expect(await read('secret.txt')).toBe('pw-1');
    expect(await read('config.txt')).toBe('info');
    expect(await read('labels.txt')).toBe('app="volumes"\ntier="test"');
    expect(await read('secret-mode.txt')).toBe('read-only\n');
    expect(await read('shared.txt')).toBe('hello\n');
    // The mounts exist in the containers' mount namespaces only: on the host the mount points are empty.
    expect(readdirSync(path.join(mounts, 'secret'))).toEqual([]);
    expect(readdirSync(path.join(mounts, 'shared'))).toEqual([]);
  });

  it('restarts a crashing container with back-off: restartCount grows, CrashLoopBackOff and the last exit are reported', async () => {
    await createPod('crash', { containers: [{ name: 'main', image: 'ignored', command: ['sh', '-c', 'exit 3'] }] });
    const seen = new Set<string>();
    const pod = await podWhen('crash', 'restarted twice, CrashLoopBackOff seen', (p) => {
      const status = p.status?.containerStatuses?.[0];
      if (status?.state?.waiting?.reason) seen.add(status.state.waiting.reason);
      return (status?.restartCount ?? 0) >= 2 && seen.has('CrashLoopBackOff');
    });
    const status = pod.status?.containerStatuses?.[0];
    expect(status?.lastState?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(pod.status?.phase).toBe('Running');
    const waiting = await podWhen(
      'crash',
      'waiting in CrashLoopBackOff',
      (p) => p.status?.containerStatuses?.[0].state?.waiting?.reason === 'CrashLoopBackOff',
    );
    expect(waiting.status?.containerStatuses?.[0].state?.waiting?.message).toMatch(
      /^back-off \d+s restarting failed container=main pod=crash_/,
    );
    expect(waiting.status?.containerStatuses?.[0].ready).toBe(false);
    expect(waiting.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
  });

  it('waits for a missing Secret and starts once it exists; reports NoCommand and unsupported volumes', async () => {
    await createPod('needs-secret', {
      containers: [
        {
          name: 'main',
          image: 'ignored',
          command: ['sleep', '300'],
          env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'later', key: 'k' } } }],
        },
      ],
    });
    await createPod('no-command', { containers: [{ name: 'main', image: 'ignored' }] });
    await createPod('claim', {
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'nothing' } }],
      containers: [{ name: 'main', image: 'ignored', command: ['sleep', '300'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
    });
    const waiting = await podWhen(
      'needs-secret',
      'CreateContainerConfigError',
      (p) => p.status?.containerStatuses?.[0].state?.waiting?.reason === 'CreateContainerConfigError',
    );
    expect(waiting.status?.containerStatuses?.[0].state?.waiting?.message).toBe('secret "later" not found');
    expect(waiting.status?.phase).toBe('Pending');
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'later' }, stringData: { k: 'v' } } });
    await podWhen('needs-secret', 'Running and Ready once the Secret exists', runningAndReady);
    const noCommand = await podWhen(
      'no-command',
      'NoCommand',
      (p) => p.status?.containerStatuses?.[0].state?.waiting?.reason === 'NoCommand',
    );
    expect(noCommand.status?.containerStatuses?.[0].state?.waiting?.message).toContain('has no command');
    const claim = await podWhen(
      'claim',
      'an unsupported volume reported',
      (p) => p.status?.containerStatuses?.[0].state?.waiting?.reason === 'CreateContainerConfigError',
    );
    expect(claim.status?.containerStatuses?.[0].state?.waiting?.message).toContain('volume "data" is of type persistentVolumeClaim');
  });

  it('on deletion sends SIGTERM, waits for the process, then removes the pod object and its directory', async () => {
    const marker = path.join(temp, 'graceful-term');
    const created = await createPod('graceful', {
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: 'main',
          image: 'ignored',
          command: ['sh', '-c', 'trap \'echo TERM > "$MARKER"; exit 0\' TERM; while :; do sleep 0.1; done'],
          env: [{ name: 'MARKER', value: marker }],
        },
      ],
    });
    const pid = pidOf(await podWhen('graceful', 'Running', runningAndReady));
    await core.deleteNamespacedPod({ name: 'graceful', namespace });
    await podGone('graceful');
    expect(readFileSync(marker, 'utf8')).toBe('TERM\n');
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(podDirectory(created))).toBe(false);
  });

  it('SIGKILLs a process that ignores SIGTERM once the grace period is over', async () => {
    await createPod('stubborn', {
      containers: [{ name: 'main', image: 'ignored', command: ['sh', '-c', "trap '' TERM; while :; do sleep 0.1; done"] }],
    });
    const pid = pidOf(await podWhen('stubborn', 'Running', runningAndReady));
    await core.deleteNamespacedPod({ name: 'stubborn', namespace, gracePeriodSeconds: 1 });
    await podGone('stubborn');
    expect(isAlive(pid)).toBe(false);
  });

  it('stops the process of a pod deleted without grace, even when a same-named replacement arrives at once', async () => {
    const first = await createPod('replaced', { containers: [{ name: 'main', image: 'ignored', command: ['sleep', '300'] }] });
    const pid = pidOf(await podWhen('replaced', 'Running', runningAndReady));
    await core.deleteNamespacedPod({ name: 'replaced', namespace, gracePeriodSeconds: 0 });
    const second = await createPod('replaced', { containers: [{ name: 'main', image: 'ignored', command: ['sleep', '301'] }] });
    const replacement = await podWhen(
      'replaced',
      'the replacement Running',
      (p) => p.metadata?.uid === second.metadata?.uid && runningAndReady(p),
    );
    const replacementPid = pidOf(replacement);
    await eventually('the first process to end', async () => (isAlive(pid) ? undefined : true));
    expect(readFileSync(`/proc/${replacementPid}/cmdline`, 'utf8')).toBe('sleep\u0000301\u0000');
    expect(replacement.status?.podIP).not.toBe(undefined);
    await eventually('the first pod to be forgotten', async () => (agent?.runningPods.has(first.metadata?.uid ?? '') ? undefined : true));
  });

  it('runs the pods of a real StatefulSet (Parallel, ordinals from 1) with their pod-index as env', async () => {
    await apps.createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name: 'sts' },
        spec: {
          replicas: 3,
          podManagementPolicy: 'Parallel',
          ordinals: { start: 1 },
          serviceName: 'sts',
          selector: { matchLabels: { app: 'sts' } },
          template: {
            metadata: { labels: { app: 'sts' } },
            spec: {
              terminationGracePeriodSeconds: 0,
              nodeSelector: { 'kubernetes.io/hostname': nodeName },
              tolerations: [{ key: TAINT_KEY, operator: 'Equal', value: nodeName, effect: 'NoSchedule' }],
              containers: [
                {
                  name: 'main',
                  image: 'ignored',
                  command: ['sh', '-c', 'echo "$INDEX" > "$HOME/index.txt"; exec sleep 300'],
                  env: [{ name: 'INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } } }],
                },
              ],
            },
          },
        },
      },
    });
    const pods = await eventually('3 StatefulSet pods Running and Ready', async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=sts' });
      return list.items.length === 3 && list.items.every(runningAndReady) ? list.items : undefined;
    });
    const indexes = Object.fromEntries(
      pods.map((pod) => {
        seenPids.add(pidOf(pod));
        return [pod.metadata?.name, readFileSync(path.join(podDirectory(pod), 'index.txt'), 'utf8').trim()];
      }),
    );
    expect(indexes).toEqual({ 'sts-1': '1', 'sts-2': '2', 'sts-3': '3' });
    expect(new Set(pods.map((pod) => pod.status?.podIP)).size).toBe(3);
    await eventually('readyReplicas 3', async () =>
      (await apps.readNamespacedStatefulSet({ name: 'sts', namespace })).status?.readyReplicas === 3 ? true : undefined,
    );
    await apps.deleteNamespacedStatefulSet({ name: 'sts', namespace });
    await eventually('the garbage collector to delete the pods', async () =>
      (await core.listNamespacedPod({ namespace, labelSelector: 'app=sts' })).items.length === 0 ? true : undefined,
    );
    await eventually('their processes to end', async () => (pods.every((pod) => !isAlive(pidOf(pod))) ? true : undefined));
  });
});
