import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError, formatSchemaIssue } from '../errors/index.js';
import { PROVISIONING_POLICY_ID } from '../healthmgr/settings.js';
import type { LoadProfile } from './load-profile.js';
import type { ModelComponent, ModelGrouping, ModelSpec } from './model.js';

const positive = z.number().positive();
const seconds = z.number().min(0);
const rate = z.number().min(0);
const record = z.record(z.string(), positive);

const groupingSchema = z.union([
  z.enum(['shuffle', 'fields', 'all', 'global']),
  z.object({ type: z.literal('fields'), zipfExponent: z.number().min(0).optional(), keys: z.number().int().min(1).optional() }).strict(),
]);

const componentSchema = z
  .object({
    name: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/,
        "component names are letters, digits and '-' (no '_': it separates the parts of instance ids)",
      ),
    kind: z.enum(['spout', 'bolt']).default('bolt'),
    parallelism: z.number().int().min(1).default(1),
    serviceRate: positive,
    /** Tuples emitted per tuple executed, on every edge out of this component. */
    selectivity: z.number().min(0).default(1),
    tupleBytes: positive.default(100),
    loadShare: positive.optional(),
    inputs: z.array(z.object({ from: z.string(), grouping: groupingSchema.default('shuffle') }).strict()).default([]),
  })
  .strict();

const topologySchema = z
  .object({
    builtin: z.enum(['word-count', 'diamond']).optional(),
    /** Built-in topologies: service rate per component, tuples/s per instance. */
    rates: record.optional(),
    parallelism: z.record(z.string(), z.number().int().min(1)).optional(),
    selectivity: z.record(z.string(), z.number().min(0)).optional(),
    tupleBytes: record.optional(),
    components: z.array(componentSchema).min(1).optional(),
  })
  .strict()
  .refine((t) => (t.builtin === undefined) !== (t.components === undefined), {
    message: "give either 'builtin' or 'components', not both or neither",
  });

const loadSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('constant'), rate }).strict(),
  z
    .object({
      type: z.literal('steps'),
      rate,
      steps: z.array(z.object({ at: seconds, rate: rate.optional(), factor: z.number().min(0).optional() }).strict()).min(1),
    })
    .strict(),
  z.object({ type: z.literal('square'), low: rate, high: rate, period: positive, start: seconds.optional() }).strict(),
  z.object({ type: z.literal('sine'), low: rate, high: rate, period: positive, start: seconds.optional() }).strict(),
  z
    .object({
      type: z.literal('spikes'),
      rate,
      spikes: z
        .array(z.object({ at: seconds, duration: positive, rate: rate.optional(), factor: z.number().min(0).optional() }).strict())
        .min(1),
    })
    .strict(),
]);

export const ScenarioSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    topology: topologySchema,
    load: loadSchema,
    source: z
      .object({
        catchUp: z.number().min(1).default(2),
        arrivals: z.enum(['fluid', 'poisson']).default('fluid'),
        /** The spouts report their backlog (a queue consumer's lag), as `Spout.backlog` does. */
        reportsBacklog: z.boolean().default(true),
      })
      .strict()
      .default({ catchUp: 2, arrivals: 'fluid', reportsBacklog: true }),
    /** Virtual seconds simulated. */
    duration: positive,
    noise: z
      .object({ cv: z.number().min(0).max(2).default(0) })
      .strict()
      .default({ cv: 0 }),
    slowInstance: z
      .object({
        component: z.string(),
        instance: z.number().int().min(0).default(0),
        factor: z.number().min(1),
        at: seconds.default(0),
        clearedByRestart: z.boolean().default(true),
      })
      .strict()
      .optional(),
    hungInstance: z
      .object({
        component: z.string(),
        instance: z.number().int().min(0).default(0),
        at: seconds.default(0),
        clearedByRestart: z.boolean().default(true),
      })
      .strict()
      .optional(),
    crashingInstance: z
      .object({
        component: z.string(),
        instance: z.number().int().min(0).default(0),
        at: seconds.default(0),
        everySec: positive,
        clearedByRestart: z.boolean().default(true),
      })
      .strict()
      .optional(),
    /** The engine's `topology.hungInstanceMs`: its stream managers restart hung workers themselves; 0: off. */
    hungInstanceMs: z.number().int().min(0).default(10_000),
    skew: z
      .object({ zipfExponent: z.number().min(0), keys: z.number().int().min(1).default(10_000) })
      .strict()
      .optional(),
    cpu: z.object({ cores: positive }).strict().optional(),
    reconfiguration: z
      .object({ pauseSec: seconds.default(10) })
      .strict()
      .default({ pauseSec: 10 }),
    backpressure: z
      .object({ highWatermarkBytes: positive.default(1024 * 1024), lowWatermarkBytes: positive.default(512 * 1024) })
      .strict()
      .refine((b) => b.lowWatermarkBytes < b.highWatermarkBytes, { message: 'lowWatermarkBytes must be below highWatermarkBytes' })
      .default({ highWatermarkBytes: 1024 * 1024, lowWatermarkBytes: 512 * 1024 }),
    containers: z.number().int().min(1).default(2),
    /** The policy to run (`--policy` overrides) and per-policy setting overrides, as in healthmgr.yaml. */
    policy: z.string().default(PROVISIONING_POLICY_ID),
    policies: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
    metrics: z
      .object({ targetUtilization: z.number().gt(0).max(1).optional() })
      .strict()
      .default({}),
    seeds: z.array(z.number().int().min(0)).min(1).default([1]),
  })
  .strict();

