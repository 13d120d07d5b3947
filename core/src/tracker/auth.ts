import { isIPv4, isIPv6 } from 'node:net';

/**
 * Whether a listen address is reachable from this machine only: 127.0.0.0/8, ::1 (also written as
 * an IPv4-mapped address) and `localhost`. Anything else — a wildcard (0.0.0.0, ::), an interface
 * address, a host name that resolves who knows where — counts as reachable from elsewhere, so the
 * tracker asks for a token there.
 */
export function isLoopbackAddress(host: string): boolean {
  const address = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (address.toLowerCase() === 'localhost') return true;
  if (isIPv4(address)) return address.split('.')[0] === '127';
  if (isIPv6(address)) {
    const lower = address.toLowerCase();
    const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower) ?? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped) return isLoopbackAddress(mapped[1]!);
    return expandIPv6(lower) === '0000:0000:0000:0000:0000:0000:0000:0001';
  }
  return false;
}

/** The eight groups of an IPv6 address, four hex digits each, so that `::1` and `0:0:0:0:0:0:0:1` compare equal. */
function expandIPv6(address: string): string {
  const [head = '', tail] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].map((group) => group.padStart(4, '0')).join(':');
}
