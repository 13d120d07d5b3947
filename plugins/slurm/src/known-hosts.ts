import { createHash, createHmac } from 'node:crypto';

/** One key a known_hosts file accepts for a host. */
export interface KnownHostKey {
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ... */
  readonly type: string;
  /** The public key blob, as the server sends it during the handshake. */
  readonly blob: Buffer;
  readonly line: number;
}

export interface KnownHostMatch {
  readonly accepted: KnownHostKey[];
  /** Keys marked `@revoked`: never accepted, even when also listed plainly. */
  readonly revoked: KnownHostKey[];
}

/**
 * The name OpenSSH looks a host up by: `host` on port 22, `[host]:port` otherwise. known_hosts files
 * written by `ssh` and `ssh-keyscan` use the same form.
 */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/**
 * The keys a known_hosts file holds for `host:port`, following OpenSSH's format: comma-separated host
 * patterns with `*`/`?` wildcards and `!` negation, hashed entries (`|1|salt|hmac`), and the
 * `@revoked` marker. `@cert-authority` lines are skipped: certificate host keys are not supported,
 * so such a host fails verification and the error tells the user to add the plain key.
 */
export function findKnownHostKeys(content: string, host: string, port: number): KnownHostMatch {
  const names = [knownHostsName(host, port)];
  const accepted: KnownHostKey[] = [];
  const revoked: KnownHostKey[] = [];
  content.split(/\r?\n/).forEach((raw, index) => {
    const text = raw.trim();
    if (!text || text.startsWith('#')) return;
    const fields = text.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]!.startsWith('@')) marker = fields.shift();
    if (marker === '@cert-authority') return;
    const [patterns, type, base64] = fields;
    if (!patterns || !type || !base64) return;
    if (!names.some((name) => hostMatches(patterns, name))) return;
    const blob = Buffer.from(base64, 'base64');
    if (blob.length === 0) return;
    const key = { type, blob, line: index + 1 };
    (marker === '@revoked' ? revoked : accepted).push(key);
  });
  return { accepted, revoked };
}

function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) return hashedMatches(patterns, name);
  let matched = false;
  for (const pattern of patterns.split(',')) {
    const negated = pattern.startsWith('!');
    if (!globMatches(negated ? pattern.slice(1) : pattern, name)) continue;
    // A matching negated pattern rules the line out whatever else matches.
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function hashedMatches(entry: string, name: string): boolean {
  const [, , salt, hash] = entry.split('|');
  if (!salt || !hash) return false;
  const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return digest === hash;
}

function globMatches(pattern: string, name: string): boolean {
  const expression = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${expression}$`, 'i').test(name);
}

/** The key type named inside an SSH public key blob (its first length-prefixed string). */
export function keyBlobType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const length = blob.readUInt32BE(0);
  return length > 0 && 4 + length <= blob.length ? blob.subarray(4, 4 + length).toString('latin1') : 'unknown';
}

/** `SHA256:…`, as `ssh-keygen -l` and `ssh` print fingerprints. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Host key algorithms ssh2 may negotiate for the key types known_hosts holds, in ssh2's order of
 * preference. Offering only those makes a server with several host keys present one we can verify,
 * as OpenSSH does, instead of one we would reject as a mismatch.
 */
export function hostKeyAlgorithmsFor(types: readonly string[]): string[] {
  const algorithms: string[] = [];
  const add = (...names: string[]) => names.forEach((name) => algorithms.includes(name) || algorithms.push(name));
  for (const preferred of ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa', 'ssh-dss']) {
    if (!types.includes(preferred)) continue;
    // An RSA key signs with SHA-2 as well as SHA-1; the type in known_hosts is always ssh-rsa.
    if (preferred === 'ssh-rsa') add('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa');
    else add(preferred);
  }
  return algorithms;
}
