import { open } from 'node:fs/promises';

/** Flushes a file's contents to disk, so a rename that publishes it cannot outlive its data in a crash. */
export async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a directory's entries (a rename into it), where the platform can. */
export async function syncDirectory(directory: string): Promise<void> {
  try {
    await syncFile(directory);
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic there.
  }
}
