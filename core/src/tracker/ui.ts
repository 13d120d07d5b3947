import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Env, Hono } from 'hono';
import { ConfigError } from '../errors/index.js';

/** One file the UI serves, read once: the page and its libraries are small and never change under a running tracker. */
interface StaticFile {
  readonly body: Uint8Array;
  readonly contentType: string;
  readonly etag: string;
  readonly cacheControl: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

// The page's own files revalidate on every load (an upgraded tracker serves new ones at the same
// URLs); the libraries change only with the installed package, so a browser may keep them a day.
const OWN_FILES_CACHE = 'no-cache';
const VENDOR_CACHE = 'public, max-age=86400';

/** `core/ui`, beside both `core/src` (tests) and `core/dist` (an installed package). */
const UI_DIRECTORY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'ui');

/**
 * The libraries the page loads from `/ui/vendor/`: package and file inside it. Found from the
 * package's package.json, which Node resolves where this module runs (a hoisted workspace or an
 * installed package); dagre's exports map hides its browser bundle from a direct resolve.
 */
const VENDOR_FILES: Readonly<Record<string, readonly [string, string]>> = {
  'uPlot.iife.min.js': ['uplot', 'dist/uPlot.iife.min.js'],
  'uPlot.min.css': ['uplot', 'dist/uPlot.min.css'],
  'dagre.min.js': ['@dagrejs/dagre', 'dist/dagre.min.js'],
};

function staticFile(file: string, cacheControl: string): StaticFile {
  const body = readFileSync(file);
  const contentType = CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream';
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, contentType, etag, cacheControl };
}

/** Every file under `directory`, by its path relative to it with `/` separators. */
function filesUnder(directory: string, prefix = ''): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) {
      for (const [name, file] of filesUnder(full, `${prefix}${entry.name}/`)) found.set(name, file);
    } else if (entry.isFile() && CONTENT_TYPES[path.extname(entry.name)] !== undefined) {
      found.set(`${prefix}${entry.name}`, full);
    }
  }
  return found;
}

function loadFiles(): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  // Only files that exist when the tracker starts are served, by exact name: a request path is
  // looked up, never joined onto the directory, so `..` cannot reach outside it.
  for (const [name, file] of filesUnder(UI_DIRECTORY)) files.set(name, staticFile(file, OWN_FILES_CACHE));
  const require = createRequire(import.meta.url);
  for (const [name, [pkg, file]] of Object.entries(VENDOR_FILES)) {
    const root = path.dirname(require.resolve(`${pkg}/package.json`));
    files.set(`vendor/${name}`, staticFile(path.join(root, file), VENDOR_CACHE));
  }
  return files;
}

function serve(c: Context, file: StaticFile): Response {
  const headers = {
    'content-type': file.contentType,
    'cache-control': file.cacheControl,
    etag: file.etag,
    'x-content-type-options': 'nosniff',
  };
  const seen = c.req.header('if-none-match');
  if (seen !== undefined && seen.split(',').some((tag) => tag.trim() === file.etag)) return c.body(null, 304, headers);
  return c.body(new Uint8Array(file.body), 200, headers);
}

/**
 * Serves the tracker's web UI: the page at `/` (and `/ui/`), its scripts and styles under `/ui/`,
 * and the chart and layout libraries under `/ui/vendor/`. The page itself reads the REST API.
 */
export function registerUi<E extends Env>(app: Hono<E>): void {
  const files = loadFiles();
  const index = files.get('index.html');
  if (index === undefined)
    throw new ConfigError(`the tracker UI's index.html is missing from ${UI_DIRECTORY}: reinstall @ardea/core`, {
      code: 'tracker.ui-missing',
    });
  const page = (c: Context) => serve(c, index);
  app.get('/', page);
  app.get('/ui', page);
  app.get('/ui/', page);
  // Browsers ask for it unprompted; an empty answer keeps their consoles free of 404s.
  app.get('/favicon.ico', (c) => c.body(null, 204, { 'cache-control': VENDOR_CACHE }));
  app.get('/ui/*', (c) => {
    const name = c.req.path.slice('/ui/'.length);
    const file = files.get(name);
    if (file === undefined)
      return c.json({ error: `no UI file ${name}: the UI serves ${[...files.keys()].join(', ')}`, code: 'tracker.not-found' }, 404);
    return serve(c, file);
  });
}
