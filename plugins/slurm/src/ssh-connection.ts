import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, type ClientChannel, type ConnectConfig, type ServerHostKeyAlgorithm, type SFTPWrapper } from 'ssh2';
import { findKnownHostKeys, fingerprint, hostKeyAlgorithmsFor, keyBlobType, knownHostsName, type KnownHostKey } from './known-hosts.js';
import type { SshSettings } from './slurm-config.js';

/** Why an SSH conversation failed; the scheduler and the uploader turn it into their own error class. */
export type SshFailure = 'unreachable' | 'timeout' | 'unknown-host' | 'host-key' | 'auth' | 'credentials' | 'disconnected' | 'closed';

export class SshError extends Error {
  readonly code: string;

  constructor(
    readonly failure: SshFailure,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SshError';
    this.code = `ssh.${failure}`;
  }
}

export interface ExecResult {
  /** The remote command's exit status; null when it was ended by a signal. */
  readonly code: number | null;
  readonly signal: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Written to the command's standard input, which is then closed. */
  readonly stdin?: string;
  readonly timeoutMs?: number;
  /**
   * Run the command again on a fresh connection when the connection dropped before the command
   * could run. Only for commands that are safe to repeat (queries, cancels), never for `sbatch`.
   */
  readonly retryOnDisconnect?: boolean;
}

/** Sessions one connection uses at once; OpenSSH's default MaxSessions is 10 and sftp needs one too. */
const MAX_CHANNELS = 4;

/**
 * One SSH connection to a cluster's login node, opened on first use and reused for every command and
 * SFTP operation; opened again when it dropped. The host key is checked against a known_hosts file
 * unless strict checking is turned off.
 *
 * The TCP socket is unreferenced while no operation is under way, so an open connection never keeps
 * a short-lived process (the CLI) alive; `close()` ends it for long-lived ones.
 */
export class SshConnection {
  private client: Client | undefined;
  private socket: net.Socket | undefined;
  private connecting: Promise<Client> | undefined;
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private busy = 0;
  private channels = 0;
  private readonly waitingForChannel: Array<() => void> = [];
  private closed = false;

  /** `host:port`, for messages. */
  readonly address: string;

  constructor(
    private readonly settings: SshSettings,
    /** The config section the settings come from (`scheduler`, `uploader`), to name keys in messages. */
    private readonly section: string,
  ) {
    this.address = `${settings.host}:${settings.port}`;
  }

  /** `user@host:port`, for messages. */
  get target(): string {
    return `${this.settings.user}@${this.address}`;
  }

  /** Connects now, so configuration and reachability problems surface before any work starts. */
  async connect(): Promise<void> {
    await this.holding(() => this.ready());
  }

