import type { State, StateKey } from '../../api/component.js';
import { TopologyError } from '../../errors/index.js';
import { ByteReader, ByteWriter, writeValue } from '../wire/tuple-codec.js';

/** What an entry was when a snapshot began, if it did not exist yet. */
const ABSENT = Symbol('absent');

/** The group of entries that are the instance's own, not a key's: they never move to another instance. */
export const INSTANCE_GROUP = -1;
const SNAPSHOT_VERSION = 1;
const NO_GROUP = 0xffffffff;

/**
 * The state of one instance, split into key groups. An entry belongs to the group of the tuple being
 * executed when it was created (see {@link State}); whole groups are saved, restored and handed to
 * another instance, so keyed state follows its keys when a component is rescaled.
 */
export class KeyedState implements State {
  private readonly groups = new Map<number, Map<StateKey, unknown>>();
  private readonly groupOf = new Map<StateKey, number>();
  /** The key group of the tuple being executed; undefined outside execute of a keyed tuple. */
  currentGroup: number | undefined;
  /**
   * The key group of the async execute whose code runs now (after an `await`, currentGroup is unset):
   * entries it creates belong to its tuple's key.
   */
  asyncGroup: (() => number | undefined) | undefined;
  /**
   * A snapshot being encoded while the instance runs on: the groups not encoded yet, the values their
   * changed entries had when it began (copy on write, entry by entry: a change costs one map write,
   * whatever the size of its group), and the encoded chunks.
   */
  private snapshot:
    { readonly pending: Set<number>; readonly before: Map<number, Map<StateKey, unknown>>; readonly chunks: Uint8Array[] } | undefined;

  constructor(
    private readonly component: string,
    /** Whether the component reads a fields-grouped stream: its entries then need a current key group. */
    private readonly keyed: boolean,
  ) {}

  get size(): number {
    return this.groupOf.size;
  }

  get(key: StateKey): unknown {
    const group = this.groupOf.get(key);
    return group === undefined ? undefined : this.groups.get(group)!.get(key);
  }

  has(key: StateKey): boolean {
    return this.groupOf.has(key);
  }

  put(key: StateKey, value: unknown): void {
    checkKey(key);
    const existing = this.groupOf.get(key);
    if (existing !== undefined) {
      this.keepForSnapshot(existing, key);
      this.groups.get(existing)!.set(key, value);
      return;
    }
    const group = this.keyed ? (this.currentGroup ?? this.asyncGroup?.()) : INSTANCE_GROUP;
    if (group === undefined) {
      throw new TopologyError(
        `'${this.component}' created state entry ${JSON.stringify(key)} outside the execute of a tuple it reads with ` +
          `fields grouping: an entry of a keyed bolt belongs to the key of the tuple being executed; create it in execute`,
      );
    }
    this.keepForSnapshot(group, key);
    this.groupOf.set(key, group);
    let entries = this.groups.get(group);
    if (!entries) this.groups.set(group, (entries = new Map()));
    entries.set(key, value);
  }

  delete(key: StateKey): boolean {
    const group = this.groupOf.get(key);
    if (group === undefined) return false;
    this.keepForSnapshot(group, key);
    this.groupOf.delete(key);
    const entries = this.groups.get(group)!;
    entries.delete(key);
    if (entries.size === 0) this.groups.delete(group);
    return true;
  }

  *entries(): IterableIterator<[StateKey, unknown]> {
    for (const entries of this.groups.values()) yield* entries.entries();
  }

  /** Key groups holding entries. */
  get groupIds(): number[] {
    return [...this.groups.keys()];
  }

  /** The whole state, or the given groups, encoded at once. */
  encode(groups?: Iterable<number>): Uint8Array {
    const chosen = groups ? [...groups].filter((g) => this.groups.has(g)) : [...this.groups.keys()];
    const writer = new ByteWriter(64 * 1024);
    writeHeader(writer, chosen.length);
    for (const group of chosen) this.writeGroup(writer, group);
    return new Uint8Array(writer.buffer.subarray(0, writer.offset));
  }

  /**
   * Starts a snapshot of the state as it is now, encoded a slice at a time by {@link continueSnapshot}
   * while the instance goes on executing: a large state then stalls processing for one slice at a
   * time, not for all of its encoding. A snapshot still under way is given up.
   */
  beginSnapshot(): void {
    const pending = new Set(this.groups.keys());
    const header = new ByteWriter(16);
    writeHeader(header, pending.size);
    this.snapshot = { pending, before: new Map(), chunks: [new Uint8Array(header.buffer.subarray(0, header.offset))] };
  }

