import { stat } from 'node:fs/promises';
import { ArdeaError, type UploaderError } from '../errors/index.js';

/**
 * The size of the local package file an uploader is about to send, or the uploader's own error
 * (`fail`) saying why it cannot be read. Every uploader starts by checking its source the same way.
 */
export async function packageFileSize(source: string, fail: (reason: string, cause?: unknown) => UploaderError): Promise<number> {
  try {
    const info = await stat(source);
    if (!info.isFile()) throw fail('the package is not a regular file');
    return info.size;
  } catch (error) {
    if (error instanceof ArdeaError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw fail('the package file does not exist', error);
    throw fail(error instanceof Error ? error.message : String(error), error);
  }
}
