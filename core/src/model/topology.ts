import { z } from 'zod';
import { describeSchemaIssue, TopologyError } from '../errors/index.js';
import {
  checkTopologyDefinition,
  MAX_CONTAINERS,
  NAME_RULE,
  TOPOLOGY_NAME_PATTERN,
  type TopologyDefinition,
} from './topology-definition.js';

// The types, limits and plain checks live apart from the schema, so the topology API imports no zod.
export * from './topology-definition.js';

const nameSchema = (what: string) => z.string().regex(TOPOLOGY_NAME_PATTERN, `${what} ${NAME_RULE}`);

const resourceRequestSchema = z
  .object({
    cpu: z.number().positive().optional(),
    ramBytes: z.number().int().positive().optional(),
    diskBytes: z.number().int().nonnegative().optional(),
  })
  .strict();

const bound = z.number().finite().optional();
const runtimeConfigSpecSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('number'), min: bound, max: bound }).strict(),
  z.object({ type: z.literal('integer'), min: bound, max: bound }).strict(),
  z.object({ type: z.literal('string') }).strict(),
  z.object({ type: z.literal('boolean') }).strict(),
  z.object({ type: z.literal('enum'), values: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1) }).strict(),
]);

const groupingSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('shuffle') }).strict(),
  z.object({ type: z.literal('fields'), fields: z.array(z.string().min(1)).min(1) }).strict(),
  z.object({ type: z.literal('all') }).strict(),
  z.object({ type: z.literal('global') }).strict(),
  z.object({ type: z.literal('direct') }).strict(),
  z.object({ type: z.literal('custom'), name: z.string().min(1) }).strict(),
  z.object({ type: z.literal('none') }).strict(),
]);

export const TopologyDefinitionSchema = z
  .object({
    name: nameSchema('topology name'),
    id: z.string().min(1),
    components: z
      .array(
        z
          .object({
            name: nameSchema('component name'),
            kind: z.enum(['spout', 'bolt']),
            parallelism: z.number().int().min(1),
            resources: resourceRequestSchema.optional(),
            config: z.record(z.string(), z.unknown()),
            outputs: z.array(
              z.object({ id: z.string().min(1), fields: z.array(z.string().min(1)), direct: z.boolean().optional() }).strict(),
            ),
            inputs: z.array(z.object({ component: z.string(), stream: z.string(), grouping: groupingSchema }).strict()),
            runtimeConfigSpec: z.record(z.string().min(1), runtimeConfigSpecSchema).optional(),
          })
          .strict(),
      )
      .min(1, 'a topology needs at least one component'),
    config: z.record(z.string(), z.unknown()),
    packing: z
      .object({
        containers: z.number().int().min(1).max(MAX_CONTAINERS, `at most ${MAX_CONTAINERS} containers`).optional(),
        containerResources: resourceRequestSchema.optional(),
        maxInstancesPerContainer: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Checks the shape of a definition from anywhere (the state store, a package's build) with the
 * schema, then its meaning with {@link checkTopologyDefinition}. Submit runs it once, on the
 * submitter; the topology API runs only the plain checks, so bundles carry no zod. Throws one
 * {@link TopologyError} naming the component and the problem.
 */
export function validateTopology(input: unknown): TopologyDefinition {
  const parsed = TopologyDefinitionSchema.safeParse(input);
  if (!parsed.success) {
    const issue = describeSchemaIssue(parsed.error.issues[0]!);
    throw new TopologyError(`invalid topology definition${issue.path ? ` at ${issue.path}` : ''}: ${issue.message}`, {
      cause: parsed.error,
    });
  }
  const topology = parsed.data as TopologyDefinition;
  return checkTopologyDefinition(topology);
}
