import { z } from 'zod';
import { GiB, MiB, parseByteAmount } from './byte-amount.js';

export { GiB, KiB, MiB, parseByteAmount } from './byte-amount.js';

/** CPU in cores (fractions allowed), RAM and disk in bytes. */
export interface Resources {
  readonly cpu: number;
  readonly ramBytes: number;
  readonly diskBytes: number;
}

export const ZERO_RESOURCES: Resources = Object.freeze({ cpu: 0, ramBytes: 0, diskBytes: 0 });

export function resources(cpu: number, ramBytes: number, diskBytes: number): Resources {
  return { cpu, ramBytes, diskBytes };
}

export function addResources(a: Resources, b: Resources): Resources {
  return { cpu: a.cpu + b.cpu, ramBytes: a.ramBytes + b.ramBytes, diskBytes: a.diskBytes + b.diskBytes };
}

/** Component-wise `a - b`, floored at zero. */
export function subtractResources(a: Resources, b: Resources): Resources {
  return {
    cpu: Math.max(0, a.cpu - b.cpu),
    ramBytes: Math.max(0, a.ramBytes - b.ramBytes),
    diskBytes: Math.max(0, a.diskBytes - b.diskBytes),
  };
}

export function scaleResources(a: Resources, factor: number): Resources {
  return { cpu: a.cpu * factor, ramBytes: Math.round(a.ramBytes * factor), diskBytes: Math.round(a.diskBytes * factor) };
}

export function maxResources(a: Resources, b: Resources): Resources {
  return {
    cpu: Math.max(a.cpu, b.cpu),
    ramBytes: Math.max(a.ramBytes, b.ramBytes),
    diskBytes: Math.max(a.diskBytes, b.diskBytes),
  };
}

/** CPU sums accumulate binary rounding error; compare with a tolerance far below any meaningful share. */
const CPU_EPSILON = 1e-9;

/** True when `inner` fits within `outer` in every dimension. */
export function fitsWithin(inner: Resources, outer: Resources): boolean {
  return inner.cpu <= outer.cpu + CPU_EPSILON && inner.ramBytes <= outer.ramBytes && inner.diskBytes <= outer.diskBytes;
}

export function resourcesEqual(a: Resources, b: Resources): boolean {
  return Math.abs(a.cpu - b.cpu) <= CPU_EPSILON && a.ramBytes === b.ramBytes && a.diskBytes === b.diskBytes;
}

export function formatBytes(bytes: number): string {
  if (bytes % GiB === 0 && bytes >= GiB) return `${bytes / GiB}GiB`;
  if (bytes % MiB === 0 && bytes >= MiB) return `${bytes / MiB}MiB`;
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(2)}GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(1)}MiB`;
  return `${bytes}B`;
}

export function formatResources(r: Resources): string {
  return `cpu=${Number(r.cpu.toFixed(3))} ram=${formatBytes(r.ramBytes)} disk=${formatBytes(r.diskBytes)}`;
}

/** A byte amount in config: a number of bytes or a string with a unit (`512MiB`, `2GiB`). */
export const ByteAmountSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const bytes = parseByteAmount(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a byte amount such as 512MiB or 2GiB, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return bytes;
});

export const ResourcesSchema = z
  .object({ cpu: z.number().nonnegative(), ramBytes: z.number().int().nonnegative(), diskBytes: z.number().int().nonnegative() })
  .strict();

/** Resources as written by people in YAML: `{ cpu: 1, ram: 1GiB, disk: 2GiB }`, every key optional. */
export const ResourceRequestSchema = z
  .object({ cpu: z.number().positive().optional(), ram: ByteAmountSchema.optional(), disk: ByteAmountSchema.optional() })
  .strict();
export type ResourceRequest = { readonly cpu?: number; readonly ramBytes?: number; readonly diskBytes?: number };

export function toResourceRequest(value: z.output<typeof ResourceRequestSchema>): ResourceRequest {
  return {
    ...(value.cpu === undefined ? {} : { cpu: value.cpu }),
    ...(value.ram === undefined ? {} : { ramBytes: value.ram }),
    ...(value.disk === undefined ? {} : { diskBytes: value.disk }),
  };
}

export function withDefaults(request: ResourceRequest | undefined, defaults: Resources): Resources {
  return {
    cpu: request?.cpu ?? defaults.cpu,
    ramBytes: request?.ramBytes ?? defaults.ramBytes,
    diskBytes: request?.diskBytes ?? defaults.diskBytes,
  };
}
