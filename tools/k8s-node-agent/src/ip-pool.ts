import { AgentConfigError } from './errors.js';

function toNumber(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

function toAddress(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/**
 * Loopback addresses for pods, one per live pod, from a CIDR such as 127.0.0.0/16 (Linux routes all of
 * 127/8 to the loopback interface, so every address works without configuration). An address is
 * handed out again only after its pod's processes are gone.
 */
export class IpPool {
  private readonly first: number;
  private readonly last: number;
  private readonly used = new Set<number>();

  constructor(
    cidr: string,
    private readonly reserved: readonly string[],
  ) {
    const [address, bitsText] = cidr.split('/');
    const base = toNumber(address ?? '');
    const bits = Number(bitsText);
    if (base === undefined || !Number.isInteger(bits) || bits < 8 || bits > 30) {
      throw new AgentConfigError(`--pod-cidr '${cidr}' is not an IPv4 CIDR between /8 and /30 (example: 127.0.0.0/16)`);
    }
    const size = 2 ** (32 - bits);
    const network = base - (base % size);
    this.first = network + 1;
    this.last = network + size - 2;
  }

  /** An address for a new pod: `preferred` (the one its status shows, after an agent restart) if it is free. */
  allocate(preferred?: string): string {
    const wanted = preferred === undefined ? undefined : toNumber(preferred);
    if (wanted !== undefined && wanted >= this.first && wanted <= this.last && this.isFree(wanted)) {
      this.used.add(wanted);
      return toAddress(wanted);
    }
    for (let candidate = this.first; candidate <= this.last; candidate++) {
      if (this.isFree(candidate)) {
        this.used.add(candidate);
        return toAddress(candidate);
      }
    }
    throw new AgentConfigError(`every pod address of the pod CIDR is in use (${this.used.size}); give the agent a larger --pod-cidr`);
  }

  release(ip: string): void {
    const value = toNumber(ip);
    if (value !== undefined) this.used.delete(value);
  }

  private isFree(value: number): boolean {
    return !this.used.has(value) && !this.reserved.includes(toAddress(value));
  }
}
