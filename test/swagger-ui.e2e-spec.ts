import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, hasChromium, SKIPPED } from './support/chromium.js';
import { SPEC_USER_ID } from './support/spec-example.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/test-app.js';

describe('Swagger UI at /docs, in headless Chromium', () => {
  let t: TestApp;
  let baseUrl: string;
  let browser: BrowserContext;
  let profileDir: string;

  beforeAll(async () => {
    if (!hasChromium) return;
    t = await startTestApp({ demoData: true });
    await t.app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}`;
    profileDir = mkdtempSync(join(tmpdir(), 'wc-chromium-'));
    // A fresh profile directory (Playwright takes it as userDataDir rather than as --user-data-dir).
    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  it.skipIf(!hasChromium)(`authorizes with an API key and lists the demo user's connections through "Try it out"${SKIPPED}`, async () => {
    const page = await browser.newPage();
    // Below the test's timeout, so that a missing element fails with Playwright's own message.
    page.setDefaultTimeout(10_000);
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    try {
      await page.goto(`${baseUrl}/docs`);
      // Swagger UI renders the document; nothing of it appears when its scripts are blocked (e.g. by the CSP).
      const authorize = page.getByRole('button', { name: /Authorize/ }).first();
      await authorize.waitFor({ timeout: 15_000 }).catch((error: Error) => {
        throw new Error(`Swagger UI did not render: ${error.message}\n${problems.join('\n')}`);
      });

      await authorize.click();
      const dialog = page.locator('.modal-ux');
      await dialog.locator('input').first().fill(ADMIN_KEY);
      // The dialog's "Authorize" (labelled "Apply credentials"), then its "Close".
      await dialog.locator('button.authorize').click();
      await expect.poll(() => dialog.locator('button.btn-done').textContent()).toBe('Close');
      await dialog.locator('button.btn-done').click();

      const operation = page.locator('.opblock-get', { has: page.locator('[data-path="/api/v1/users/{user_id}/connections"]') });
      await operation.locator('.opblock-summary').first().click();
      await operation.getByRole('button', { name: 'Try it out' }).click();
      const userId = operation.locator('tr[data-param-name="user_id"] input');
      await userId.fill(SPEC_USER_ID);
      const answered = page.waitForResponse((response) => response.url().includes(`/api/v1/users/${SPEC_USER_ID}/connections`));
      await operation.getByRole('button', { name: 'Execute' }).click();
      const response = await answered;
      expect(response.status()).toBe(200);
      // The key entered in the dialog was sent.
      expect(response.request().headers()['x-api-key']).toBe(ADMIN_KEY);

      const result = operation.locator('.live-responses-table');
      await expect.poll(() => result.locator('tr.response .response-col_status').textContent()).toContain('200');
      await expect.poll(() => result.locator('tr.response .response-col_description .highlight-code').textContent()).toContain('john_runner');
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
