import { describe, expect, it } from 'vitest';
import { datacenterMatches, interpolate, metaEnvironment, parseGoDuration } from './util.js';
import { formatGoDuration } from './runner.js';

describe('helpers', () => {
  it('parses Go durations to nanoseconds', () => {
    expect(parseGoDuration('5s')).toBe(5e9);
    expect(parseGoDuration('300ms')).toBe(3e8);
    expect(parseGoDuration('1m30s')).toBe(90e9);
    expect(parseGoDuration('1.5h')).toBe(5400e9);
    expect(parseGoDuration('0')).toBe(0);
    for (const bad of ['', '5', 'banana', '5x', 's']) expect(parseGoDuration(bad)).toBeUndefined();
  });

  it('formats durations as Go does', () => {
    expect(formatGoDuration(1800e9)).toBe('30m0s');
    expect(formatGoDuration(1e8)).toBe('100ms');
    expect(formatGoDuration(3661e9)).toBe('1h1m1s');
  });

  it('matches datacenters with * globs', () => {
    expect(datacenterMatches('*', 'dc1')).toBe(true);
    expect(datacenterMatches('dc*', 'dc1')).toBe(true);
    expect(datacenterMatches('*1', 'dc1')).toBe(true);
    expect(datacenterMatches('d*1', 'dc1')).toBe(true);
    expect(datacenterMatches('dc2', 'dc1')).toBe(false);
    expect(datacenterMatches('e*', 'dc1')).toBe(false);
    expect(datacenterMatches('dc1*1', 'dc1')).toBe(false);
  });

  it('exports meta keys as written and normalized', () => {
    expect(metaEnvironment({ 'container.index': '2' })).toEqual({
      'NOMAD_META_container.index': '2',
      NOMAD_META_CONTAINER_INDEX: '2',
    });
  });

  it('interpolates NOMAD variables, env["X"] and node variables, leaving unknown ones', () => {
    const env = { NOMAD_ALLOC_INDEX: '3', HOME: '/h' };
    expect(interpolate('--shard=${NOMAD_ALLOC_INDEX}', env)).toBe('--shard=3');
    expect(interpolate('${env["HOME"]}/x', env)).toBe('/h/x');
    expect(interpolate('${node.unique.name}', env, { 'node.unique.name': 'n1' })).toBe('n1');
    expect(interpolate('${NOMAD_PORT_server}', env)).toBe('${NOMAD_PORT_server}');
  });
});
