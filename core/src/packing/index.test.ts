import 'reflect-metadata';
import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { PackingError } from '../errors/index.js';
import { PackingAlgorithm, RepackingAlgorithm } from '../spi/packing.js';
import {
  BUILTIN_PACKING_ALGORITHMS,
  builtinPackingModule,
  FirstFitDecreasingPacking,
  selectPackingAlgorithm,
  selectRepackingAlgorithm,
} from './index.js';

const NAMES = ['round-robin', 'first-fit-decreasing', 'resource-compliant-round-robin'];

function loaded(): Container {
  const container = new Container();
  container.load(builtinPackingModule);
  return container;
}

describe('builtinPackingModule', () => {
  it('contributes every built-in algorithm under both tokens, one object per class', () => {
    const container = loaded();
    const packing = container.getAll<PackingAlgorithm>(PackingAlgorithm);
    const repacking = container.getAll<RepackingAlgorithm>(RepackingAlgorithm);
    expect(packing.map((a) => a.name)).toEqual(NAMES);
    expect(repacking.map((a) => a.name)).toEqual(NAMES);
    packing.forEach((algorithm, i) => expect(repacking[i]).toBe(algorithm));
    expect(container.get(FirstFitDecreasingPacking)).toBe(packing[1]);
  });

  it('lists the classes it binds', () => {
    expect(BUILTIN_PACKING_ALGORITHMS.map((algorithm) => new algorithm().name)).toEqual(NAMES);
  });
});

describe('selectPackingAlgorithm', () => {
  it('picks by name from a container or a list', () => {
    const container = loaded();
    expect(selectPackingAlgorithm(container, 'first-fit-decreasing')).toBeInstanceOf(FirstFitDecreasingPacking);
    expect(selectRepackingAlgorithm(container, 'round-robin').name).toBe('round-robin');
    expect(selectPackingAlgorithm(container.getAll<RepackingAlgorithm>(RepackingAlgorithm), 'round-robin').name).toBe('round-robin');
  });

  it('names the known algorithms when the name is unknown', () => {
    expect(() => selectPackingAlgorithm(loaded(), 'best-fit')).toThrow(
      new PackingError(
        "unknown packing algorithm 'best-fit'; known: first-fit-decreasing, resource-compliant-round-robin, round-robin " +
          '(algorithms from plugins need the plugin listed under packing.plugins)',
      ),
    );
    expect(() => selectRepackingAlgorithm(new Container(), 'round-robin')).toThrow(
      /unknown repacking algorithm 'round-robin'; known: none/,
    );
  });

  it('refuses a name two algorithms share', () => {
    const twin = { name: 'round-robin', pack: () => ({ topologyId: 'x', containers: [] }) };
    expect(() => selectPackingAlgorithm([...loaded().getAll<PackingAlgorithm>(PackingAlgorithm), twin], 'round-robin')).toThrow(
      /2 packing algorithms are named 'round-robin'/,
    );
  });
});
