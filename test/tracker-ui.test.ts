/**
 * The tracker's web UI in a real browser: playwright-core drives Debian's Chromium (never a
 * downloaded one; `bash scripts/browser-up.sh` installs it) against a tracker serving a running word
 * count whose count bolt is saturated, so the health manager scales it while the page watches.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createArdea, createTracker, SilentLogger, type Tracker } from '@ardea/core';
import {
  ardea,
  CLEANUP_TIMEOUT_MS,
  E2E_WAIT_MS,
  expectHealthManagerScaledCount,
  freshHome,
  plannedContainers,
  removeHome,
  repoRoot,
  SATURATED_COUNT,
  withContainerLogs,
} from './support.js';

const CHROMIUM = '/usr/bin/chromium';
const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
const NAME = 'word-count';
const SHOTS = path.join(repoRoot, 'test', 'output', 'tracker-ui');
const TOKEN = 'tracker-ui-test-token-0123456789';

// Under CI the browser is part of the machine (.ci/run calls scripts/browser-up.sh): a missing one fails the test.
const runBrowser = existsSync(CHROMIUM) || process.env.CI === 'true';
if (!runBrowser)
  process.stderr.write(`tracker UI browser tests skipped: ${CHROMIUM} is missing; install it with: bash scripts/browser-up.sh\n`);

let home: string;
let tracker: Tracker | undefined;
let browser: Browser | undefined;

beforeEach(() => {
  home = freshHome('ardea-tracker-ui-');
  mkdirSync(SHOTS, { recursive: true });
});

afterEach(async () => {
  try {
    await browser?.close();
    browser = undefined;
    // The tracker closes the clusters' Ardea clients it was given.
    await tracker?.close();
    tracker = undefined;
  } finally {
    await removeHome(home);
  }
}, CLEANUP_TIMEOUT_MS);

async function startTracker(token?: string): Promise<string> {
  const client = await createArdea({ cluster: 'local', env: { ...process.env, ARDEA_HOME: home } });
  try {
    tracker = createTracker({ clusters: [client], host: '127.0.0.1', port: 0, logger: new SilentLogger(), ...(token ? { token } : {}) });
  } catch (error) {
    await client.close();
    throw error;
  }
  return await tracker.listen();
}

/** A page whose uncaught errors and console errors are collected, so a test can demand there were none. */
async function openPage(): Promise<{ page: Page; problems: string[] }> {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-gpu',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  return { page, problems };
}

/** The number a table cell shows, as the user reads it (`3,012.5`). */
function shownNumber(text: string | null): number {
  const value = Number((text ?? '').replace(/[,\s]/g, ''));
  if (!Number.isFinite(value)) throw new Error(`the page shows "${text}" where a number should be`);
  return value;
}

/** Waits until the page has refreshed its data at least `more` more times. */
async function refreshed(page: Page, more = 1): Promise<void> {
  const count = async () => Number((await page.locator('body').getAttribute('data-refreshes')) ?? '0');
  const target = (await count()) + more;
  await expect.poll(count, { timeout: E2E_WAIT_MS, interval: 200 }).toBeGreaterThanOrEqual(target);
}

