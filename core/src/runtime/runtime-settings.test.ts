import { describe, expect, it } from 'vitest';
import { hungInstanceMsOf, runtimeSettingsOf } from './runtime-settings.js';

describe('the hung-worker threshold', () => {
  it('is the topology setting, 10 s unless set, and a component may override it in its own config', () => {
    const settings = runtimeSettingsOf({ config: {}, components: [] });
    expect(settings.hungInstanceMs).toBe(10_000);
    expect(hungInstanceMsOf(runtimeSettingsOf({ config: { hungInstanceMs: 3000 } }).hungInstanceMs, { config: {} })).toBe(3000);
    expect(hungInstanceMsOf(settings.hungInstanceMs, { config: { hungInstanceMs: 0 } })).toBe(0);
  });

  it('is checked per component at submit', () => {
    expect(() =>
      runtimeSettingsOf({
        config: {},
        components: [{ name: 'slow', kind: 'bolt', parallelism: 1, config: { hungInstanceMs: 'long' }, outputs: [], inputs: [] }],
      }),
    ).toThrow(/component 'slow' config hungInstanceMs: /);
    expect(() => runtimeSettingsOf({ config: { hungInstanceMs: -1 } })).toThrow(/topology config hungInstanceMs: /);
  });
});
