/** Token under which the process's root {@link Logger} is bound. Components take a child of it. */
export const Logger = Symbol.for('ardea.Logger');

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * Structured logger. Library code logs only through an injected Logger, never through `console`,
 * so that an embedding platform decides where lines go and in which format.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose every line carries `bindings` (e.g. `{ component: 'statemgr', topology }`). */
  child(bindings: LogFields): Logger;
}

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface WritableLike {
  write(chunk: string): unknown;
}

export interface StreamLoggerOptions {
  readonly level?: LogLevel;
  /** `json`: one JSON object per line (for files and collectors); `text`: for a terminal. */
  readonly format?: 'json' | 'text';
  readonly stream?: WritableLike;
  readonly clock?: () => Date;
}

/** Writes one line per entry to a stream (stderr by default). */
export class StreamLogger implements Logger {
  private readonly threshold: number;

  constructor(
    private readonly options: StreamLoggerOptions = {},
    private readonly bindings: LogFields = {},
  ) {
    this.threshold = LEVEL_ORDER[options.level ?? 'info'];
  }

  debug(message: string, fields?: LogFields): void {
    this.write('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.write('info', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.write('warn', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.write('error', message, fields);
  }

  child(bindings: LogFields): Logger {
    return new StreamLogger(this.options, { ...this.bindings, ...bindings });
  }

  private write(level: LogLevel, message: string, fields: LogFields | undefined): void {
    if (LEVEL_ORDER[level] < this.threshold) return;
    const time = (this.options.clock ?? (() => new Date()))().toISOString();
    const all = { ...this.bindings, ...fields };
    const stream = this.options.stream ?? process.stderr;
    if (this.options.format === 'text') {
      const extras = Object.entries(all)
        .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(serialisable(value))}`)
        .join(' ');
      stream.write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${extras ? ` ${extras}` : ''}\n`);
    } else {
      stream.write(`${JSON.stringify({ time, level, msg: message, ...mapValues(all, serialisable) })}\n`);
    }
  }
}

/** Discards everything; for tests and for embedders that want silence. */
export class SilentLogger implements Logger {
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
  child(): Logger {
    return this;
  }
}

function serialisable(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

function mapValues(record: LogFields, fn: (value: unknown) => unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, fn(value)]));
}