  /** Runs a command through the login node's shell; the caller quotes its words. */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.holding(async () => {
      for (let attempt = 1; ; attempt++) {
        const client = await this.ready();
        try {
          return await this.withChannel(() => this.run(client, command, options));
        } catch (error) {
          const dropped = error instanceof SshError && error.failure === 'disconnected';
          // The close event may not have arrived yet; the retry, or the next call, must reconnect.
          if (dropped && this.client === client) this.forget(client);
          if (!dropped || !options.retryOnDisconnect || attempt >= 2) throw error;
        }
      }
    });
  }

  /** Runs `operation` with this connection's SFTP session. */
  async withSftp<T>(operation: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    return this.holding(async () => {
      const client = await this.ready();
      this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
        client.sftp((error, sftp) => {
          if (error)
            reject(
              new SshError(
                'disconnected',
                `cannot open an SFTP session on ${this.address}: ${error.message}; is the sftp subsystem enabled in its sshd_config?`,
                { cause: error },
              ),
            );
          else resolve(sftp);
        });
      });
      const session = this.sftpSession;
      let sftp: SFTPWrapper;
      try {
        sftp = await session;
      } catch (error) {
        if (this.sftpSession === session) this.sftpSession = undefined;
        throw error;
      }
      sftp.once('close', () => {
        if (this.sftpSession === session) this.sftpSession = undefined;
      });
      return operation(sftp);
    });
  }

  /** Ends the connection. Idempotent; later calls reject. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    this.sftpSession = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.socket?.destroy();
        resolve();
      }, 2000);
      timer.unref();
      client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      client.end();
    });
  }

  private async holding<T>(operation: () => Promise<T>): Promise<T> {
    if (this.busy++ === 0) this.socket?.ref();
    try {
      return await operation();
    } finally {
      if (--this.busy === 0) this.socket?.unref();
    }
  }

  private async withChannel<T>(operation: () => Promise<T>): Promise<T> {
    while (this.channels >= MAX_CHANNELS) await new Promise<void>((resolve) => this.waitingForChannel.push(resolve));
    this.channels++;
    try {
      return await operation();
    } finally {
      this.channels--;
      this.waitingForChannel.shift()?.();
    }
  }

  private ready(): Promise<Client> {
    if (this.closed) return Promise.reject(new SshError('closed', `the SSH connection to ${this.address} was closed`));
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<Client> {
    const { host, port, connectTimeoutMs } = this.settings;
    const known = await this.knownKeys();
    const credentials = await this.credentials();
    const types = known?.keys.map((entry) => entry.type) ?? [];
    let offered: Buffer | undefined;
    const socket = net.connect({ host, port });
    const client = new Client();
    const config: ConnectConfig = {
      sock: socket,
      username: this.settings.user,
      readyTimeout: connectTimeoutMs,
      ...credentials.config,
      ...(known
        ? {
            hostVerifier: (key: Buffer) => {
              offered = key;
              return known.keys.some((entry) => entry.blob.equals(key));
            },
            ...(types.length > 0 ? { algorithms: { serverHostKey: hostKeyAlgorithmsFor(types) as ServerHostKeyAlgorithm[] } } : {}),
          }
        : {}),
    };
    return new Promise<Client>((resolve, reject) => {
      let settled = false;
      const fail = (error: Error & { level?: string; code?: string }) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        reject(this.describeConnectFailure(error, offered, known, credentials.tried));
      };
      // ssh2 may report one failure several times (socket error, then close); only the first counts,
      // and later ones must still have a listener.
      client.on('error', fail);
      client.once('close', () =>
        fail(Object.assign(new Error('the server closed the connection during the handshake'), { level: 'client-socket' })),
      );
      client.once('ready', () => {
        settled = true;
        // Errors after the handshake end the connection; the next operation opens a new one.
        client.once('close', () => this.forget(client));
        this.client = client;
        this.socket = socket;
        if (this.busy === 0) socket.unref();
        if (this.closed) client.end();
        resolve(client);
      });
      try {
        client.connect(config);
      } catch (error) {
        // ssh2 throws at once for a private key it cannot parse (e.g. encrypted without passphrase).
        socket.destroy();
        reject(
          new SshError(
            'credentials',
            `cannot use the SSH private key ${this.settings.privateKeyPath ?? ''}: ${(error as Error).message}; ` +
              `use an unencrypted key or an ssh-agent (${this.section}.agent)`,
            { cause: error },
          ),
        );
      }
    });
  }

  private forget(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.sftpSession = undefined;
    client.end();
  }

  private run(client: Client, command: string, options: ExecOptions): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.settings.commandTimeoutMs;
    return new Promise<ExecResult>((resolve, reject) => {
      client.exec(command, (error, stream: ClientChannel) => {
        if (error) {
          reject(new SshError('disconnected', `could not run a command on ${this.address}: ${error.message}`, { cause: error }));
          return;
        }
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        const timer = setTimeout(() => {
          stream.close();
          reject(
            new SshError(
              'timeout',
              `'${command}' did not finish within ${timeoutMs} ms on ${this.address}; ` +
                `raise ${this.section}.commandTimeoutMs if the cluster is slow`,
            ),
          );
        }, timeoutMs);
        stream.on('data', (chunk: Buffer) => stdout.push(chunk));
        stream.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        stream.on('close', (code: number | null | undefined, signal: string | undefined) => {
          clearTimeout(timer);
          // Without an exit status the channel was torn down with the connection.
          if ((code === undefined || code === null) && (signal === undefined || signal === null)) {
            reject(new SshError('disconnected', `the connection to ${this.address} dropped while '${command}' ran`));
            return;
          }
          resolve({
            code: code ?? null,
            signal: signal ?? undefined,
            stdout: Buffer.concat(stdout).toString('utf8'),
            stderr: Buffer.concat(stderr).toString('utf8'),
          });
        });
        stream.end(options.stdin ?? undefined);
      });
    });
  }

  /**
   * The keys known_hosts accepts for this host (undefined when verification is off). A missing file or
   * entry is reported only once the server has shown its key, as ssh does, so an unreachable host is
   * reported as unreachable and an unknown one with the fingerprint to check.
   */
  private async knownKeys(): Promise<{ keys: KnownHostKey[]; problem: string | undefined } | undefined> {
    if (!this.settings.strictHostKeyChecking) return undefined;
    let content: string;
    try {
      content = await readFile(this.settings.knownHostsPath, 'utf8');
    } catch (error) {
      return { keys: [], problem: `cannot read known_hosts file ${this.settings.knownHostsPath} (${(error as Error).message})` };
    }
    const { accepted, revoked } = findKnownHostKeys(content, this.settings.host, this.settings.port);
    const keys = accepted.filter((key) => !revoked.some((bad) => bad.blob.equals(key.blob)));
    const name = knownHostsName(this.settings.host, this.settings.port);
    return {
      keys,
      problem:
        keys.length > 0
          ? undefined
          : `${name} is not in known_hosts file ${this.settings.knownHostsPath}${revoked.length > 0 ? ' (only revoked keys are)' : ''}`,
    };
  }

  private async credentials(): Promise<{ config: Partial<ConnectConfig>; tried: string }> {
    const { privateKeyPath, agent } = this.settings;
    const agentSocket = agent === true ? process.env.SSH_AUTH_SOCK : agent === false ? undefined : agent;
    if (agent === true && !agentSocket) {
      throw new SshError(
        'credentials',
        `${this.section}.agent is true but SSH_AUTH_SOCK is not set; start ssh-agent, or give ${this.section}.privateKeyPath`,
      );
    }
    const config: Partial<ConnectConfig> = {};
    const tried: string[] = [];
    let keyPath = privateKeyPath;
    if (!keyPath && agent === undefined) {
      // As ssh does: the agent if one runs, else the first default key that exists.
      if (process.env.SSH_AUTH_SOCK) {
        config.agent = process.env.SSH_AUTH_SOCK;
        tried.push(`the ssh-agent at ${process.env.SSH_AUTH_SOCK}`);
      }
      keyPath = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((name) => path.join(os.homedir(), '.ssh', name)).find((file) => existsSync(file));
    }
    if (agentSocket) {
      config.agent = agentSocket;
      tried.push(`the ssh-agent at ${agentSocket}`);
    }
    if (keyPath) {
      try {
        config.privateKey = await readFile(keyPath);
      } catch (error) {
        throw new SshError(
          'credentials',
          `cannot read the SSH private key ${keyPath} (${(error as Error).message}); check ${this.section}.privateKeyPath`,
          { cause: error },
        );
      }
      tried.push(`the key ${keyPath}`);
    }
    if (tried.length === 0) {
      throw new SshError(
        'credentials',
        `no SSH credentials for ${this.target}: set ${this.section}.privateKeyPath ` +
          `or ${this.section}.agent (no ssh-agent runs and ~/.ssh has no id_ed25519, id_ecdsa or id_rsa)`,
      );
    }
    return { config, tried: tried.join(' and ') };
  }

  private describeConnectFailure(
    error: Error & { level?: string; code?: string },
    offered: Buffer | undefined,
    known: { keys: KnownHostKey[]; problem: string | undefined } | undefined,
    tried: string,
  ): SshError {
    const { host, port, knownHostsPath, connectTimeoutMs } = this.settings;
    if (offered && known?.problem) {
      return new SshError(
        'unknown-host',
        `${known.problem}, so the login node's host key (${keyBlobType(offered)} ${fingerprint(offered)}) cannot be verified; ` +
          (`check that fingerprint with the cluster's administrators, then run: ` +
            `ssh-keyscan -p ${port} ${host} >> ${knownHostsPath} (or set ${this.section}.knownHostsPath)`),
        { cause: error },
      );
    }
    if (offered && known && !known.keys.some((entry) => entry.blob.equals(offered))) {
      const name = knownHostsName(host, port);
      return new SshError(
        'host-key',
        `the host key of ${this.address} (${keyBlobType(offered)} ${fingerprint(offered)}) ` +
          `does not match known_hosts file ${knownHostsPath} (line ${known.keys.map((entry) => entry.line).join(', ')}); ` +
          (`someone may be impersonating the login node, or its key changed: if you are sure it changed on purpose, ` +
            `run ssh-keygen -R '${name}' -f ${knownHostsPath} and add the new key`),
        { cause: error },
      );
    }
    if (error.level === 'client-authentication') {
      return new SshError(
        'auth',
        `the login node ${this.address} refused SSH login as '${this.settings.user}' with ${tried}; ` +
          `check ${this.section}.user and that the key's public half is in that user's ~/.ssh/authorized_keys there`,
        { cause: error },
      );
    }
    if (error.level === 'client-timeout') {
      return new SshError(
        'timeout',
        `no SSH handshake with the login node ${this.address} within ${connectTimeoutMs} ms; ` +
          `check ${this.section}.host and ${this.section}.port, that sshd runs there and that no ` +
          `firewall drops the connection (raise ${this.section}.connectTimeoutMs for a slow network)`,
        { cause: error },
      );
    }
    if (error.level === 'client-socket' || error.level === 'client-dns') {
      return new SshError(
        'unreachable',
        `cannot reach the login node at ${this.address} (${error.code ?? error.message}); check ${this.section}.host ` +
          `and ${this.section}.port and that sshd runs there (scripts/sshd-up.sh starts one on 127.0.0.1:2222 for tests)`,
        { cause: error },
      );
    }
    return new SshError('unreachable', `SSH connection to ${this.target} failed: ${error.message}`, { cause: error });
  }
}
