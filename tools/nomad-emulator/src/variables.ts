/**
 * Nomad Variables: the per-namespace store behind `/v1/var/<path>` and `/v1/vars`, with Nomad's check-and-set
 * rules, its path validation and its size limit. Field names are those of the Go `api` package's `Variable` and
 * `VariableMetadata`; times are int64 nanoseconds.
 */
import { HttpError, nowNs } from './util.js';

export type VariableItems = Record<string, string>;

export interface VariableMetadata {
  Namespace: string;
  Path: string;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

export interface Variable extends VariableMetadata {
  Items: VariableItems | null;
}

/** A write either happened (`variable`, `index`) or lost a check-and-set (`conflict`, the variable it lost to). */
export type WriteOutcome = { variable?: Variable; conflict?: Variable; index: number };

// Nomad keeps paths to URL-safe characters without `@` and `.` (they delimit namespace and region in templates).
const VALID_PATH = /^[a-zA-Z0-9\-_~/]{1,128}$/u;
const MAX_SIZE = 64 * 1024;

/** Nomad's validation of a variable's path; the error text it answers, or undefined when valid. */
export function variablePathError(path: string): string | undefined {
  if (path.length === 0) return 'variable requires path';
  if (!VALID_PATH.test(path)) return `invalid path ${JSON.stringify(path)}`;
  const parts = path.split('/');
  if (parts[0] !== 'nomad') return undefined;
  if (parts.length === 1)
    return '"nomad" is a reserved top-level directory path, but you may write variables to "nomad/jobs", "nomad/job-templates", or below';
  if (parts[1] === 'jobs') return undefined;
  if (parts[1] === 'job-templates')
    return parts.length === 3
      ? undefined
      : '"nomad/job-templates" is a reserved directory path, but you may write variables at the level below it, ' +
          'for example, "nomad/job-templates/template-name"';
  return 'only paths at "nomad/jobs" or "nomad/job-templates" and below are valid paths under the top-level "nomad" directory';
}

function key(namespace: string, path: string): string {
  return `${namespace}\u0000${path}`;
}

function metadata(v: Variable): VariableMetadata {
  return {
    Namespace: v.Namespace,
    Path: v.Path,
    CreateIndex: v.CreateIndex,
    ModifyIndex: v.ModifyIndex,
    CreateTime: v.CreateTime,
    ModifyTime: v.ModifyTime,
  };
}

function copy(v: Variable): Variable {
  return { ...v, Items: v.Items ? { ...v.Items } : null };
}

/** What Nomad answers as the conflict when the check-and-set expected a variable that does not exist. */
function absent(namespace: string, path: string): Variable {
  return { Namespace: namespace, Path: path, CreateIndex: 0, ModifyIndex: 0, CreateTime: 0, ModifyTime: 0, Items: null };
}

export class VariableStore {
  private readonly vars = new Map<string, Variable>();

  /** `bump` advances the cluster's one index (and wakes blocking queries) and returns it. */
  constructor(private readonly bump: () => number) {}

  get(namespace: string, path: string): Variable | undefined {
    const found = this.vars.get(key(namespace, path));
    return found ? copy(found) : undefined;
  }

  /** Metadata only, ordered by namespace and path as Nomad's index orders them; `*` lists every namespace. */
  list(namespace: string, prefix: string): VariableMetadata[] {
    return [...this.vars.values()]
      .filter((v) => (namespace === '*' || v.Namespace === namespace) && v.Path.startsWith(prefix))
      .sort((a, b) => (key(a.Namespace, a.Path) < key(b.Namespace, b.Path) ? -1 : 1))
      .map(metadata);
  }

  /** Validates as Nomad's Variables.Apply does (errors without an HTTP code there, so 500) and writes. */
  put(namespace: string, path: string, items: VariableItems, cas: number | undefined): WriteOutcome {
    if (namespace === '*') throw new HttpError(500, 'can not target wildcard ("*")namespace');
    if (Object.keys(items).length === 0) throw new HttpError(500, 'empty variables are invalid');
    const size = Object.entries(items).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    if (size > MAX_SIZE) throw new HttpError(500, 'variables are limited to 64KiB in total size');
    const pathError = variablePathError(path);
    if (pathError) throw new HttpError(500, pathError);
    const existing = this.vars.get(key(namespace, path));
    if (cas !== undefined) {
      if (!existing && cas !== 0) return { conflict: absent(namespace, path), index: 0 };
      if (existing && existing.ModifyIndex !== cas) return { conflict: copy(existing), index: existing.ModifyIndex };
    }
    const index = this.bump();
    const now = nowNs();
    const variable: Variable = {
      Namespace: namespace,
      Path: path,
      CreateIndex: existing?.CreateIndex ?? index,
      ModifyIndex: index,
      CreateTime: existing?.CreateTime ?? now,
      ModifyTime: now,
      Items: { ...items },
    };
    this.vars.set(key(namespace, path), variable);
    return { variable: copy(variable), index };
  }

  /** Deleting what does not exist succeeds, unless a check-and-set expected it. */
  delete(namespace: string, path: string, cas: number | undefined): WriteOutcome {
    const existing = this.vars.get(key(namespace, path));
    if (cas !== undefined) {
      if (!existing && cas !== 0) return { conflict: absent(namespace, path), index: 0 };
      if (existing && existing.ModifyIndex !== cas) return { conflict: copy(existing), index: existing.ModifyIndex };
    }
    this.vars.delete(key(namespace, path));
    return { index: this.bump() };
  }
}
