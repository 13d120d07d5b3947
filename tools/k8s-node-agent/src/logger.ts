/** Where the agent's library code writes its log lines; `main.ts` prints them, tests collect or drop them. */
export interface AgentLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const SILENT_LOGGER: AgentLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** One line per message with an ISO time and the level, to a stream (the agent's log file through stdout). */
export function streamLogger(write: (line: string) => void): AgentLogger {
  const line = (level: string) => (message: string) => write(`${new Date().toISOString()} ${level} ${message}\n`);
  return { info: line('info'), warn: line('warn'), error: line('error') };
}