  /** Encodes groups of the snapshot for about `budgetMs`; returns its chunks once every group is in. */
  continueSnapshot(budgetMs: number): Uint8Array[] | undefined {
    const snapshot = this.snapshot;
    if (!snapshot) return undefined;
    const until = performance.now() + budgetMs;
    for (const group of snapshot.pending) {
      this.encodeForSnapshot(group);
      if (performance.now() >= until) break;
    }
    if (snapshot.pending.size > 0) return undefined;
    this.snapshot = undefined;
    return snapshot.chunks;
  }

  /** Gives up a snapshot under way (a rollback replaces the state). */
  abandonSnapshot(): void {
    this.snapshot = undefined;
  }

  /** Before an entry of a group the snapshot under way has not encoded changes, its value is kept for it. */
  private keepForSnapshot(group: number, key: StateKey): void {
    const snapshot = this.snapshot;
    if (!snapshot || !snapshot.pending.has(group)) return;
    let before = snapshot.before.get(group);
    if (!before) snapshot.before.set(group, (before = new Map()));
    if (before.has(key)) return;
    const entries = this.groups.get(group);
    before.set(key, entries?.has(key) ? entries.get(key) : ABSENT);
  }

  /** Encodes a group for the snapshot under way as it was when the snapshot began. */
  private encodeForSnapshot(group: number): void {
    const snapshot = this.snapshot;
    if (!snapshot || !snapshot.pending.delete(group)) return;
    const entries = this.groups.get(group) ?? new Map<StateKey, unknown>();
    const before = snapshot.before.get(group);
    snapshot.before.delete(group);
    const writer = new ByteWriter(16 * 1024);
    writer.u32(group === INSTANCE_GROUP ? NO_GROUP : group);
    const countAt = writer.offset;
    writer.u32(0);
    let count = 0;
    for (const [key, value] of entries) {
      const kept = before?.has(key) ? before.get(key) : value;
      if (kept === ABSENT) continue;
      writeValue(writer, key);
      writeValue(writer, kept);
      count++;
    }
    for (const [key, kept] of before ?? []) {
      if (kept === ABSENT || entries.has(key)) continue;
      writeValue(writer, key);
      writeValue(writer, kept);
      count++;
    }
    writer.buffer.writeUInt32LE(count, countAt);
    snapshot.chunks.push(new Uint8Array(writer.buffer.subarray(0, writer.offset)));
  }

  private writeGroup(writer: ByteWriter, group: number): void {
    const entries = this.groups.get(group)!;
    writer.u32(group === INSTANCE_GROUP ? NO_GROUP : group);
    writer.u32(entries.size);
    for (const [key, value] of entries) {
      writeValue(writer, key);
      writeValue(writer, value);
    }
  }

  /** Adds the groups of an encoded state that `accept` takes (replacing any held under the same group). */
  decode(data: Uint8Array, accept: (group: number) => boolean): void {
    const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const reader = new ByteReader(buffer);
    const version = reader.u32();
    if (version !== SNAPSHOT_VERSION)
      throw new TopologyError(`state snapshot of '${this.component}' has version ${version}, not ${SNAPSHOT_VERSION}`);
    for (let groups = reader.u32(); groups > 0; groups--) {
      const raw = reader.u32();
      const group = raw === NO_GROUP ? INSTANCE_GROUP : raw;
      const take = accept(group);
      if (take) this.dropGroup(group);
      const entries = new Map<StateKey, unknown>();
      for (let n = reader.u32(); n > 0; n--) {
        const key = reader.value() as StateKey;
        const value = reader.value();
        if (take) entries.set(key, value);
      }
      if (!take || entries.size === 0) continue;
      this.groups.set(group, entries);
      for (const key of entries.keys()) this.groupOf.set(key, group);
    }
  }

  /** Removes a group and its entries (it moved to another instance). */
  dropGroup(group: number): void {
    const entries = this.groups.get(group);
    if (!entries) return;
    this.encodeForSnapshot(group);
    for (const key of entries.keys()) this.groupOf.delete(key);
    this.groups.delete(group);
  }
}

function writeHeader(writer: ByteWriter, groups: number): void {
  writer.u32(SNAPSHOT_VERSION);
  writer.u32(groups);
}

function checkKey(key: StateKey): void {
  if (typeof key !== 'string' && typeof key !== 'number')
    throw new TopologyError(`a state key must be a string or a number, not ${key === null ? 'null' : typeof key}`);
}
