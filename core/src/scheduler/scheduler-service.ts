import { z } from 'zod';
import { JsonHttpServer, jsonRoute } from '../http/json-server.js';
import type { Logger } from '../logging/index.js';
import { PackingPlanSchema, type PackingPlan } from '../model/packing-plan.js';
import type { ExecutorSpec, Scheduler } from '../spi/scheduler.js';
import { readContainerLog } from './scheduler-client.js';

export interface SchedulerServiceOptions {
  readonly scheduler: Scheduler;
  readonly topologyName: string;
  /** Every request must carry it as a bearer token. */
  readonly secret: string;
  /**
   * How added containers are started: computed by the service's own process from its cluster config,
   * never taken from a request, so a caller cannot make the service run a command of its choosing.
   */
  readonly executor: ExecutorSpec;
  readonly logger: Logger;
  /** Called after a successful kill, once the response is sent: the service's work is over. */
  readonly onKilled: () => void;
}

/** What one request may read of a container's log. */
export const MAX_LOG_CHUNK_BYTES = 4 * 1024 * 1024;

/** About 25,000 instances per plan. */
const MAX_UPDATE_BODY_BYTES = 8 * 1024 * 1024;

/** The body of `POST /update`: the two plans, nothing else. */
export const UpdateBodySchema = z.object({ current: PackingPlanSchema, proposed: PackingPlanSchema }).strict();
/** The body of `POST /restart`: one container, or none for all of them. */
export const RestartBodySchema = z.object({ containerId: z.number().int().nonnegative().optional() }).strict().optional();
/** The query of `GET /log`: which container, and which bytes of its log. */
export const LogQuerySchema = z
  .object({
    container: z.coerce.number().int().nonnegative(),
    fromOffset: z.coerce.number().int().nonnegative().optional(),
    maxBytes: z.coerce.number().int().positive().max(MAX_LOG_CHUNK_BYTES),
  })
  .strict();

/**
 * The HTTP face of a service-mode scheduler: the CLI and the health manager reach the process that
 * owns a topology's containers through it. Every request must carry the topology secret.
 */
export class SchedulerService {
  private readonly server: JsonHttpServer;

  constructor(options: SchedulerServiceOptions) {
    const { scheduler, topologyName } = options;
    this.server = new JsonHttpServer({
      name: 'scheduler service',
      secret: options.secret,
      logger: options.logger,
      // An update carries two packing plans, which grow with the number of instances.
      limits: { maxBodyBytes: MAX_UPDATE_BODY_BYTES },
      routes: [
        jsonRoute({ method: 'GET', path: '/status', handle: () => scheduler.status(topologyName) }),
        jsonRoute({
          method: 'GET',
          path: '/log',
          query: LogQuerySchema,
          handle: ({ query }) =>
            readContainerLog(scheduler, topologyName, query.container, {
              maxBytes: query.maxBytes,
              ...(query.fromOffset === undefined ? {} : { fromOffset: query.fromOffset }),
            }),
        }),
        jsonRoute({
          method: 'POST',
          path: '/restart',
          body: RestartBodySchema,
          handle: async ({ body }) => {
            await scheduler.restart(topologyName, body?.containerId);
            return { restarted: body?.containerId ?? 'all' };
          },
        }),
        jsonRoute({
          method: 'POST',
          path: '/update',
          body: UpdateBodySchema,
          handle: ({ body }) =>
            scheduler.update({
              topologyName,
              current: body.current as PackingPlan,
              proposed: body.proposed as PackingPlan,
              executor: options.executor,
            }),
        }),
        jsonRoute({
          method: 'POST',
          path: '/kill',
          handle: async ({ afterResponse }) => {
            await scheduler.kill(topologyName);
            afterResponse(options.onKilled);
            return { killed: topologyName };
          },
        }),
      ],
    });
  }

  listen(host: string): Promise<string> {
    return this.server.listen(host);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
