#!/usr/bin/env node
// The README's main job: word count on the built-in `local` cluster. It submits the example, shows
// its live counts, pauses it to show that every tuple emitted was processed, and kills it.
// DEMO_SECONDS (default 10) sets how long it runs; DEMO_RATE sets sentences per second (0: unthrottled).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createArdea, describeError, StreamLogger } from '@ardea/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const seconds = Number(process.env.DEMO_SECONDS ?? 10);
const rate = Number(process.env.DEMO_RATE ?? 0);
const name = 'word-count-demo';
const out = (line = '') => process.stdout.write(`${line}\n`);
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const ardea = await createArdea({ cluster: 'local', logger: new StreamLogger({ level: 'warn', format: 'text' }) });
let submitted = false;
try {
  if ((await ardea.list()).includes(name)) {
    out(`a previous ${name} is still running; killing it first`);
    await ardea.kill(name);
  }
  out(`submitting examples/word-count to the local cluster as '${name}' (ARDEA_HOME=${ardea.config.home})`);
  await ardea.submit({
    packagePath: path.join(root, 'examples', 'word-count'),
    name,
    properties: [
      { key: 'topology.metricsIntervalMs', value: 1000 },
      { key: 'topology.metricsWindowMs', value: 2000 },
      { key: 'sentence.rate', value: rate },
    ],
    onProgress: (message) => out(`  ${message}`),
  });
  submitted = true;
  out();
  out(`live counts, every second for ${seconds} s (sentences: 10 words each${rate ? `, ${fmt(rate)}/s offered` : ', unthrottled'}):`);
  for (let t = 1; t <= seconds; t++) {
    await sleep(1000);
    const { components: c } = await ardea.metrics(name, { windowMs: 2000 });
    if (!c.count) continue;
    out(
      `  ${String(t).padStart(3)}s  sentences ${fmt(c.sentence.emitted).padStart(12)}  words ` +
        `split ${fmt(c.split.emitted).padStart(13)}  words counted ${fmt(c.count.executed).padStart(13)}  ` +
        `(${c.count.executeRate > 0 ? `${fmt(c.count.executeRate)} words/s` : 'measuring the rate'})`,
    );
  }
  out();
  out('deactivating: spouts stop, bolts drain what is in flight');
  await ardea.deactivate(name);
  let previous;
  for (;;) {
    await sleep(1500);
    const { components: c } = await ardea.metrics(name);
    const now = [c.sentence.emitted, c.split.executed, c.split.emitted, c.count.executed];
    if (previous && now.every((v, i) => v === previous[i])) {
      out(
        `  sentences emitted ${fmt(now[0])} = split executed ${fmt(now[1])}; words emitted ${fmt(now[2])} = count executed ${fmt(now[3])}`,
      );
      out(now[0] === now[1] && now[2] === now[3] ? '  nothing lost' : '  MISMATCH: tuples were lost');
      break;
    }
    previous = now;
  }
} catch (error) {
  process.exitCode = 1;
  out(`demo failed: ${describeError(error)}`);
} finally {
  if (submitted) {
    out(`killing ${name}`);
    await ardea.kill(name).catch((error) => out(`kill failed: ${describeError(error)}`));
  }
  await ardea.close();
}
