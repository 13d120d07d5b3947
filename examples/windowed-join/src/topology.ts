/**
 * Clicks joined to ad impressions over 10 s windows of event time, with the Streamlet API. Both
 * streams are keyed by ad; each click is paired with every impression of its ad in the same 10 s
 * tumbling window (`leftJoin`: a click with none is reported with `impression: null`). Windows are by
 * the records' own timestamps, not the time they are processed, so the output is the same in every run:
 * {@link expectedJoin} computes it without the engine.
 *
 * Both sources are finite and replay the same records each run ({@link impressionRecords},
 * {@link clickRecords}); when they end, every window still open fires. Clicks arrive out of order by up
 * to 9 s, within the source's `maxOutOfOrderMs` of 10 s, so none is late.
 *
 * `--config-property joined.out=<directory>`: every joined record is appended, as one JSON line, to a
 * file of the directory (one per sink instance); without it the sink logs how many it received.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { ComponentContext } from '@ardea/core/api';
import { type Sink, StreamletBuilder, WindowConfig, type WindowedValue } from '@ardea/core/streamlet';

export interface Impression {
  readonly id: string;
  readonly ad: string;
  readonly ts: number;
}

export interface Click {
  readonly id: string;
  readonly ad: string;
  readonly ts: number;
}

/** One line of the output. */
export interface JoinedClick {
  readonly ad: string;
  readonly windowStart: number;
  readonly click: string;
  readonly impression: string | null;
}

export const WINDOW_MS = 10_000;
const IMPRESSIONS = 300;
const ADS = 11;
/** A whole number of windows since the epoch, so windows start at round times. */
const START = 1_767_225_600_000;

/** Impressions in time order, one every 1.3 s, over 11 ads. */
export function impressionRecords(): Impression[] {
  return Array.from({ length: IMPRESSIONS }, (_, i) => ({ id: `imp-${i}`, ad: `ad-${(i * 3) % ADS}`, ts: START + i * 1300 }));
}

/** Zero to two clicks per impression, 0.5 to 9.5 s after it, in the order of their impressions (so out of time order). */
export function clickRecords(): Click[] {
  const clicks: Click[] = [];
  for (const [i, impression] of impressionRecords().entries()) {
    const n = i % 4 === 0 ? 0 : i % 4 === 1 ? 2 : 1;
    for (let c = 0; c < n; c++)
      clicks.push({ id: `click-${i}-${c}`, ad: impression.ad, ts: impression.ts + 500 + ((i * 7919 + c * 4271) % 9001) });
  }
  return clicks;
}

/** The output the topology must produce, computed directly from the records. */
export function expectedJoin(impressions: readonly Impression[], clicks: readonly Click[]): JoinedClick[] {
  const joined: JoinedClick[] = [];
  const windowOf = (ts: number) => Math.floor(ts / WINDOW_MS) * WINDOW_MS;
  for (const click of clicks) {
    const matches = impressions.filter((m) => m.ad === click.ad && windowOf(m.ts) === windowOf(click.ts));
    if (matches.length === 0) joined.push({ ad: click.ad, windowStart: windowOf(click.ts), click: click.id, impression: null });
    for (const m of matches) joined.push({ ad: click.ad, windowStart: windowOf(click.ts), click: click.id, impression: m.id });
  }
  return joined;
}

class JoinedSink implements Sink<WindowedValue<string, { click: string; impression: string | null }>> {
  private file: number | undefined;
  private received = 0;
  private context!: ComponentContext;

  open(context: ComponentContext): void {
    this.context = context;
    const out = context.config.out;
    if (out === undefined) return;
    if (typeof out !== 'string' || !path.isAbsolute(out))
      throw new Error(`joined.out must be an absolute directory path, got ${JSON.stringify(out)}`);
    this.file = openSync(path.join(out, `joined-${context.taskId}.jsonl`), 'a');
  }

  put({ key, window, value }: WindowedValue<string, { click: string; impression: string | null }>): void {
    this.received++;
    const line: JoinedClick = { ad: key, windowStart: window.start, click: value.click, impression: value.impression };
    if (this.file !== undefined) writeSync(this.file, `${JSON.stringify(line)}\n`);
  }

  close(): void {
    if (this.file !== undefined) closeSync(this.file);
    this.context.logger.info(`joined: ${this.received} joined clicks received`);
  }
}

const builder = StreamletBuilder.create('windowed-join').containers(2);
const impressions = builder
  .fromIterable(impressionRecords, { timestamp: (m) => m.ts, maxOutOfOrderMs: 0 })
  .setName('impressions')
  .keyBy(
    (m) => m.ad,
    (m) => m.id,
  )
  .setName('impressions-by-ad');
builder
  .fromIterable(clickRecords, { timestamp: (c) => c.ts, maxOutOfOrderMs: WINDOW_MS })
  .setName('clicks')
  .keyBy(
    (c) => c.ad,
    (c) => c.id,
  )
  .setName('clicks-by-ad')
  .leftJoin(impressions, WindowConfig.tumblingTime(WINDOW_MS), (click, impression) => ({ click, impression: impression ?? null }))
  .setName('join')
  .setNumPartitions(2)
  .toSink(() => new JoinedSink())
  .setName('joined')
  .setNumPartitions(1);

export default builder.build();
