import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Sql } from '../src/database/sql.js';
import { hasChromium, launchChromium, SKIPPED } from './support/chromium.js';
import { type ConnectWorld, startConnectWorld } from './support/connect-world.js';
import { httpHelpers } from './support/http-helpers.js';

/** Where the screenshots go (README's pictures are copied from here): test-results/ is not committed. */
const SHOTS = join(import.meta.dirname, '..', 'test-results', 'screenshots');
const HOUR_MS = 3_600_000;
const WCAG = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const VIEWPORTS = [
  { width: 375, height: 812 },
  { width: 1280, height: 800 },
];

/** The consumer's app, where return_url points: a page that says it is back. */
async function startConsumer(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><html lang="en"><title>Acme Health</title><h1>Back in Acme Health</h1></html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/wearables/done` };
}

describe('the hosted connect page', () => {
  let w: ConnectWorld;
  let consumer: { server: Server; url: string };
  let helpers: ReturnType<typeof httpHelpers>;

  beforeAll(async () => {
    consumer = await startConsumer();
    w = await startConnectWorld({ providers: ['garmin', 'strava', 'oura', 'polar'], connect: { appName: 'Acme Health' }, returnUrl: consumer.url });
    helpers = httpHelpers(() => w.t);
  });
  afterAll(async () => {
    await w?.close();
    consumer?.server.close();
  });

  /** A user connected to Garmin (synced 3 hours ago), whose Strava connection has expired, and with no Oura connection. */
  async function userWithThreeStates(): Promise<string> {
    const userId = await w.createUser();
    const garmin = { access_token: helpers.token('access'), provider_user_id: `g-${userId}`, last_synced_at: new Date(Date.now() - 3 * HOUR_MS - 60_000).toISOString() };
    expect((await helpers.putConnection(userId, 'garmin', garmin)).status).toBe(201);
    expect((await helpers.putConnection(userId, 'strava', { access_token: helpers.token('access'), provider_user_id: `s-${userId}`, status: 'expired' })).status).toBe(201);
    return userId;
  }

  const session = (userId: string) => w.createSession(userId, { providers: ['garmin', 'strava', 'oura'] });

  describe('over HTTP', () => {
    it('reads the session and the user’s connections in one statement, on one checkout, and stays under 30 KB with its stylesheet', async () => {
      const { url } = await session(await userWithThreeStates());
      const sql = w.t.app.get(Sql);
      const pool = (w.t.app.get(DataSource).driver as PostgresDriver).master as Pool;
      const statements = vi.spyOn(sql, 'rows');
      const checkouts = vi.spyOn(pool, 'connect');
      try {
        const page = await w.browser().get(url);
        expect(page.status).toBe(200);
        expect(statements).toHaveBeenCalledTimes(1);
        expect(checkouts).toHaveBeenCalledTimes(1);
        expect(Buffer.byteLength(page.body)).toBeLessThan(30 * 1024);
        // Everything the page needs is in it: no stylesheet, script, image or font to fetch.
        expect(page.body).not.toMatch(/<link|<script|<img|url\(|@import/);
      } finally {
        statements.mockRestore();
        checkouts.mockRestore();
      }
    });

    it('shows the user’s true state at each provider, and no user id, internal id or token', async () => {
      const userId = await userWithThreeStates();
      const created = await session(userId);
      const page = await w.browser().get(created.url);
      const states = [...page.body.matchAll(/<h2>([^<]+)<\/h2>\s*<p class="state (\w+)">.*?<\/span>([^<]+)<\/p>/g)].map((match) => match.slice(1));
      expect(states).toEqual([
        ['Garmin', 'connected', 'Connected · last synced 3 hours ago'],
        ['Strava', 'reconnect', 'Needs reconnecting'],
        ['Oura', 'none', 'Not connected'],
      ]);
      const connections = await w.connectionsOf(userId);
      for (const secret of [userId, created.id, ...connections.map((connection) => connection.id), ...connections.map((c) => c.provider_user_id!)]) {
        expect(page.body).not.toContain(secret);
      }
      // The link's token appears only in the link's own URLs (its buttons and its back link).
      expect(page.body.split(created.token)).toHaveLength(5);
    });

    it('counts links not found against the address, as failed authentications are, and still serves a right link', async () => {
      const limited = await startConnectWorld({ providers: ['garmin', 'strava'], authFailureLimitPerMinute: 3 });
      try {
        const userId = await limited.createUser();
        const { url } = await limited.createSession(userId);
        const browser = limited.browser();
        const unknown = `${limited.publicUrl}/connect/${'A'.repeat(43)}`;
        for (const path of [unknown, `${unknown}/garmin`, `${limited.publicUrl}/connect/short`]) expect((await browser.get(path)).status, path).toBe(404);
        const blocked = await browser.get(`${unknown}/cancel`);
        expect(blocked.status).toBe(429);
        expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(blocked.body).toContain('Too many links tried');
        // A right link is not a guess: it is served from the blocked address too.
        expect((await browser.get(url)).status).toBe(200);
        expect((await browser.get(unknown)).status).toBe(429);
      } finally {
        await limited.close();
      }
    });

    it('may be framed only by the origins CONNECT_FRAME_ANCESTORS names', async () => {
      const framed = await startConnectWorld({ providers: ['garmin', 'strava'], connect: { frameAncestors: ['https://app.example.com', 'https://admin.example.com:8443'] } });
      try {
        for (const url of [(await framed.createSession(await framed.createUser())).url, `${framed.publicUrl}/connect/${'A'.repeat(43)}`]) {
          const page = await framed.browser().get(url);
          expect(page.headers.get('content-security-policy')).toMatch(/; frame-ancestors https:\/\/app\.example\.com https:\/\/admin\.example\.com:8443$/);
          expect(page.headers.get('x-frame-options')).toBeNull();
        }
      } finally {
        await framed.close();
      }
    });
  });

  describe(`in Chromium${SKIPPED}`, () => {
    let chromium: Browser;

    beforeAll(async () => {
      if (hasChromium) chromium = await launchChromium();
    });
    afterAll(async () => {
      await chromium?.close();
    });

    /**
     * A page that records what it loaded and what went wrong: script errors, console errors (a CSP
     * violation is one), failed requests. "Failed to load resource" is left out: Chromium says it of
     * every 4xx, and the error pages are 4xx on purpose.
     */
    async function open(options: { javaScriptEnabled?: boolean; colorScheme?: 'light' | 'dark'; viewport?: { width: number; height: number } } = {}) {
      const context = await chromium.newContext({ javaScriptEnabled: options.javaScriptEnabled ?? true, colorScheme: options.colorScheme, viewport: options.viewport });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const problems: string[] = [];
      const loaded: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('requestfailed', (request) => problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`));
      page.on('request', (request) => loaded.push(request.url()));
      return { page, problems, loaded, close: () => context.close() };
    }

    const card = (page: Page, name: string) => page.getByRole('listitem').filter({ has: page.getByRole('heading', { name, exact: true }) });

    it.skipIf(!hasChromium)('by mouse, with JavaScript off: three providers in their true states, a click, consent, back at the app connected; a new link shows Connected', async () => {
      const userId = await userWithThreeStates();
      const { url } = await session(userId);
      const { page, problems, loaded, close } = await open({ javaScriptEnabled: false });
      try {
        w.fake.showConsentPages(true);
        await page.goto(url);
        await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Connect your wearable to Acme Health');
        await expect.poll(() => card(page, 'Garmin').textContent()).toMatch(/Connected · last synced 3 hours ago/);
        await expect.poll(() => card(page, 'Strava').textContent()).toMatch(/Needs reconnecting/);
        await expect.poll(() => card(page, 'Oura').textContent()).toMatch(/Not connected/);
        expect(await page.getByRole('listitem').count()).toBe(3);

        await page.getByRole('link', { name: 'Connect Oura', exact: true }).click();
        await page.getByRole('link', { name: 'Allow' }).click();
        await page.waitForURL((target) => target.href.startsWith(consumer.url));
        const back = new URL(page.url());
        expect(back.searchParams.get('status')).toBe('connected');
        expect(back.searchParams.get('provider')).toBe('oura');
        expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Back in Acme Health');

        await page.goto((await session(userId)).url);
        await expect.poll(() => card(page, 'Oura').textContent()).toMatch(/Connected · not synced yet/);
        await expect.poll(() => card(page, 'Oura').getByRole('link').textContent()).toBe('Connect again Oura');
        // Nothing was loaded but the service's pages, the provider's and the app's: no external request.
        const origins = new Set(loaded.map((address) => new URL(address).origin));
        expect([...origins].sort()).toEqual([w.publicUrl, w.fake.baseUrl, new URL(consumer.url).origin].sort());
        expect(problems).toEqual([]);
      } finally {
        w.fake.showConsentPages(false);
        await close();
        await w.release(userId, 'oura');
      }
    });

    it.skipIf(!hasChromium)('by keyboard only: Tab to a provider, Enter, and Enter again at its consent, ends back at the app connected', async () => {
      const userId = await userWithThreeStates();
      const { url } = await session(userId);
      const { page, problems, close } = await open();
      try {
        w.fake.showConsentPages(true);
        await page.goto(url);
        const focusedText = () => page.locator(':focus').innerText();
        let presses = 0;
        do {
          await page.keyboard.press('Tab');
          presses += 1;
        } while (!/^Connect\s*Oura$/.test((await focusedText()).trim()) && presses < 10);
        expect(presses, 'Tab presses to reach "Connect Oura"').toBe(3);
        // The focus can be seen: the focused button has an outline.
        const outline = await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle');
        expect(outline).not.toBe('none');
        await Promise.all([page.waitForURL((target) => target.origin === w.fake.baseUrl), page.keyboard.press('Enter')]);
        await page.keyboard.press('Tab');
        await Promise.all([page.waitForURL((target) => target.href.startsWith(consumer.url)), page.keyboard.press('Enter')]);
        expect(new URL(page.url()).searchParams.get('status')).toBe('connected');
        expect(problems).toEqual([]);
      } finally {
        w.fake.showConsentPages(false);
        await close();
        await w.release(userId, 'oura');
      }
    });

    it.skipIf(!hasChromium)('has no accessibility violation (axe-core, WCAG 2.2 AA) on the page and the error pages, light and dark', async () => {
      const userId = await userWithThreeStates();
      const used = await session(userId);
      w.fake.showConsentPages(false);
      await w.run(w.browser(), `${used.url}/oura`);
      await w.release(userId, 'oura');
      const expired = await session(userId);
      await w.t.app.get(Sql).rows(`UPDATE connect_sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, [expired.id]);
      const pages = {
        connect: (await session(userId)).url,
        used: used.url,
        expired: expired.url,
        'not found': `${w.publicUrl}/connect/${'A'.repeat(43)}`,
        'invalid callback': `${w.publicUrl}/oauth/oura/callback?state=${'B'.repeat(43)}&code=x`,
      };
      for (const colorScheme of ['light', 'dark'] as const) {
        const { page, problems, close } = await open({ colorScheme });
        try {
          for (const [name, url] of Object.entries(pages)) {
            const response = await page.goto(url);
            expect(response!.status(), name).toBe({ connect: 200, used: 410, expired: 410, 'not found': 404, 'invalid callback': 400 }[name]);
            const results = await new AxeBuilder({ page }).withTags(WCAG).analyze();
            expect(
              results.violations.map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`),
              `${name} (${colorScheme})`,
            ).toEqual([]);
            expect(results.passes.length, `${name} (${colorScheme}): axe ran its checks`).toBeGreaterThan(5);
          }
          expect(problems).toEqual([]);
        } finally {
          await close();
        }
      }
    });

    it.skipIf(!hasChromium)('fits a 320 px phone to a desktop, with targets of 24 px or more; screenshots at 375×812 and 1280×800', async () => {
      const { url } = await session(await userWithThreeStates());
      mkdirSync(SHOTS, { recursive: true });
      for (const viewport of [{ width: 320, height: 640 }, ...VIEWPORTS]) {
        for (const colorScheme of ['light', 'dark'] as const) {
          const { page, close } = await open({ viewport, colorScheme });
          try {
            await page.goto(url);
            // No sideways scrolling.
            expect(await page.evaluate<number>('document.documentElement.scrollWidth'), `${viewport.width} px`).toBeLessThanOrEqual(viewport.width);
            for (const link of await page.getByRole('link').all()) {
              const box = (await link.boundingBox())!;
              expect(Math.min(box.width, box.height), `${await link.innerText()} at ${viewport.width} px`).toBeGreaterThanOrEqual(24);
            }
            if (viewport.width !== 320) await page.screenshot({ path: join(SHOTS, `connect-page-${viewport.width}x${viewport.height}-${colorScheme}.png`), fullPage: true });
          } finally {
            await close();
          }
        }
      }
      const { page, close } = await open({ viewport: VIEWPORTS[0] });
      try {
        await page.goto(`${w.publicUrl}/connect/${'A'.repeat(43)}`);
        await page.screenshot({ path: join(SHOTS, 'connect-not-found-375x812-light.png') });
      } finally {
        await close();
      }
    });
  });
});
