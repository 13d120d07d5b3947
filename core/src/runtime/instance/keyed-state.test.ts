import { describe, expect, it } from 'vitest';
import { INSTANCE_GROUP, KeyedState } from './keyed-state.js';

function restored(data: Uint8Array, keyed: boolean, accept: (group: number) => boolean = () => true): KeyedState {
  const state = new KeyedState('count', keyed);
  state.decode(data, accept);
  return state;
}

function entriesOf(state: KeyedState): Record<string, unknown> {
  return Object.fromEntries([...state.entries()].map(([k, v]) => [String(k), v]));
}

describe('KeyedState', () => {
  it('files a new entry under the key group of the tuple being executed, and refuses one outside a tuple', () => {
    const state = new KeyedState('count', true);
    state.currentGroup = 7;
    state.put('apple', 1);
    state.currentGroup = 9;
    state.put('pear', 2);
    // An existing entry stays in its group, wherever it is changed from.
    state.put('apple', 3);
    state.currentGroup = undefined;
    state.put('pear', 4);
    expect(state.get('apple')).toBe(3);
    expect(state.size).toBe(2);
    expect(state.groupIds.sort()).toEqual([7, 9]);
    expect(() => state.put('plum', 1)).toThrow(/outside the execute of a tuple/);
    expect(state.delete('apple')).toBe(true);
    expect(state.has('apple')).toBe(false);
    expect(state.groupIds).toEqual([9]);
  });

  it('keeps the state of a component without keyed input in the instance group', () => {
    const state = new KeyedState('spout', false);
    state.put('next', 42);
    expect(state.groupIds).toEqual([INSTANCE_GROUP]);
    expect(entriesOf(restored(state.encode(), false))).toEqual({ next: 42 });
  });

  it('restores only the key groups it is asked to take, and hands chosen groups over', () => {
    const state = new KeyedState('count', true);
    for (let group = 0; group < 10; group++) {
      state.currentGroup = group;
      state.put(`word${group}`, group * 10);
    }
    const evens = restored(state.encode(), true, (group) => group % 2 === 0);
    expect(Object.keys(entriesOf(evens)).sort()).toEqual(['word0', 'word2', 'word4', 'word6', 'word8']);
    const moved = state.encode([3, 4]);
    state.dropGroup(3);
    state.dropGroup(4);
    expect(state.has('word3')).toBe(false);
    const receiver = new KeyedState('count', true);
    receiver.decode(moved, (group) => [3, 4].includes(group));
    expect(entriesOf(receiver)).toEqual({ word3: 30, word4: 40 });
  });

  it('snapshots the state as it was when the snapshot began, while it keeps changing', () => {
    const state = new KeyedState('count', true);
    for (let group = 0; group < 50; group++) {
      state.currentGroup = group;
      for (let i = 0; i < 20; i++) state.put(`k${group}.${i}`, i);
    }
    state.beginSnapshot();
    state.currentGroup = 3;
    state.put('k3.0', 'changed');
    state.put('k3.new', 'added');
    state.delete('k4.1');
    state.currentGroup = 60;
    state.put('k60.0', 'new group');
    let chunks: Uint8Array[] | undefined;
    // A zero budget still encodes at least one group per slice, so this ends.
    for (let slices = 0; !chunks; slices++) {
      chunks = state.continueSnapshot(0);
      state.currentGroup = 10;
      state.put('k10.1', 'changed later');
      expect(slices).toBeLessThan(100);
    }
    const snapshot = restored(Buffer.concat(chunks), true);
    expect(snapshot.size).toBe(50 * 20);
    expect(snapshot.get('k3.0')).toBe(0);
    expect(snapshot.has('k3.new')).toBe(false);
    expect(snapshot.get('k4.1')).toBe(1);
    expect(snapshot.get('k10.1')).toBe(1);
    expect(snapshot.has('k60.0')).toBe(false);
    expect(state.get('k10.1')).toBe('changed later');
  });

  it('refuses keys that are neither strings nor numbers', () => {
    const state = new KeyedState('count', false);
    expect(() => state.put({} as unknown as string, 1)).toThrow(/string or a number/);
  });
});
