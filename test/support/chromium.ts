import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium (apt-get install chromium): the browser tests run in it, and are skipped, saying so, without it. */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export const SKIPPED = hasChromium ? '' : ` (skipped: ${CHROMIUM} does not exist; apt-get install chromium)`;

/**
 * Headless, and quiet on the network: without the background-networking flags Chromium reaches for
 * Google's services at start, which this machine's closed network refuses.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

/** A new Chromium with a profile of its own (Playwright makes and removes it). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
