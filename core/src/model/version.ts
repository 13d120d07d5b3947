import { createRequire } from 'node:module';

/** The version of this `@ardea/core`, from its package.json. */
export const ARDEA_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
