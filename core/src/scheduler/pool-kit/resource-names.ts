import { createHash } from 'node:crypto';

export interface PoolResourceNameOptions {
  /** Longest name the pool accepts (a Kubernetes label value or Service name: 63). */
  readonly maxLength?: number;
}

const DNS_LABEL_MAX = 63;
const HASH_LENGTH = 8;

/**
 * A name for a topology's object in a pool (a Kubernetes StatefulSet, a YARN service, a Slurm job, a
 * directory): a DNS-1035 label — lower-case letters, digits and `-`, starting with a letter, ending
 * with a letter or digit — ending in `-<container>` when a container is given.
 *
 * Topology names may hold upper case, `_` and `.`; pools refuse them. When the name has to change
 * to fit (case folded, characters replaced, shortened), a hash of the original name is appended, so
 * `Word_Count` and `word-count` never share an object. Names that already fit stay readable as they are.
 */
export function poolResourceName(topology: string, container?: number | string, options: PoolResourceNameOptions = {}): string {
  const maxLength = options.maxLength ?? DNS_LABEL_MAX;
  const suffix = container === undefined ? '' : `-${String(container).toLowerCase()}`;
  const budget = maxLength - suffix.length;
  if (budget < HASH_LENGTH + 2)
    throw new RangeError(`poolResourceName: maxLength ${maxLength} leaves no room for a name before '${suffix}'`);

  let base = topology
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '');
  const changed = base !== topology || base.length > budget;
  if (changed) {
    const hash = createHash('sha256').update(topology).digest('hex').slice(0, HASH_LENGTH);
    base = base.slice(0, budget - HASH_LENGTH - 1).replace(/-+$/, '');
    base = base ? `${base}-${hash}` : `t${hash}`;
  }
  return `${base}${suffix}`;
}
