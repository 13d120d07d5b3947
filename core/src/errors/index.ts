export * from './ardea-error.js';
