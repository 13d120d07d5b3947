import { NodeAgentError } from './errors.js';

const DECIMAL_SUFFIXES: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** A Kubernetes resource quantity (`500m`, `2`, `1Gi`, `1e9`) as a plain number of base units (cores, bytes). */
export function parseQuantity(quantity: string): number {
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(quantity.trim());
  if (!match) throw new NodeAgentError(`'${quantity}' is not a Kubernetes quantity (examples: 500m, 2, 1Gi, 1e9)`);
  const [, digits, exponent, suffix = ''] = match;
  const value = Number(digits);
  if (exponent) return value * 10 ** Number(exponent.slice(1));
  return value * (BINARY_SUFFIXES[suffix] ?? DECIMAL_SUFFIXES[suffix] ?? 1);
}

/**
 * A resource value as the downward API renders it: the quantity divided by the divisor, rounded up
 * (so 250m of CPU with the default divisor 1 reads `1`, with divisor `1m` reads `250`).
 */
export function renderResource(value: string, divisor: string | undefined): string {
  const by = parseQuantity(divisor ?? '1');
  if (by <= 0) throw new NodeAgentError(`the divisor '${divisor}' of a resourceFieldRef must be positive`);
  // Rounding noise from the float division (0.25 / 0.001 = 250.00000000000003) must not round up.
  return String(Math.ceil(Number((parseQuantity(value) / by).toPrecision(12))));
}
