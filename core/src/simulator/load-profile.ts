/** Offered source rate λ0(t), in tuples per second, as a function of virtual seconds. */
export type LoadProfile =
  | { readonly type: 'constant'; readonly rate: number }
  | { readonly type: 'steps'; readonly rate: number; readonly steps: ReadonlyArray<{ readonly at: number; readonly rate: number }> }
  | { readonly type: 'square'; readonly low: number; readonly high: number; readonly period: number; readonly start?: number }
  | { readonly type: 'sine'; readonly low: number; readonly high: number; readonly period: number; readonly start?: number }
  | {
      readonly type: 'spikes';
      readonly rate: number;
      readonly spikes: ReadonlyArray<{ readonly at: number; readonly duration: number; readonly rate: number }>;
    };

export function offeredRate(profile: LoadProfile, seconds: number): number {
  switch (profile.type) {
    case 'constant':
      return profile.rate;
    case 'steps': {
      let rate = profile.rate;
      for (const step of profile.steps) if (seconds >= step.at) rate = step.rate;
      return rate;
    }
    case 'square': {
      const phase = positiveModulo(seconds - (profile.start ?? 0), profile.period);
      // Low first, so a run starts in the state its initial parallelism is usually sized for.
      return phase < profile.period / 2 ? profile.low : profile.high;
    }
    case 'sine': {
      const phase = positiveModulo(seconds - (profile.start ?? 0), profile.period) / profile.period;
      return profile.low + ((profile.high - profile.low) * (1 - Math.cos(2 * Math.PI * phase))) / 2;
    }
    case 'spikes': {
      const spike = profile.spikes.find((s) => seconds >= s.at && seconds < s.at + s.duration);
      return spike ? spike.rate : profile.rate;
    }
  }
}

function positiveModulo(value: number, modulus: number): number {
  return ((value % modulus) + modulus) % modulus;
}
