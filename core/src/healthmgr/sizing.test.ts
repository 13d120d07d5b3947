import { describe, expect, it } from 'vitest';
import { recordedWindow } from '../testing/health-policy-testing.js';
import { MeasurementIndex, METRIC } from './measurements.js';
import { spoutOfferedRate } from './sizing.js';

describe('the rate data arrives at a spout', () => {
  it('is what it emitted plus what piled up at the source, when the spout reports its backlog', () => {
    const window = recordedWindow({ container_1_source_1: { emitRate: 300 }, container_2_source_2: { emitRate: 300 } }, { source: 0.5 });
    const draining = [...window, ...['container_1_source_1', 'container_2_source_2'].map((instance) => ({ component: 'source', instance, metric: METRIC.backlogGrowth, timestamp: 0, value: -100 }))];
    // Catching up: 600/s leave the queue, 200/s fewer than that arrive. Paused time does not matter.
    expect(spoutOfferedRate(new MeasurementIndex(draining), 'source')).toBe(400);
  });

  it('is the emit rate over the unpaused time otherwise', () => {
    const window = recordedWindow({ container_1_source_1: { emitRate: 300 } }, { source: 0.5 });
    expect(spoutOfferedRate(new MeasurementIndex(window), 'source')).toBe(600);
  });
});
