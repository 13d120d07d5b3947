import { describe, expect, it } from 'vitest';
import { buildPodStatus, podPhase, type ContainerRecord } from './status.js';

const running = (name: string): ContainerRecord => ({
  name,
  image: 'img',
  restartCount: 0,
  containerID: 'ardea://42',
  state: { kind: 'running', startedAt: '2026-01-01T00:00:00.000Z' },
});
const exited = (name: string, exitCode: number): ContainerRecord => ({
  name,
  image: 'img',
  restartCount: 0,
  state: {
    kind: 'terminated',
    termination: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: 'a', finishedAt: 'b' },
  },
});
const base = { sandboxReady: true, podIP: '127.0.0.2', hostIP: '127.0.0.1', startTime: 'start', previousConditions: [], now: 'T1' };

describe('podPhase', () => {
  it('is Pending until a container started, Running while any runs or will restart, then Succeeded or Failed', () => {
    const waiting: ContainerRecord = {
      name: 'm',
      image: '',
      restartCount: 0,
      state: { kind: 'waiting', reason: 'CreateContainerConfigError' },
    };
    const crashLooping: ContainerRecord = {
      ...waiting,
      state: { kind: 'waiting', reason: 'CrashLoopBackOff' },
      lastTermination: { exitCode: 1, reason: 'Error', startedAt: 'a', finishedAt: 'b' },
    };
    expect(podPhase([waiting])).toBe('Pending');
    expect(podPhase([crashLooping])).toBe('Running');
    expect(podPhase([running('a'), exited('b', 1)])).toBe('Running');
    expect(podPhase([exited('a', 0), exited('b', 0)])).toBe('Succeeded');
    expect(podPhase([exited('a', 0), exited('b', 2)])).toBe('Failed');
  });
});

describe('buildPodStatus', () => {
  it('reports a running pod Ready with its address and container ids, keeping conditions it does not own', () => {
    const status = buildPodStatus({
      ...base,
      containers: [running('main')],
      previousConditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: 'T0' }],
    });
    expect(status).toMatchObject({
      phase: 'Running',
      podIP: '127.0.0.2',
      podIPs: [{ ip: '127.0.0.2' }],
      hostIP: '127.0.0.1',
      startTime: 'start',
    });
    expect(status.conditions).toEqual([
      { type: 'PodScheduled', status: 'True', lastTransitionTime: 'T0' },
      { type: 'PodReadyToStartContainers', status: 'True', lastProbeTime: null, lastTransitionTime: 'T1' },
      { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: 'T1' },
      { type: 'ContainersReady', status: 'True', lastProbeTime: null, lastTransitionTime: 'T1' },
      { type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: 'T1' },
    ]);
    expect(status.containerStatuses).toEqual([
      {
        name: 'main',
        image: 'img',
        imageID: '',
        containerID: 'ardea://42',
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: '2026-01-01T00:00:00.000Z' } },
        lastState: {},
      },
    ]);
  });

  it('changes lastTransitionTime only when a condition changes status', () => {
    const first = buildPodStatus({ ...base, containers: [running('main')] });
    const crashed: ContainerRecord = {
      ...running('main'),
      restartCount: 1,
      state: { kind: 'waiting', reason: 'CrashLoopBackOff', message: 'back-off 10s' },
      lastTermination: { exitCode: 3, reason: 'Error', startedAt: 'a', finishedAt: 'b' },
    };
    const second = buildPodStatus({ ...base, now: 'T2', containers: [crashed], previousConditions: first.conditions as never });
    expect(second.conditions).toEqual([
      { type: 'PodReadyToStartContainers', status: 'True', lastProbeTime: null, lastTransitionTime: 'T1' },
      { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: 'T1' },
      {
        type: 'ContainersReady',
        status: 'False',
        reason: 'ContainersNotReady',
        message: 'containers with unready status: [main]',
        lastProbeTime: null,
        lastTransitionTime: 'T2',
      },
      {
        type: 'Ready',
        status: 'False',
        reason: 'ContainersNotReady',
        message: 'containers with unready status: [main]',
        lastProbeTime: null,
        lastTransitionTime: 'T2',
      },
    ]);
    expect(second.containerStatuses).toEqual([
      expect.objectContaining({
        ready: false,
        restartCount: 1,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s' } },
        lastState: { terminated: { exitCode: 3, reason: 'Error', startedAt: 'a', finishedAt: 'b' } },
      }),
    ]);
  });
});
