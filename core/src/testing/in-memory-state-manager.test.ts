import { describe, expect, it } from 'vitest';
import { StateManagerError } from '../errors/index.js';
import { InMemoryStateManager, InMemoryStateStore } from './in-memory-state-manager.js';
import { describeStateManagerConformance, sampleStateRecord } from './state-manager-conformance.js';

const store = new InMemoryStateStore();

describeStateManagerConformance('InMemoryStateManager', {
  create: async () => new InMemoryStateManager({ store }),
  createPeer: async () => new InMemoryStateManager({ store }),
  eventTimeoutMs: 2000,
});

describe('InMemoryStateManager', () => {
  it('keeps clients without a shared store apart', async () => {
    const [a, b] = [new InMemoryStateManager(), new InMemoryStateManager()];
    await Promise.all([a.start(), b.start()]);
    await a.set('topology', 'apart', sampleStateRecord('topology', 'apart'));
    expect(await b.get('topology', 'apart')).toBeUndefined();
    await Promise.all([a.close(), b.close()]);
  });

  it('refuses calls before start and after close, and cannot be started again', async () => {
    const client = new InMemoryStateManager();
    await expect(client.get('topology', 'x')).rejects.toBeInstanceOf(StateManagerError);
    await client.start();
    await client.close();
    await expect(client.get('topology', 'x')).rejects.toThrow(/is closed/);
    await expect(client.start()).rejects.toThrow(/is closed/);
  });
});
