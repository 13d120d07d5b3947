import { TopologyError } from '../errors/index.js';

/**
 * How a windowed operator groups the elements of each key. Time windows are by the elements'
 * timestamps (event time when the source has a timestamp extractor, the time the source read the
 * element otherwise) and fire when the watermark passes their end; count windows are by the number of
 * elements of the key and fire as the element that completes them arrives.
 */
export type WindowConfig =
  | { readonly kind: 'time'; readonly sizeMs: number; readonly slideMs: number }
  | { readonly kind: 'count'; readonly size: number; readonly slide: number };

/** A window as results report it: `[start, end)` in ms for time windows, element positions (0-based) of the key for count windows. */
export interface Window {
  readonly start: number;
  readonly end: number;
}

/** What a windowed operator emits: one value per key and window. */
export interface WindowedValue<K, T> {
  readonly key: K;
  readonly window: Window;
  readonly value: T;
}

function positiveWhole(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new TopologyError(`${what} must be a whole number greater than 0, got ${value}`);
  return value;
}

export const WindowConfig = {
  /** Back-to-back windows of `sizeMs`: each element is in exactly one. */
  tumblingTime(sizeMs: number): WindowConfig {
    return WindowConfig.slidingTime(sizeMs, sizeMs);
  },
  /** Windows of `sizeMs` starting every `slideMs` (at multiples of it): an element is in about sizeMs/slideMs of them. */
  slidingTime(sizeMs: number, slideMs: number): WindowConfig {
    positiveWhole('window size (ms)', sizeMs);
    positiveWhole('window slide (ms)', slideMs);
    if (slideMs > sizeMs)
      throw new TopologyError(`window slide ${slideMs} ms exceeds its size ${sizeMs} ms: elements between windows would be lost`);
    return { kind: 'time', sizeMs, slideMs };
  },
  /** Every `size` elements of a key form one window. */
  tumblingCount(size: number): WindowConfig {
    return WindowConfig.slidingCount(size, size);
  },
  /** The last `size` elements of a key, every `slide` elements once `size` have arrived. */
  slidingCount(size: number, slide: number): WindowConfig {
    positiveWhole('window size (elements)', size);
    positiveWhole('window slide (elements)', slide);
    if (slide > size) throw new TopologyError(`window slide ${slide} exceeds its size ${size}: elements between windows would be lost`);
    return { kind: 'count', size, slide };
  },
};

/** Starts of the time windows that hold timestamp `ts`, earliest first. */
export function windowStarts(window: { sizeMs: number; slideMs: number }, ts: number): number[] {
  const last = ts - mod(ts, window.slideMs);
  const starts: number[] = [];
  for (let start = last; start > ts - window.sizeMs; start -= window.slideMs) starts.unshift(start);
  return starts;
}

/** A window fires once the watermark reaches its last millisecond: no element of it can still come. */
export function hasFired(start: number, sizeMs: number, watermark: number): boolean {
  return start + sizeMs - 1 <= watermark;
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}
