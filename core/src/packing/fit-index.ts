import type { Resources } from '../model/resources.js';
import type { ContainerSlot, PlanBuilder } from './plan-builder.js';

/** Pruning slack above the per-instance check's own CPU tolerance, so pruning never hides a fit. */
const PRUNE_SLACK = 1e-7;

export interface FitQuery {
  /** First container position to consider; positions are indexes into `builder.containers`. */
  readonly from?: number;
  /** Only containers with at least this many free instance places. */
  readonly minFreePlaces?: number;
}

/**
 * Finds the first container (in `builder.containers` order) an instance fits, in about log(n)
 * steps instead of a scan. A segment tree keeps, per range of containers, the largest free amount
 * of each dimension and of instance places; a range whose maxima fall short in any dimension cannot
 * hold the instance and is skipped. The maxima come from different containers, so a range may pass
 * and still hold no fit; the leaf check is the builder's own `fits`, so answers are exact either way.
 *
 * The builder's containers must only change through {@link place}, {@link open} and
 * {@link refresh}, or the index goes stale.
 */
export class FitIndex {
  private size = 1;
  private cpu = new Float64Array(2);
  private ram = new Float64Array(2);
  private disk = new Float64Array(2);
  private places = new Float64Array(2);

  constructor(
    private readonly builder: PlanBuilder,
    expectedContainers = 0,
  ) {
    this.rebuild(Math.max(builder.containers.length, expectedContainers, 1));
  }

  get length(): number {
    return this.builder.containers.length;
  }

  slot(position: number): ContainerSlot {
    return this.builder.containers[position]!;
  }

  /** Opens a container at the end (the highest id) and returns its position. */
  open(): number {
    this.builder.openContainer();
    const position = this.builder.containers.length - 1;
    if (position >= this.size) this.rebuild(this.size * 2);
    else this.refresh(position);
    return position;
  }

  place(position: number, component: string, resources: Resources): void {
    this.builder.place(this.slot(position), component, resources);
    this.refresh(position);
  }

  /** Re-reads one container after it changed. */
  refresh(position: number): void {
    let node = this.size + position;
    this.setLeaf(node, this.slot(position));
    for (node >>= 1; node >= 1; node >>= 1) this.pull(node);
  }

  /** The most free instance places of any container, or 0 when there are none. */
  maxFreePlaces(): number {
    return Math.max(0, this.places[1]!);
  }

  /** Position of the first container from `from` on that fits, or -1. */
  firstFit(resources: Resources, query: FitQuery = {}): number {
    const from = query.from ?? 0;
    const minPlaces = Math.max(1, query.minFreePlaces ?? 1);
    if (from >= this.length) return -1;
    return this.search(1, 0, this.size, from, resources, minPlaces);
  }

  /** Like {@link firstFit} from `from`, wrapping round to the start: the next fit in round-robin order. */
  nextFit(resources: Resources, from: number): number {
    const ahead = this.firstFit(resources, { from });
    return ahead >= 0 || from === 0 ? ahead : this.firstFit(resources, { from: 0 });
  }

  private search(node: number, lo: number, hi: number, from: number, r: Resources, minPlaces: number): number {
    if (hi <= from) return -1;
    if (
      this.places[node]! < minPlaces ||
      this.cpu[node]! < r.cpu - PRUNE_SLACK ||
      this.ram[node]! < r.ramBytes ||
      this.disk[node]! < r.diskBytes
    ) {
      return -1;
    }
    if (node >= this.size) {
      const position = node - this.size;
      const slot = this.slot(position);
      const free = this.builder.limits.maxInstances - slot.instances.length;
      return free >= minPlaces && this.builder.fits(slot, r) ? position : -1;
    }
    const mid = (lo + hi) >> 1;
    const left = this.search(2 * node, lo, mid, from, r, minPlaces);
    return left >= 0 ? left : this.search(2 * node + 1, mid, hi, from, r, minPlaces);
  }

  private rebuild(minimum: number): void {
    let size = 1;
    while (size < minimum) size *= 2;
    this.size = size;
    this.cpu = new Float64Array(2 * size).fill(-Infinity);
    this.ram = new Float64Array(2 * size).fill(-Infinity);
    this.disk = new Float64Array(2 * size).fill(-Infinity);
    this.places = new Float64Array(2 * size).fill(-Infinity);
    const containers = this.builder.containers;
    for (let position = 0; position < containers.length; position++) this.setLeaf(size + position, containers[position]!);
    for (let node = size - 1; node >= 1; node--) this.pull(node);
  }

  private setLeaf(node: number, slot: ContainerSlot): void {
    const { capacity, maxInstances } = this.builder.limits;
    this.cpu[node] = capacity.cpu - slot.cpu;
    this.ram[node] = capacity.ramBytes - slot.ramBytes;
    this.disk[node] = capacity.diskBytes - slot.diskBytes;
    this.places[node] = maxInstances - slot.instances.length;
  }

  private pull(node: number): void {
    const left = 2 * node;
    const right = left + 1;
    this.cpu[node] = Math.max(this.cpu[left]!, this.cpu[right]!);
    this.ram[node] = Math.max(this.ram[left]!, this.ram[right]!);
    this.disk[node] = Math.max(this.disk[left]!, this.disk[right]!);
    this.places[node] = Math.max(this.places[left]!, this.places[right]!);
  }
}
