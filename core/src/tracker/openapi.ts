import { z } from 'zod';
import type { Route } from './routes.js';

const ErrorBody = {
  type: 'object',
  properties: { error: { type: 'string', description: 'what failed and what to do' }, code: { type: 'string' } },
  required: ['error', 'code'],
} as const;

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/**
 * The OpenAPI 3.1 description of the tracker, built from the same route table and zod schemas that
 * validate the requests, so the description cannot say what the server does not do.
 */
export function openApiDocument(routes: readonly Route[], version: string, auth: boolean): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const route of routes) {
    const schema = z.toJSONSchema(route.query, { io: 'input', unrepresentable: 'any' }) as {
      properties?: Record<string, Record<string, unknown>>;
      required?: string[];
    };
    const parameters = Object.entries(schema.properties ?? {}).map(([name, property]) => {
      const { description, ...rest } = property;
      return {
        name,
        in: 'query',
        required: schema.required?.includes(name) ?? false,
        ...(typeof description === 'string' ? { description } : {}),
        schema: rest,
      };
    });
    paths[route.path] = {
      get: {
        summary: route.summary,
        operationId: operationId(route.path),
        parameters,
        responses: {
          200: { description: route.returns, content: { 'application/json': { schema: { type: ['object', 'array'] } } } },
          400: errorResponse('a query parameter is missing, unknown or invalid'),
          ...(auth ? { 401: errorResponse('no bearer token, or a wrong one') } : {}),
          404: errorResponse('no such cluster or topology, or the topology has no such record yet'),
          502: errorResponse("the topology's master, its scheduler or the state manager did not answer, or refused"),
        },
      },
    };
  }
  paths['/metrics'] = {
    get: {
      summary: "Every topology's metrics in the Prometheus text format (ardea_* series), read at the scrape.",
      operationId: 'prometheusMetrics',
      responses: {
        200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } },
      },
    },
  };
  paths['/openapi.json'] = {
    get: {
      summary: 'This description.',
      operationId: 'openApi',
      responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Ardea tracker',
      version,
      description:
        "Read-only REST API over the topologies of every cluster the tracker serves. Resource names follow Heron's tracker; " +
        'every resource of one topology takes cluster and topology query parameters.',
    },
    paths,
    components: {
      schemas: { Error: ErrorBody },
      ...(auth ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } : {}),
    },
    ...(auth ? { security: [{ bearer: [] }] } : {}),
  };
}

function operationId(path: string): string {
  return path
    .split('/')
    .filter(Boolean)
    .map((part, i) => (i === 0 ? part : part[0]!.toUpperCase() + part.slice(1)))
    .join('');
}