export type Scenario = z.output<typeof ScenarioSchema>;

/** Parses and validates a scenario; errors name the source and the key. */
export function parseScenario(text: string, source: string): Scenario {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (error) {
    throw new ConfigError(`${source}: invalid YAML: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, {
      cause: error,
    });
  }
  return validateScenario(raw, source);
}

export function validateScenario(raw: unknown, source = '<scenario>'): Scenario {
  const parsed = ScenarioSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`${source}: ${formatSchemaIssue(parsed.error)}`, { cause: parsed.error, code: 'config.invalid' });
  }
  const scenario = parsed.data;
  const components = modelSpecOf(scenario, 0, source).components;
  const names = new Set(components.map((c) => c.name));
  for (const key of ['slowInstance', 'hungInstance', 'crashingInstance'] as const) {
    const fault = scenario[key];
    if (fault && !names.has(fault.component))
      throw new ConfigError(`${source}: ${key}.component: no component '${fault.component}' (have ${[...names].join(', ')})`);
  }
  for (const [key, value] of [
    ['rates', scenario.topology.rates],
    ['parallelism', scenario.topology.parallelism],
    ['selectivity', scenario.topology.selectivity],
    ['tupleBytes', scenario.topology.tupleBytes],
  ] as const) {
    for (const name of Object.keys(value ?? {})) {
      if (!names.has(name))
        throw new ConfigError(`${source}: topology.${key}.${name}: no component '${name}' (have ${[...names].join(', ')})`);
    }
  }
  return scenario;
}

export async function loadScenario(file: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read scenario ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return parseScenario(text, file);
}

type Builtin = ReadonlyArray<
  Omit<ModelComponent, 'inputs'> & { readonly inputs: ReadonlyArray<{ from: string; fields?: boolean }>; readonly selectivity: number }
>;

/**
 * Word count: sentences are split into 10 words each (shuffle), words are counted (fields grouping
 * on the word). Rates are tuples per busy second of one instance.
 */
const WORD_COUNT: Builtin = [
  { name: 'sentence', kind: 'spout', parallelism: 1, serviceRate: 100_000, tupleBytes: 100, selectivity: 1, inputs: [] },
  { name: 'split', kind: 'bolt', parallelism: 1, serviceRate: 1000, tupleBytes: 100, selectivity: 10, inputs: [{ from: 'sentence' }] },
  {
    name: 'count',
    kind: 'bolt',
    parallelism: 1,
    serviceRate: 5000,
    tupleBytes: 20,
    selectivity: 0,
    inputs: [{ from: 'split', fields: true }],
  },
];

/**
 * A 6-operator diamond: source → parse → {enrich (shuffle), aggregate (fields)} → join (fields)
 * → sink (shuffle). Both branches carry every parsed tuple; aggregate emits one tuple per two.
 */
const DIAMOND: Builtin = [
  { name: 'source', kind: 'spout', parallelism: 1, serviceRate: 100_000, tupleBytes: 100, selectivity: 1, inputs: [] },
  { name: 'parse', kind: 'bolt', parallelism: 1, serviceRate: 2000, tupleBytes: 100, selectivity: 1, inputs: [{ from: 'source' }] },
  { name: 'enrich', kind: 'bolt', parallelism: 1, serviceRate: 800, tupleBytes: 100, selectivity: 1, inputs: [{ from: 'parse' }] },
  {
    name: 'aggregate',
    kind: 'bolt',
    parallelism: 1,
    serviceRate: 1500,
    tupleBytes: 100,
    selectivity: 0.5,
    inputs: [{ from: 'parse', fields: true }],
  },
  {
    name: 'join',
    kind: 'bolt',
    parallelism: 1,
    serviceRate: 1200,
    tupleBytes: 100,
    selectivity: 1,
    inputs: [
      { from: 'enrich', fields: true },
      { from: 'aggregate', fields: true },
    ],
  },
  { name: 'sink', kind: 'bolt', parallelism: 1, serviceRate: 3000, tupleBytes: 100, selectivity: 0, inputs: [{ from: 'join' }] },
];

function componentsOf(scenario: Scenario, source: string): ModelComponent[] {
  const t = scenario.topology;
  const fields = (): ModelGrouping => ({
    type: 'fields',
    zipfExponent: scenario.skew?.zipfExponent ?? 0,
    keys: scenario.skew?.keys ?? 10_000,
  });
  let components: Array<ModelComponent & { selectivity: number }>;
  if (t.builtin) {
    const builtin = t.builtin === 'word-count' ? WORD_COUNT : DIAMOND;
    components = builtin.map((c) => ({
      ...c,
      serviceRate: t.rates?.[c.name] ?? c.serviceRate,
      parallelism: t.parallelism?.[c.name] ?? c.parallelism,
      selectivity: t.selectivity?.[c.name] ?? c.selectivity,
      tupleBytes: t.tupleBytes?.[c.name] ?? c.tupleBytes,
      inputs: c.inputs.map((i) => ({ from: i.from, grouping: i.fields ? fields() : { type: 'shuffle' as const }, selectivity: 0 })),
    }));
  } else {
    components = t.components!.map((c) => ({
      name: c.name,
      kind: c.kind,
      parallelism: t.parallelism?.[c.name] ?? c.parallelism,
      serviceRate: t.rates?.[c.name] ?? c.serviceRate,
      selectivity: t.selectivity?.[c.name] ?? c.selectivity,
      tupleBytes: t.tupleBytes?.[c.name] ?? c.tupleBytes,
      ...(c.loadShare !== undefined ? { loadShare: c.loadShare } : {}),
      inputs: c.inputs.map((i) => {
        const g = i.grouping;
        const grouping: ModelGrouping =
          typeof g === 'string'
            ? g === 'fields'
              ? fields()
              : { type: g }
            : {
                type: 'fields',
                zipfExponent: g.zipfExponent ?? scenario.skew?.zipfExponent ?? 0,
                keys: g.keys ?? scenario.skew?.keys ?? 10_000,
              };
        return { from: i.from, grouping, selectivity: 0 };
      }),
    }));
  }
  const byName = new Map(components.map((c) => [c.name, c]));
  if (byName.size !== components.length) throw new ConfigError(`${source}: topology.components: component names must be unique`);
  components.forEach((c, k) => {
    if (c.kind === 'spout' && c.inputs.length > 0)
      throw new ConfigError(`${source}: topology.components.${k}.inputs: a spout has no inputs`);
    if (c.kind === 'bolt' && c.inputs.length === 0)
      throw new ConfigError(`${source}: topology.components.${k}.inputs: bolt '${c.name}' needs at least one input`);
    c.inputs.forEach((i, j) => {
      if (!byName.has(i.from)) throw new ConfigError(`${source}: topology.components.${k}.inputs.${j}.from: no component '${i.from}'`);
    });
  });
  if (!components.some((c) => c.kind === 'spout')) throw new ConfigError(`${source}: topology.components: a topology needs a spout`);
  // Selectivity belongs to the emitting component: the engine reports one emit count per component,
  // so every edge out of it carries the same number of tuples per executed tuple.
  return components.map(({ selectivity: _own, ...c }) => ({
    ...c,
    inputs: c.inputs.map((i) => ({ ...i, selectivity: byName.get(i.from)!.selectivity })),
  }));
}

function loadOf(scenario: Scenario): LoadProfile {
  const load = scenario.load;
  const resolve = (base: number, item: { rate?: number | undefined; factor?: number | undefined }, where: string): number => {
    if ((item.rate === undefined) === (item.factor === undefined)) throw new ConfigError(`${where}: give either 'rate' or 'factor'`);
    return item.rate ?? base * item.factor!;
  };
  switch (load.type) {
    case 'steps':
      return {
        type: 'steps',
        rate: load.rate,
        steps: load.steps.map((s, k) => ({ at: s.at, rate: resolve(load.rate, s, `load.steps.${k}`) })),
      };
    case 'spikes':
      return {
        type: 'spikes',
        rate: load.rate,
        spikes: load.spikes.map((s, k) => ({ at: s.at, duration: s.duration, rate: resolve(load.rate, s, `load.spikes.${k}`) })),
      };
    case 'square':
    case 'sine':
      return {
        type: load.type,
        low: load.low,
        high: load.high,
        period: load.period,
        ...(load.start !== undefined ? { start: load.start } : {}),
      };
    case 'constant':
      return { type: 'constant', rate: load.rate };
  }
}

/** The model of one seed of a validated scenario. */
export function modelSpecOf(scenario: Scenario, seed: number, source = '<scenario>'): ModelSpec {
  let load: LoadProfile;
  try {
    load = loadOf(scenario);
  } catch (error) {
    throw error instanceof ConfigError ? new ConfigError(`${source}: ${error.message}`) : error;
  }
  return {
    topologyName: scenario.topology.builtin ?? 'simulated',
    components: componentsOf(scenario, source),
    load,
    catchUp: scenario.source.catchUp,
    arrivals: scenario.source.arrivals,
    ...(scenario.cpu ? { cpuCores: scenario.cpu.cores } : {}),
    ...(scenario.slowInstance ? { slowInstance: scenario.slowInstance } : {}),
    ...(scenario.hungInstance ? { hungInstance: scenario.hungInstance } : {}),
    ...(scenario.crashingInstance ? { crashingInstance: scenario.crashingInstance } : {}),
    hungInstanceMs: scenario.hungInstanceMs,
    highWatermarkBytes: scenario.backpressure.highWatermarkBytes,
    lowWatermarkBytes: scenario.backpressure.lowWatermarkBytes,
    reconfigurationPauseSec: scenario.reconfiguration.pauseSec,
    containers: scenario.containers,
    seed,
  };
}
