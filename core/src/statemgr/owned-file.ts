import { randomBytes } from 'node:crypto';
import { link, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PRIVATE_FILE_MODE } from '../fs/private-files.js';
import { currentProcessOwner, ownerLiveness, ProcessOwnerSchema, type ProcessOwner } from './process-owner.js';

/** The content of a lock file: who holds it, and a token only the holder knows, so release never removes a successor's file. */
export interface OwnedFileRecord extends ProcessOwner {
  readonly session: string;
  readonly token: string;
  readonly acquiredAt: string;
  readonly purpose: string;
}

export interface Holder {
  /** Undefined when the file cannot be parsed (still being written by the fallback path, or damaged). */
  readonly owner: (ProcessOwner & Partial<OwnedFileRecord>) | undefined;
  readonly mtimeMs: number;
}

/**
 * A lock file without a readable owner is only trusted for this long: on filesystems without hard
 * links it is created empty and filled afterwards, which takes far less.
 */
const UNREADABLE_GRACE_MS = 10_000;
/** A breaker file is held for one read and one unlink; one older than this was left by a crash. */
const BREAKER_MAX_AGE_MS = 30_000;
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

export function temporarySibling(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export function newToken(): string {
  return randomBytes(12).toString('hex');
}

export function ownedFileRecord(session: string, purpose: string): OwnedFileRecord {
  return { ...currentProcessOwner(), session, token: newToken(), acquiredAt: new Date().toISOString(), purpose };
}

/**
 * Creates `file` holding `content` unless it exists; resolves false if it does. The content is
 * written to a sibling first and hard-linked into place, so the file never exists half-written and
 * two racing creators cannot both succeed (link fails with EEXIST, also on NFS).
 */
export async function createExclusive(file: string, content: string, durable: boolean): Promise<boolean> {
  const temporary = temporarySibling(file);
  const handle = await open(temporary, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(content);
    if (durable) await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== undefined && LINK_UNSUPPORTED.has(code)) return createExclusiveWithoutLink(file, content, durable);
    throw error;
  } finally {
    await rm(temporary, { force: true });
  }
}

async function createExclusiveWithoutLink(file: string, content: string, durable: boolean): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, 'wx', PRIVATE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(content);
    if (durable) await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

export async function readHolder(file: string): Promise<Holder | undefined> {
  let text: string;
  let mtimeMs: number;
  try {
    [text, { mtimeMs }] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return { owner: parseOwner(text), mtimeMs };
}

function parseOwner(text: string): Holder['owner'] {
  try {
    const parsed = ProcessOwnerSchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data as Holder['owner']) : undefined;
  } catch {
    return undefined;
  }
}

export function holderIsStale(holder: Holder, maxAgeMs = Number.POSITIVE_INFINITY): boolean {
  const age = Date.now() - holder.mtimeMs;
  if (age > maxAgeMs) return true;
  if (!holder.owner) return age > UNREADABLE_GRACE_MS;
  return ownerLiveness(holder.owner) === 'dead';
}

/**
 * Removes `file` if its holder is dead. Contenders first take `<file>.break`, and re-judge the holder
 * while holding it, so a contender that judged the old holder dead cannot remove the file a faster
 * contender has meanwhile created. Resolves true when the caller should retry creating `file` at once.
 */
async function breakStale(file: string, session: string): Promise<boolean> {
  const breaker = `${file}.break`;
  if (!(await createExclusive(breaker, JSON.stringify(ownedFileRecord(session, `breaking ${path.basename(file)}`)), false))) {
    const holder = await readHolder(breaker);
    // Only a crash inside the few microseconds a breaker is held leaves one behind, so the remaining
    // race (two contenders removing an abandoned breaker at once) is accepted.
    if (holder && holderIsStale(holder, BREAKER_MAX_AGE_MS)) await rm(breaker, { force: true });
    return holder === undefined;
  }
  try {
    const holder = await readHolder(file);
    if (!holder) return true;
    if (!holderIsStale(holder)) return false;
    await rm(file, { force: true });
    return true;
  } finally {
    await rm(breaker, { force: true });
  }
}

export type AcquireResult = { readonly acquired: true } | { readonly acquired: false; readonly holder: Holder | undefined };

/** One attempt: create the file, or take it over when its holder is dead. */
export async function tryAcquireOwnedFile(file: string, record: OwnedFileRecord): Promise<AcquireResult> {
  const content = JSON.stringify(record);
  let holder: Holder | undefined;
  // A few immediate retries cover a holder releasing, or a stale file being broken, between our steps.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createExclusive(file, content, false)) return { acquired: true };
    holder = await readHolder(file);
    if (holder === undefined) continue;
    if (!holderIsStale(holder)) return { acquired: false, holder };
    if (!(await breakStale(file, record.session))) return { acquired: false, holder: (await readHolder(file)) ?? holder };
  }
  return { acquired: false, holder };
}

export interface AcquireOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** The error to throw when the file is still held at the deadline. */
  readonly onTimeout: (holder: Holder | undefined) => Error;
}

/** Retries {@link tryAcquireOwnedFile} with a short, growing backoff until it succeeds or the timeout passes. */
export async function acquireOwnedFile(file: string, record: OwnedFileRecord, options: AcquireOptions): Promise<void> {
  const deadline = Date.now() + Math.max(0, options.timeoutMs);
  let delay = 2;
  for (;;) {
    options.signal?.throwIfAborted();
    const result = await tryAcquireOwnedFile(file, record);
    if (result.acquired) return;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw options.onTimeout(result.holder);
    // Jitter keeps contenders that started together from retrying in lockstep.
    await sleep(Math.min(remaining, delay * (0.5 + Math.random())), undefined, { signal: options.signal });
    delay = Math.min(delay * 2, 100);
  }
}

/** Removes `file` if it still carries `token`; a file taken over by someone else is left alone. Idempotent. */
export async function releaseOwnedFile(file: string, token: string): Promise<void> {
  let holder: Holder | undefined;
  try {
    holder = await readHolder(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (holder?.owner?.token === token) await rm(file, { force: true });
}
