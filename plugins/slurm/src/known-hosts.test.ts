import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findKnownHostKeys, fingerprint, hostKeyAlgorithmsFor, keyBlobType, knownHostsName } from './known-hosts.js';

/** An SSH public key blob: the type as a length-prefixed string, then some key bytes. */
function blob(type: string, seed: string): Buffer {
  const name = Buffer.from(type);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(name.length);
  return Buffer.concat([length, name, Buffer.from(seed)]);
}

const ed = blob('ssh-ed25519', 'ed-key');
const rsa = blob('ssh-rsa', 'rsa-key');
const other = blob('ssh-ed25519', 'other-key');
const line = (hosts: string, key: Buffer, type = keyBlobType(key)) => `${hosts} ${type} ${key.toString('base64')} comment`;

describe('known_hosts lookup', () => {
  it('names hosts as OpenSSH does: bare on port 22, [host]:port otherwise', () => {
    expect(knownHostsName('login.hpc', 22)).toBe('login.hpc');
    expect(knownHostsName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
  });

  it('finds plain, listed, wildcard and hashed entries for the host and port', () => {
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[login.hpc]:2222').digest('base64')}`;
    const content = [
      '# comment',
      '',
      line('[login.hpc]:2222', ed),
      line('login.hpc', other),
      line('gateway,[login.hpc]:2222', rsa),
      line(hashed, other),
      line('[*.hpc]:2222', other),
      line('[login.other]:2222', rsa),
    ].join('\n');
    const { accepted } = findKnownHostKeys(content, 'login.hpc', 2222);
    expect(accepted.map((key) => key.line)).toEqual([3, 5, 6, 7]);
    expect(accepted[0]!.blob.equals(ed)).toBe(true);
  });

  it('honours negated patterns, @revoked and skips @cert-authority', () => {
    const content = [
      line('[*]:2222,![login.hpc]:2222', ed),
      `@revoked ${line('[login.hpc]:2222', rsa)}`,
      `@cert-authority ${line('*', other)}`,
      line('[login.hpc]:2222', rsa),
    ].join('\n');
    const { accepted, revoked } = findKnownHostKeys(content, 'login.hpc', 2222);
    expect(accepted.map((key) => key.line)).toEqual([4]);
    expect(revoked.map((key) => key.line)).toEqual([2]);
  });

  it('prints fingerprints as ssh-keygen does and offers only the algorithms known_hosts can verify', () => {
    expect(fingerprint(ed)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(hostKeyAlgorithmsFor(['ssh-rsa', 'ssh-ed25519'])).toEqual(['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(keyBlobType(Buffer.alloc(2))).toBe('unknown');
  });
});
