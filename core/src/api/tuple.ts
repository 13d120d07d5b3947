import { TopologyError } from '../errors/index.js';

/** Stream on which the system delivers tick tuples to bolts that asked for them. */
export const TICK_STREAM = '__tick';
/** Source component of system tuples (ticks). */
export const SYSTEM_COMPONENT = '__system';

/** A tuple as a bolt receives it: values in the order of the stream's declared fields. */
export interface Tuple {
  readonly sourceComponent: string;
  readonly sourceTask: number;
  readonly stream: string;
  readonly fields: readonly string[];
  readonly values: readonly unknown[];
  /** The value of a declared field; throws `TopologyError` for a field the stream does not declare. */
  get(field: string): unknown;
  getString(field: string): string;
  getNumber(field: string): number;
  /** True for the tick tuples the system sends on {@link TICK_STREAM}. */
  readonly isTick: boolean;
}

/**
 * The runtime's tuple. Field positions are looked up through a per-stream index shared by every tuple
 * of that stream, so reading a field costs one map lookup and no allocation.
 */
export class RuntimeTuple implements Tuple {
  constructor(
    readonly sourceComponent: string,
    readonly sourceTask: number,
    readonly stream: string,
    private readonly schema: StreamSchema,
    readonly values: readonly unknown[],
  ) {}

  get fields(): readonly string[] {
    return this.schema.fields;
  }

  get isTick(): boolean {
    return this.stream === TICK_STREAM;
  }

  get(field: string): unknown {
    const index = this.schema.indexOf.get(field);
    if (index === undefined) {
      throw new TopologyError(
        `tuple from '${this.sourceComponent}' on stream '${this.stream}' has no ` +
          `field '${field}' (fields: ${this.schema.fields.join(', ') || 'none'})`,
      );
    }
    return this.values[index];
  }

  getString(field: string): string {
    const value = this.get(field);
    if (typeof value !== 'string') throw new TopologyError(`field '${field}' of stream '${this.stream}' is ${typeof value}, not a string`);
    return value;
  }

  getNumber(field: string): number {
    const value = this.get(field);
    if (typeof value !== 'number') throw new TopologyError(`field '${field}' of stream '${this.stream}' is ${typeof value}, not a number`);
    return value;
  }
}

/** The declared fields of one stream and their positions. */
export class StreamSchema {
  readonly indexOf: ReadonlyMap<string, number>;

  constructor(readonly fields: readonly string[]) {
    this.indexOf = new Map(fields.map((field, index) => [field, index]));
  }
}
