import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { ConfigError } from '../errors/index.js';
import { PRIVATE_FILE_MODE } from '../fs/private-files.js';

/**
 * Reads a bearer token from a file that only its owner may read: the token lets whoever has it
 * store and remove packages, so a file others can read is refused rather than trusted.
 * `usedFor` names the setting in messages (`uploader.tokenFile`, `--token-file`).
 */
export async function readTokenFile(file: string, usedFor: string): Promise<string> {
  let mode: number;
  let text: string;
  try {
    mode = (await stat(file)).mode;
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw unreadable(file, usedFor, error);
  }
  return checkedToken(file, usedFor, mode, text);
}

/**
 * {@link readTokenFile} for callers that cannot wait: the executor spec, which hands the token to
 * the containers by value, is built synchronously.
 */
export function readTokenFileSync(file: string, usedFor: string): string {
  let mode: number;
  let text: string;
  try {
    mode = statSync(file).mode;
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw unreadable(file, usedFor, error);
  }
  return checkedToken(file, usedFor, mode, text);
}

function unreadable(file: string, usedFor: string, error: unknown): ConfigError {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
  return new ConfigError(`${usedFor} ${file}: cannot read the token (${why}); 'ardea package-server --token-file ${file}' creates one`, {
    cause: error,
    code: 'config.token-file',
  });
}

function checkedToken(file: string, usedFor: string, mode: number, text: string): string {
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      `${usedFor} ${file}: group or others may access the token file (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
      {
        code: 'config.token-file',
      },
    );
  }
  const token = text.trim();
  if (token.length < 16)
    throw new ConfigError(`${usedFor} ${file}: the token is ${token ? 'shorter than 16 characters' : 'empty'}; use a long random one`, {
      code: 'config.token-file',
    });
  return token;
}

/** Reads the token, first writing a new random one (mode 0600) if the file does not exist. */
export async function readOrCreateTokenFile(file: string, usedFor: string): Promise<{ token: string; created: boolean }> {
  try {
    await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { flag: 'wx', mode: PRIVATE_FILE_MODE });
    return { token: await readTokenFile(file, usedFor), created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new ConfigError(`${usedFor} ${file}: cannot create the token file: ${(error as Error).message}`, {
        cause: error,
        code: 'config.token-file',
      });
    }
  }
  return { token: await readTokenFile(file, usedFor), created: false };
}
