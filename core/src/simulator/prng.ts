/**
 * The simulator's only source of randomness. Math.random and wall time would make two runs of one
 * seed differ; a small explicit generator keeps every run reproducible bit for bit, across Node
 * versions and platforms (it uses only 32-bit integer arithmetic).
 */
export class Prng {
  private state: number;
  private spareNormal: number | undefined;

  constructor(seed: number) {
    this.state = mix32(seed >>> 0) || 0x9e3779b9;
  }

  /** mulberry32: uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal by Box–Muller; the second value of each pair is kept for the next call. */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const spare = this.spareNormal;
      this.spareNormal = undefined;
      return spare;
    }
    // 1 - next() is in (0, 1], so the logarithm is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.next()));
    const angle = 2 * Math.PI * this.next();
    this.spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /**
   * A multiplicative factor with mean 1 and coefficient of variation `cv`: lognormal with
   * σ² = ln(1 + cv²) and μ = −σ²/2, so noise never turns a rate negative and does not bias the mean.
   */
  lognormalFactor(cv: number): number {
    if (cv <= 0) return 1;
    const sigma = Math.sqrt(Math.log(1 + cv * cv));
    return Math.exp(sigma * this.normal() - (sigma * sigma) / 2);
  }

  /** Poisson-like count with the given mean: exact for small means, normal approximation above 50. */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit) {
      k++;
      p *= this.next();
    }
    return k;
  }
}

/** A 32-bit integer finaliser (from murmur3): derives independent seeds and hashes keys. */
export function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A seed for one independent stream of a run (model, noise…), so one stream's draws never shift another's. */
export function streamSeed(seed: number, stream: number): number {
  return mix32((mix32(seed >>> 0) ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0);
}
