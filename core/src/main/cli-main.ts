#!/usr/bin/env node
import { processIo } from '../cli/cli-io.js';
import { runCli } from '../cli/program.js';

// A safety net under the explicit modes: whatever the CLI creates (state, packages, logs, the
// supervisor it starts) is its owner's alone.
process.umask(0o077);

process.exitCode = await runCli(process.argv.slice(2), processIo());
