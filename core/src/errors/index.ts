export * from './ardea-error.js';
export * from './schema-issues.js';
