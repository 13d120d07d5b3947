import { ArdeaError, describeError, type ArdeaErrorOptions } from '../errors/index.js';

/** Control calls (status, metrics, activation, plan status) answer at once from memory. */
export const CONTROL_CALL_TIMEOUT_MS = 5_000;

export type ArdeaErrorClass = new (message: string, options?: ArdeaErrorOptions) => ArdeaError;

export interface JsonClientOptions {
  /** `http://host:port`, without a trailing slash. */
  readonly baseUrl: string;
  /** The server as messages name it: `the topology master of 'word-count'`. */
  readonly target: string;
  /** Sent as `Authorization: Bearer <bearer>`. */
  readonly bearer?: string;
  /** Default time a call may take, answer included; calls that wait for processes pass their own. */
  readonly timeoutMs?: number;
  /** The error every failure is raised as. */
  readonly error: ArdeaErrorClass;
  /** What the user can do when the server does not answer; ends the message. */
  readonly advice: string;
}

export interface JsonCallOptions {
  readonly body?: unknown;
  readonly timeoutMs?: number;
}

const EXCERPT_CHARS = 200;

/**
 * Calls a {@link JsonHttpServer}: JSON in and out, a bearer token, and a deadline on every call, so
 * that a server that accepts connections but never answers (a stopped process) fails the call within
 * its timeout. Every failure is one line naming the server, its address and what to do: `http.timeout`
 * and `http.unreachable` for no answer, the server's own `code` and `error` for a refusal.
 */
export class JsonHttpClient {
  private readonly timeoutMs: number;

  constructor(private readonly options: JsonClientOptions) {
    this.timeoutMs = options.timeoutMs ?? CONTROL_CALL_TIMEOUT_MS;
  }

  get<T>(route: string, options: Omit<JsonCallOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('GET', route, options);
  }

  post<T>(route: string, body?: unknown, options: Omit<JsonCallOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('POST', route, { ...options, body });
  }

  async request<T>(method: 'GET' | 'POST', route: string, options: JsonCallOptions = {}): Promise<T> {
    const { target, baseUrl, error: Failure } = this.options;
    const address = new URL(baseUrl).host;
    const call = `${method} ${route.split('?')[0]}`;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const signal = AbortSignal.timeout(timeoutMs);
    const fail = (reason: string, code: string, cause?: unknown) =>
      new Failure(reason, { code, ...(cause === undefined ? {} : { cause }) });
    let status: number;
    let text: string;
    try {
      const response = await fetch(`${baseUrl}${route}`, {
        method,
        headers: {
          ...(this.options.bearer === undefined ? {} : { authorization: `Bearer ${this.options.bearer}` }),
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        signal,
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      if (signal.aborted) {
        throw fail(
          `${target} at ${address} did not answer ${call} within ${seconds(timeoutMs)}; ${this.options.advice}`,
          'http.timeout',
          error,
        );
      }
      throw fail(`${target} at ${address} is not reachable (${describeError(error)}); ${this.options.advice}`, 'http.unreachable', error);
    }
    let payload: unknown;
    try {
      payload = text === '' ? null : (JSON.parse(text) as unknown);
    } catch (error) {
      throw fail(
        `${target} at ${address} answered ${call} with HTTP ${status} and a body that is not JSON: ${excerpt(text)}`,
        'http.invalid-response',
        error,
      );
    }
    if (status >= 200 && status < 300) return payload as T;
    const refusal = payload as { error?: unknown; code?: unknown } | null;
    const reason = typeof refusal?.error === 'string' ? refusal.error : excerpt(text);
    throw fail(
      `${target} refused ${call} (HTTP ${status}): ${reason}`,
      typeof refusal?.code === 'string' ? refusal.code : `http.${status}`,
    );
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > EXCERPT_CHARS ? `${flat.slice(0, EXCERPT_CHARS)}…` : flat || '(empty body)';
}
