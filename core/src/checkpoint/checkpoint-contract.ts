import { z } from 'zod';
import { CheckpointError, formatSchemaIssue } from '../errors/index.js';
import type { CheckpointManifest, CheckpointTopology } from '../spi/checkpoint-storage.js';

/**
 * What every checkpoint storage checks before it touches its backing store, so that the local
 * filesystem, the package server and the client in front of it refuse the same inputs with the
 * same codes: names become path segments and URL segments, so none may reach outside its run.
 */

/** The error codes a storage's {@link CheckpointError}s carry; the package server maps them to HTTP statuses and back. */
export const CHECKPOINT_CODES = {
  invalidName: 'checkpoint.invalid-name',
  invalidManifest: 'checkpoint.invalid-manifest',
  notAboveLatest: 'checkpoint.not-above-latest',
  missingPart: 'checkpoint.missing-part',
  tooLarge: 'checkpoint.too-large',
  failed: 'checkpoint.failed',
} as const;

/** The SPI's part names: a plain file name on every platform, and a URL segment that needs no escaping. */
const PART_NAME = /^[A-Za-z0-9._-]{1,200}$/;
/**
 * Topology names and ids as the core makes them (`word-count`, `word-count-1a2b3c4d`), with room for
 * an embedder's own ids; never `.`/`..` or hidden, since a leading `.` is what the package server keeps
 * its own files under.
 */
const RUN_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** `topology 'word-count' (run word-count-1a2b3c4d)`, the way every checkpoint message names a run. */
export function describeRun(topology: CheckpointTopology): string {
  return `topology '${String(topology?.topologyName)}' (run ${String(topology?.topologyId)})`;
}

/** Refuses a topology name or id that is not a plain path segment. */
export function assertRun(topology: CheckpointTopology, operation: string): void {
  for (const [what, value] of [
    ['topology name', topology?.topologyName],
    ['topology id', topology?.topologyId],
  ] as const) {
    if (typeof value !== 'string' || !RUN_SEGMENT.test(value)) {
      throw new CheckpointError(
        `cannot ${operation} for ${describeRun(topology)}: the ${what} ${JSON.stringify(value)} is not usable; ` +
          `expected 1 to 200 of A-Z a-z 0-9 . _ -, not starting with . _ or -`,
        { code: CHECKPOINT_CODES.invalidName },
      );
    }
  }
}

/** Refuses a checkpoint id that is not a non-negative safe integer (it becomes a directory name). */
export function assertCheckpointId(checkpointId: number, operation: string, topology: CheckpointTopology): void {
  if (!Number.isSafeInteger(checkpointId) || checkpointId < 0) {
    throw new CheckpointError(
      `cannot ${operation} for ${describeRun(topology)}: checkpoint id ${String(checkpointId)} is not a non-negative integer`,
      { code: CHECKPOINT_CODES.invalidName },
    );
  }
}

/** Refuses a part name outside the SPI's alphabet, and `.`/`..`, which name directories rather than files. */
export function assertPart(part: string, operation: string, topology: CheckpointTopology, checkpointId: number): void {
  if (typeof part !== 'string' || !PART_NAME.test(part) || part === '.' || part === '..') {
    throw new CheckpointError(
      `cannot ${operation} part ${JSON.stringify(part)} of checkpoint ${checkpointId} of ${describeRun(topology)}: ` +
        `a part name is 1 to 200 of A-Z a-z 0-9 . _ - (and not . or ..); the caller must name parts so`,
      { code: CHECKPOINT_CODES.invalidName },
    );
  }
}

export function isPartName(part: string): boolean {
  return PART_NAME.test(part) && part !== '.' && part !== '..';
}

const count = z.number().int().nonnegative();

/**
 * The manifest as a storage accepts it. Keys the SPI does not name are kept, so the engine may record
 * more without a change here; the ones it names are checked, since a restore trusts them.
 */
export const CheckpointManifestSchema = z.looseObject({
  checkpointId: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  startedAt: z.number().nonnegative(),
  completedAt: z.number().nonnegative(),
  maxParallelism: z.number().int().positive(),
  parallelism: z.record(z.string().min(1), z.number().int().nonnegative()),
  parts: z
    .array(
      z
        .object({
          part: z.string().refine(isPartName, 'expected a part name of 1 to 200 of A-Z a-z 0-9 . _ - (and not . or ..)'),
          bytes: count,
        })
        .strict(),
    )
    .refine((parts) => new Set(parts.map((p) => p.part)).size === parts.length, 'a part is listed twice'),
});

/** `value` as a manifest, or a {@link CheckpointError} naming what is wrong with it. */
export function parseManifest(value: unknown, what: string): CheckpointManifest {
  const result = CheckpointManifestSchema.safeParse(value);
  if (!result.success) {
    throw new CheckpointError(`${what}: not a valid checkpoint manifest (${formatSchemaIssue(result.error)})`, {
      cause: result.error,
      code: CHECKPOINT_CODES.invalidManifest,
    });
  }
  return result.data as CheckpointManifest;
}

/** The code of a 404 that means "no such part", as opposed to "no such route" on a server that keeps no checkpoints. */
export const PART_NOT_FOUND_CODE = 'checkpoint.not-found';

/** Where checkpoints live on a package server, under its base URL. */
export const CHECKPOINT_ROUTE_PREFIX = 'checkpoints';

/**
 * The package server's checkpoint routes, relative to its base URL, each segment URI-encoded:
 * `checkpoints/<topology>/<id>` (DELETE: dispose), `…/latest` (GET), `…/<checkpoint>` (PUT: commit),
 * `…/<checkpoint>/<part>` (PUT, GET) and `…/below/<checkpoint>` (DELETE: prune).
 */
export const checkpointPaths = {
  run: (topology: CheckpointTopology) =>
    [CHECKPOINT_ROUTE_PREFIX, topology.topologyName, topology.topologyId].map(encodeURIComponent).join('/'),
  latest: (topology: CheckpointTopology) => `${checkpointPaths.run(topology)}/latest`,
  manifest: (topology: CheckpointTopology, checkpointId: number) => `${checkpointPaths.run(topology)}/${checkpointId}`,
  part: (topology: CheckpointTopology, checkpointId: number, part: string) =>
    `${checkpointPaths.run(topology)}/${checkpointId}/${encodeURIComponent(part)}`,
  prune: (topology: CheckpointTopology, belowCheckpointId: number) => `${checkpointPaths.run(topology)}/below/${belowCheckpointId}`,
};
