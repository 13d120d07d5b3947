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

describe('async component settings', () => {
  const withConfig = (config: Record<string, unknown>) => ({
    config: {},
    components: [{ name: 'lookup', kind: 'bolt' as const, parallelism: 1, config, outputs: [], inputs: [] }],
  });

  it('accept a positive whole maxInFlight and a boolean ordered', () => {
    expect(() => runtimeSettingsOf(withConfig({ maxInFlight: 50, ordered: false }))).not.toThrow();
  });

  it('reject a maxInFlight below 1 or not a whole number, and an ordered that is not a boolean, naming the component', () => {
    expect(() => runtimeSettingsOf(withConfig({ maxInFlight: 0 }))).toThrow(/component 'lookup' config maxInFlight: /);
    expect(() => runtimeSettingsOf(withConfig({ maxInFlight: 2.5 }))).toThrow(/component 'lookup' config maxInFlight: /);
    expect(() => runtimeSettingsOf(withConfig({ ordered: 'yes' }))).toThrow(/component 'lookup' config ordered: /);
  });
});
