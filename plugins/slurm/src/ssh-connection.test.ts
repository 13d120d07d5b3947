import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { SshConnection, SshError } from './ssh-connection.js';
import { describeWithService } from '@ardea/core/testing';
import { LOOPBACK_SLURM, testSshSettings } from './test-support.js';

const run = promisify(execFile);
let connection: SshConnection | undefined;

await describeWithService(LOOPBACK_SLURM, 'SshConnection to the loopback sshd', () => {
  afterEach(async () => {
    await connection?.close();
    connection = undefined;
  });

  /** The client side of the TCP connection a command ran over, as sshd tells the session. */
  const clientPort = async (ssh: SshConnection) => (await ssh.exec('echo $SSH_CONNECTION')).stdout.split(' ')[1];

  it('runs every command over one connection, several at once', async () => {
    connection = new SshConnection(testSshSettings(), 'test');
    const ports = await Promise.all(Array.from({ length: 8 }, () => clientPort(connection!)));
    expect(new Set(ports).size).toBe(1);
    const result = await connection.exec('cat; echo err >&2; exit 7', { stdin: 'from stdin\n' });
    expect(result).toEqual({ code: 7, signal: undefined, stdout: 'from stdin\n', stderr: 'err\n' });
  });

  it('opens a new connection when the old one dropped', async () => {
    connection = new SshConnection(testSshSettings(), 'test');
    const first = await clientPort(connection);
    // The session's parent is the sshd process serving this connection; killing it drops the connection.
    await connection.exec('kill $PPID', { retryOnDisconnect: false }).catch(() => undefined);
    const second = await connection.exec('echo again', { retryOnDisconnect: true });
    expect(second.stdout).toBe('again\n');
    expect(await clientPort(connection)).not.toBe(first);
  });

  it('ends a command that runs too long with a clear error', async () => {
    connection = new SshConnection(testSshSettings({ commandTimeoutMs: 300 }), 'scheduler');
    const failure = connection.exec('sleep 5');
    await expect(failure).rejects.toBeInstanceOf(SshError);
    await expect(failure).rejects.toThrow(/'sleep 5' did not finish within 300 ms on 127\.0\.0\.1:\d+; raise scheduler\.commandTimeoutMs/);
  });

  it('rejects commands once closed', async () => {
    connection = new SshConnection(testSshSettings(), 'test');
    await connection.exec('true');
    await connection.close();
    await expect(connection.exec('true')).rejects.toThrow(/was closed/);
  });

  it('does not keep a process alive while it is idle', async () => {
    // A CLI command must exit once its work is done, even though nobody closes the connection.
    // The built module: a plain Node process cannot load TypeScript on Node 20.
    const module = fileURLToPath(new URL('../dist/ssh-connection.js', import.meta.url));
    const script = `
      const { SshConnection } = await import(${JSON.stringify(module)});
      const ssh = new SshConnection(${JSON.stringify(testSshSettings())}, 'test');
      process.stdout.write((await ssh.exec('echo done')).stdout);
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
    expect(stdout).toBe('done\n');
  });
});
