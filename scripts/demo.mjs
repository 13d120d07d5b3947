#!/usr/bin/env node
// The README's main job. Until the runtime engine lands it shows the two things the core does
// today on the built-in `local` cluster: the merged configuration, and how word count is packed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_PACKING_SETTINGS,
  applyPackingHints,
  BUILTIN_PACKING_ALGORITHMS,
  formatResources,
  instanceName,
  validateTopology,
} from '@ardea/core';

const cli = fileURLToPath(new URL('../core/dist/cli/main.js', import.meta.url));
const out = (line = '') => process.stdout.write(`${line}\n`);

out('$ ardea config local');
const config = spawnSync(process.execPath, [cli, 'config', 'local'], { stdio: 'inherit' });
if (config.status !== 0) process.exit(config.status ?? 1);

const wordCount = validateTopology({
  name: 'word-count',
  id: 'word-count-demo',
  config: {},
  packing: { containers: 2 },
  components: [
    { name: 'sentence', kind: 'spout', parallelism: 1, config: {}, outputs: [{ id: 'default', fields: ['sentence'] }], inputs: [] },
    {
      name: 'split',
      kind: 'bolt',
      parallelism: 2,
      config: {},
      outputs: [{ id: 'default', fields: ['word'] }],
      inputs: [{ component: 'sentence', stream: 'default', grouping: { type: 'shuffle' } }],
    },
    {
      name: 'count',
      kind: 'bolt',
      parallelism: 2,
      resources: { ramBytes: 512 * 1024 * 1024 },
      config: {},
      outputs: [{ id: 'default', fields: ['word', 'count'] }],
      inputs: [{ component: 'split', stream: 'default', grouping: { type: 'fields', fields: ['word'] } }],
    },
  ],
});

const settings = applyPackingHints(DEFAULT_PACKING_SETTINGS, wordCount.packing);
for (const algorithm of BUILTIN_PACKING_ALGORITHMS) {
  const plan = algorithm.pack(wordCount, settings);
  out();
  out(`word count packed by ${algorithm.name}: ${plan.containers.length} container(s) plus container 0`);
  for (const container of plan.containers) {
    out(`  container ${container.id} (${formatResources(container.required)}): ${container.instances.map((i) => instanceName(container.id, i)).join(' ')}`);
  }
  const scaled = algorithm.repack({ current: plan, topology: { ...wordCount, components: wordCount.components.map((c) => (c.name === 'count' ? { ...c, parallelism: 6 } : c)) } }, settings);
  out(`  after 'count' 2 -> 6: ${scaled.containers.map((c) => `${c.id}:[${c.instances.map((i) => `${i.component}#${i.taskId}`).join(',')}]`).join(' ')}`);
}
out();
out('The runtime engine (topology master, stream managers, instances) comes next: then this demo submits word count to `local` and shows its live counts.');