describe.runIf(runBrowser)('the tracker web UI', () => {
  it('shows a running word count: its graph, throughput as ardea metrics has it, its containers, the health manager acting', async () => {
    const submitted = await ardea(home, 'submit', 'local', WORD_COUNT, ...SATURATED_COUNT);
    expect(submitted.code, submitted.stderr).toBe(0);
    const url = await startTracker();
    const { page, problems } = await openPage();

    await withContainerLogs(home, async () => {
      await page.goto(url);
      const row = page.locator(`#topologies tr[data-cluster="local"][data-topology="${NAME}"]`);
      await row.waitFor({ timeout: E2E_WAIT_MS });
      await expect.poll(() => row.locator('.badge').textContent(), { timeout: E2E_WAIT_MS }).toBe('RUNNING');
      await page.screenshot({ path: path.join(SHOTS, 'list.png'), fullPage: true });

      await row.getByRole('link', { name: NAME }).click();
      await page.locator('.dag-node').first().waitFor({ timeout: E2E_WAIT_MS });
      const components = await page.locator('.dag-node').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-component')));
      expect(components.sort()).toEqual(['count', 'sentence', 'split']);
      expect(await page.locator('.dag-edge').count()).toBe(2);
      await expect.poll(() => page.locator('.dag-edge[data-from="split"][data-to="count"] text').textContent()).toBe('fields(word)');

      // The chart's last value for count against `ardea metrics --json` over a short window, read
      // right after it: both are rates of the same counter over nearly the same seconds. On a busy
      // machine the two reads can straddle a metrics interval, so a few readings are allowed.
      const readings: string[] = [];
      const lastCount = page.locator('#throughput-last tr[data-component="count"] td.execute-rate');
      await expect.poll(async () => shownNumber(await lastCount.textContent()), { timeout: E2E_WAIT_MS, interval: 500 }).toBeGreaterThan(0);
      await vi.waitFor(
        async () => {
          await refreshed(page);
          const shown = shownNumber(await lastCount.textContent());
          const cli = await ardea(home, 'metrics', 'local', NAME, '--json', '--window', '2000');
          expect(cli.code, cli.stderr).toBe(0);
          const executeRate = (JSON.parse(cli.stdout) as { components: Record<string, { executeRate: number }> }).components.count!
            .executeRate;
          readings.push(`page ${shown}/s, cli ${executeRate.toFixed(1)}/s`);
          expect(Math.abs(shown - executeRate), readings.join('; ')).toBeLessThanOrEqual(0.2 * executeRate);
        },
        { timeout: 2 * E2E_WAIT_MS, interval: 1000 },
      );
      process.stderr.write(`tracker UI: count's throughput on the page vs ardea metrics: ${readings.join('; ')}\n`);

      // Every container the scheduler runs, container 0 included, is listed as running.
      const planned = await plannedContainers(home, 'local', NAME);
      await expect
        .poll(
          () =>
            page
              .locator('#containers tbody tr')
              .evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-container')}:${r.getAttribute('data-state')}`)),
          {
            timeout: E2E_WAIT_MS,
          },
        )
        .toEqual(planned.map((id) => `${id}:running`));
      expect(await page.locator('#containers tbody tr a', { hasText: 'log' }).count()).toBe(planned.length);
      await page.screenshot({ path: path.join(SHOTS, 'topology.png'), fullPage: true });

      await expectHealthManagerScaledCount(home, 'local', NAME);
      const action = page.locator('#health-actions li[data-type="scale-up"]').first();
      await expect.poll(() => action.getAttribute('data-verdict'), { timeout: E2E_WAIT_MS }).toBe('helped');
      expect(await action.locator('.description').textContent()).toMatch(/^scale up: count 1 -> \d+\b/);
      expect(await action.textContent()).toMatch(/predicted: backpressureMsPerSec 0/);
      // The action is drawn on the throughput chart, numbered as in the list under it.
      const marker = page.locator(`#chart-throughput .chart-marker[data-label="${await action.getAttribute('data-index')}"]`);
      await marker.waitFor({ timeout: E2E_WAIT_MS });
      expect(await marker.getAttribute('title')).toMatch(
        /scale up: count 1 -> \d+.*\npredicted: backpressureMsPerSec 0\b.*\nverdict: helped/,
      );

      // Selecting count in the graph charts its instances, now more than one.
      await page.locator('.dag-node[data-component="count"]').click();
      await expect.poll(() => page.locator('#instance-title').textContent()).toBe('Instances of count');
      await expect
        .poll(() => page.locator('#chart-instance-throughput .u-legend .u-series').count(), { timeout: E2E_WAIT_MS })
        .toBeGreaterThan(2);
      await expect.poll(() => page.locator('.dag-node[data-component="count"]').getAttribute('data-parallelism')).not.toBe('1');
      await refreshed(page);
      await page.screenshot({ path: path.join(SHOTS, 'after-health-action.png'), fullPage: true });

      // A container's log, followed from the end.
      await page.locator('#containers tr[data-container="1"] a').click();
      const starts = async () => ((await page.locator('#log-text').textContent()) ?? '').match(/starting container 1:/g)?.length ?? 0;
      await expect.poll(starts, { timeout: E2E_WAIT_MS }).toBe(1);
      // The view follows the log: the container's next run, appended to it, shows up below the first.
      const restarted = await ardea(home, 'restart', 'local', NAME, '1');
      expect(restarted.code, restarted.stderr).toBe(0);
      await expect.poll(starts, { timeout: E2E_WAIT_MS }).toBe(2);
      await page.screenshot({ path: path.join(SHOTS, 'container-log.png') });

      expect(problems).toEqual([]);
    });
  }, 600_000);

  it('sends the token from #token= on every request, and shows the 401 when it has none', async () => {
    const url = await startTracker(TOKEN);
    const { page, problems } = await openPage();

    await page.goto(url);
    await expect
      .poll(() => page.locator('.card .error').first().textContent(), { timeout: E2E_WAIT_MS })
      .toMatch(/401 .*bearer token.*#token=/s);
    // The browser itself reports each refused request; nothing else may have gone wrong.
    expect(problems.filter((p) => !/status of 401/.test(p))).toEqual([]);
    problems.length = 0;

    await page.goto(`${url}#token=${TOKEN}`);
    await expect
      .poll(() => page.locator('#topologies + p.empty').textContent(), { timeout: E2E_WAIT_MS })
      .toMatch(/No topology runs on any cluster/);
    await refreshed(page);
    expect(await page.locator('.card .error').isHidden()).toBe(true);
    // The token leaves the address bar: it would otherwise end up in history and screenshots.
    expect(new URL(page.url()).hash).toBe('#/');
    expect(problems).toEqual([]);
  }, 120_000);

  it('serves the page and its libraries with content types and cache headers, and nothing outside its files', async () => {
    const url = await startTracker();
    const get = (p: string, headers: Record<string, string> = {}) => fetch(new URL(p, url), { headers });

    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const etag = page.headers.get('etag')!;
    expect(await page.text()).toMatch(/<script type="module" src="\/ui\/app.js">/);
    expect((await get('/', { 'if-none-match': etag })).status).toBe(304);

    for (const [file, type] of [
      ['/ui/app.js', 'text/javascript; charset=utf-8'],
      ['/ui/style.css', 'text/css; charset=utf-8'],
      ['/ui/vendor/uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
      ['/ui/vendor/uPlot.min.css', 'text/css; charset=utf-8'],
      ['/ui/vendor/dagre.min.js', 'text/javascript; charset=utf-8'],
    ] as const) {
      const response = await get(file);
      expect(response.status, file).toBe(200);
      expect(response.headers.get('content-type'), file).toBe(type);
      expect((await response.arrayBuffer()).byteLength, file).toBeGreaterThan(1000);
    }
    expect((await get('/ui/vendor/dagre.min.js')).headers.get('cache-control')).toBe('public, max-age=86400');
    for (const outside of ['/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/vendor/../../package.json', '/ui/missing.js']) {
      expect((await get(outside)).status, outside).toBe(404);
    }
  });
});
