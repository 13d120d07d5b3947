// Apart from resources.ts and its schemas, so the topology API can parse byte amounts without zod.

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  k: 1000,
  kb: 1000,
  ki: KiB,
  kib: KiB,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mi: MiB,
  mib: MiB,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gi: GiB,
  gib: GiB,
  t: 1000 ** 4,
  tb: 1000 ** 4,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parses `512MiB`, `1.5GiB`, `200MB`, `2Gi` (Kubernetes style) or a plain number of bytes.
 * Returns undefined when the text is not a byte amount, so callers can report it in their own terms.
 */
export function parseByteAmount(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? Math.round(text) : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!match) return undefined;
  const unit = BYTE_UNITS[(match[2] ?? '').toLowerCase() || 'b'];
  if (unit === undefined) return undefined;
  return Math.round(Number(match[1]) * unit);
}
