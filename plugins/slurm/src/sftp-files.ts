import type { SFTPWrapper } from 'ssh2';

/** SFTP status codes (draft-ietf-secsh-filexfer-02), as ssh2 reports them in `error.code`. */
export const NO_SUCH_FILE = 2;

/** An ssh2 callback-style SFTP call as a promise. */
export function call<T>(operation: (done: (error: Error | null | undefined, result?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => operation((error, result) => (error ? reject(error) : resolve(result as T))));
}

export function sftpCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Reads only bytes `range(size)` of a remote file, where `size` is the file's size once it is open;
 * undefined when the file does not exist. Fewer bytes come back when the file shrank meanwhile.
 */
export async function readRemoteRange(
  sftp: SFTPWrapper,
  file: string,
  range: (size: number) => { readonly start: number; readonly length: number },
): Promise<{ readonly bytes: Buffer; readonly start: number } | undefined> {
  let handle: Buffer;
  try {
    handle = await call<Buffer>((done) => sftp.open(file, 'r', done));
  } catch (error) {
    if (sftpCode(error) === NO_SUCH_FILE) return undefined;
    throw error;
  }
  try {
    const { size } = await call<{ size: number }>((done) => sftp.fstat(handle, done));
    const { start, length } = range(size);
    const bytes = Buffer.alloc(length);
    let read = 0;
    // A server may answer a read with fewer bytes than asked; none means the end of the file.
    while (read < length) {
      const got = await new Promise<number>((resolve, reject) =>
        sftp.read(handle, bytes, read, length - read, start + read, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))),
      );
      if (got === 0) break;
      read += got;
    }
    return { bytes: bytes.subarray(0, read), start };
  } finally {
    await call<void>((done) => sftp.close(handle, done)).catch(() => undefined);
  }
}
