import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ArdeaError, describeError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { PackingPlan } from '../model/packing-plan.js';
import type { ExecutorSpec, Scheduler } from '../spi/scheduler.js';

/**
 * The HTTP face of a service-mode scheduler: the CLI and the health manager reach the process that
 * owns a topology's containers through it. Every request must carry the topology secret.
 */
export class SchedulerService {
  private readonly server: http.Server;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly topologyName: string,
    private readonly secret: string,
    private readonly logger: Logger,
    /** Called after a successful kill, once the response is sent: the service's work is over. */
    private readonly onKilled: () => void,
  ) {
    this.server = http.createServer((request, response) => void this.handle(request, response));
  }

  async listen(host: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port: 0 }, () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    const expected = Buffer.from(`Bearer ${this.secret}`);
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return reply(401, { error: 'missing or wrong topology secret' });
    const url = new URL(request.url ?? '/', 'http://scheduler');
    try {
      if (request.method === 'GET' && url.pathname === '/status') return reply(200, await this.scheduler.status(this.topologyName));
      if (request.method !== 'POST') return reply(404, { error: `no route ${request.method} ${url.pathname}` });
      const body = await readJson(request);
      switch (url.pathname) {
        case '/restart': {
          const containerId = (body as { containerId?: unknown }).containerId;
          await this.scheduler.restart(this.topologyName, typeof containerId === 'number' ? containerId : undefined);
          return reply(200, { restarted: containerId ?? 'all' });
        }
        case '/update': {
          const { current, proposed, executor } = body as { current: PackingPlan; proposed: PackingPlan; executor: ExecutorSpec };
          return reply(200, await this.scheduler.update({ topologyName: this.topologyName, current, proposed, executor }));
        }
        case '/kill':
          await this.scheduler.kill(this.topologyName);
          reply(200, { killed: this.topologyName });
          response.once('finish', this.onKilled);
          return;
        default:
          return reply(404, { error: `no route POST ${url.pathname}` });
      }
    } catch (error) {
      this.logger.warn('scheduler request failed', { path: url.pathname, error: describeError(error) });
      return reply(error instanceof ArdeaError ? 409 : 500, { error: describeError(error), code: (error as ArdeaError).code });
    }
  }
}

async function readJson(request: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}
