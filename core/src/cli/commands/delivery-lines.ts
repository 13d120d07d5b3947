import type { DeliveryMetrics } from '../../model/metrics.js';
import { formatBytes } from '../../model/resources.js';

const at = (ms: number) => new Date(ms).toISOString();

/** An effectively-once topology's last committed checkpoint and its restores, as `describe` and `metrics` print them. */
export function deliveryLines(delivery: DeliveryMetrics): string[] {
  const last = delivery.lastCheckpoint;
  const checkpoint = last
    ? `${last.checkpointId} at ${at(last.completedAt)}, took ${last.durationMs} ms, ${formatBytes(last.bytes)}`
    : 'none committed yet';
  const restore = delivery.lastRestore;
  const target = restore?.checkpointId === undefined ? 'empty state' : `checkpoint ${restore.checkpointId}`;
  const lastRestore = restore ? ` (last at ${at(restore.at)} to ${target}: ${restore.reason})` : '';
  // The topology master counts from its own start: a restart of container 0 starts these again.
  return [
    `last checkpoint: ${checkpoint}; ${delivery.checkpoints} committed since container 0 started`,
    `restores: ${delivery.restores}${lastRestore}`,
  ];
}
