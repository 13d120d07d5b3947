import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logging/index.js';

/**
 * Ardea's files are its owner's alone: the state holds the topology secret, which grants control of
 * the topology, and packages and logs hold the topology's code and data. Every directory Ardea
 * creates gets this mode, and every file {@link PRIVATE_FILE_MODE}.
 */
export const PRIVATE_DIRECTORY_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
const GROUP_OR_OTHER = 0o077;

/**
 * Creates `directory` and any missing parent, private. Existing directories are left as they are,
 * except `directory` itself with `repair`: for directories that are Ardea's alone (a container's),
 * never for one a user configured.
 */
export async function makePrivateDirectory(directory: string, options: { repair?: boolean } = {}): Promise<void> {
  await mkdir(directory, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  if (options.repair) await chmod(directory, PRIVATE_DIRECTORY_MODE);
}

export interface SecureTreeOptions {
  /** What the tree is, for log lines: `state store`, `package directory`. */
  readonly what: string;
  readonly logger: Logger;
  /**
   * Whether the root itself is Ardea's to change: true for a directory under ARDEA_HOME. A directory
   * configured elsewhere (a shared filesystem) is left as it is, with a warning when group or others
   * may enter it; what Ardea keeps inside it is made private all the same.
   */
  readonly repairRoot: boolean;
  /** Repair everything below the root too, not just the root and its direct subdirectories. */
  readonly recursive: boolean;
}

/** Paths already warned about in this process: a too-open configured directory is reported once. */
const warned = new Set<string>();

/**
 * Checks at start that what Ardea owns under `root` is private, and makes it so where an earlier
 * version, a copy or a hand-made directory left it open to group or others. Symbolic links are not
 * followed. Paths that cannot be changed (owned by someone else) are reported, not fatal.
 */
export async function securePrivateTree(root: string, options: SecureTreeOptions): Promise<void> {
  const repaired: string[] = [];
  const unrepaired: string[] = [];
  const visit = async (file: string, depth: number): Promise<void> => {
    let stat;
    try {
      stat = await lstat(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    if (stat.isSymbolicLink()) return;
    const directory = stat.isDirectory();
    if ((stat.mode & GROUP_OR_OTHER) !== 0) {
      if (depth === 0 && !options.repairRoot) {
        if (!warned.has(file)) {
          warned.add(file);
          options.logger.warn(
            `the configured ${options.what} ${file} can be entered by other users (mode ${octal(stat.mode)}); ` +
              `Ardea keeps what it writes there private, but restrict the directory (chmod 700) unless it is shared on purpose`,
            { directory: file },
          );
        }
      } else {
        try {
          await chmod(file, directory ? PRIVATE_DIRECTORY_MODE : PRIVATE_FILE_MODE);
          repaired.push(`${file} (was ${octal(stat.mode)})`);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
          unrepaired.push(`${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
        }
      }
    }
    if (!directory || (depth >= 1 && !options.recursive)) return;
    let entries: string[];
    try {
      entries = await readdir(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) await visit(path.join(file, entry), depth + 1);
  };
  await visit(root, 0);
  if (repaired.length > 0) {
    options.logger.warn(`made the ${options.what} private to its owner: ${summary(repaired)}`, {
      directory: root,
      repaired: repaired.length,
    });
  }
  if (unrepaired.length > 0 && !warned.has(`unrepaired:${root}`)) {
    warned.add(`unrepaired:${root}`);
    options.logger.warn(`could not make parts of the ${options.what} private; other users may read them: ${summary(unrepaired)}`, {
      directory: root,
    });
  }
}

/** Whether `directory` lies in (or is) `home`: Ardea's own directory, whose modes it repairs. */
export function isUnder(directory: string, home: string): boolean {
  const relative = path.relative(path.resolve(home), path.resolve(directory));
  return !relative.startsWith('..') && !path.isAbsolute(relative);
}

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

function summary(paths: readonly string[]): string {
  return paths.length <= 3 ? paths.join(', ') : `${paths.slice(0, 3).join(', ')} and ${paths.length - 3} more`;
}
