/** The `ardea-k8s-node-agent` command: parse flags, run the agent until SIGTERM or SIGINT. */
import { NodeAgent } from './agent.js';
import { streamLogger } from './logger.js';
import { parseAgentArguments, USAGE } from './options.js';

const logger = streamLogger((line) => process.stdout.write(line));

function fail(error: unknown): never {
  process.stderr.write(`ardea-k8s-node-agent: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

let options;
try {
  options = parseAgentArguments(process.argv.slice(2), process.env, logger);
} catch (error) {
  fail(error);
}
if (!options) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const agent = new NodeAgent(options);
let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info(`${signal}: stopping every pod's processes and marking node ${agent.nodeName} NotReady`);
  agent.stop().then(
    () => process.exit(0),
    (error: unknown) => fail(error),
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
try {
  await agent.start();
  logger.info(`node agent for ${agent.nodeName} running (pid ${process.pid}, state ${options.stateDirectory})`);
} catch (error) {
  await agent.stop().catch(() => {});
  fail(error);
}
