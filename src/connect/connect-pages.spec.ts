import { Eta } from 'eta';
import { describe, expect, it } from 'vitest';
import type { PageKind } from './connect-errors.js';
import { choosePage, connectedText, messagePage, type Page } from './connect-pages.js';
import { pagePolicy, VIEWS_DIR } from './connect-views.js';

// The templates as ConnectViews renders them (through @fastify/view, with the same eta settings).
const eta = new Eta({ views: VIEWS_DIR, autoEscape: true, cache: true });
const html = (page: Page): string => eta.render(`./${page.template}`, { css: 'body{}', ...page.data });
const NOW = new Date('2026-12-04T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);

describe('the connect pages', () => {
  it('escape every dynamic value: the app name, the hrefs', () => {
    const page = choosePage(`<b>Acme</b> & "Co"`, [{ provider: 'strava', href: 'https://svc.example/connect/t/strava?"><script>' }], 'https://svc.example/connect/t/cancel?"x', NOW);
    const text = html(page);
    expect(text).toContain('href="https://svc.example/connect/t/strava?&quot;&gt;&lt;script&gt;"');
    expect(text).toContain('Connect your wearable to &lt;b&gt;Acme&lt;/b&gt; &amp; &quot;Co&quot;');
    expect(text).not.toContain('<script>');
    expect(text).not.toContain('<b>');
  });

  it('show each provider with the user’s state in words and one button', () => {
    const page = choosePage(
      'Acme Health',
      [
        { provider: 'garmin', href: '/connect/t/garmin', connection: { status: 'active', lastSyncedAt: ago(3 * 3_600_000) } },
        { provider: 'whoop', href: '/connect/t/whoop', connection: { status: 'expired', lastSyncedAt: null } },
        { provider: 'oura', href: '/connect/t/oura', connection: { status: 'revoked', lastSyncedAt: ago(60_000) } },
        { provider: 'fitbit', href: '/connect/t/fitbit' },
      ],
      '/connect/t/cancel',
      NOW,
    );
    expect(page.status).toBe(200);
    const text = html(page);
    expect(text).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(text).toContain('<title>Connect your wearable to Acme Health</title>');
    expect(text.match(/<li class="provider">/g)).toHaveLength(4);
    expect(text.match(/<a class="button/g)).toHaveLength(4);
    for (const [name, state, action, href] of [
      ['Garmin', 'Connected · last synced 3 hours ago', 'Connect again', '/connect/t/garmin'],
      ['WHOOP', 'Needs reconnecting', 'Reconnect', '/connect/t/whoop'],
      ['Oura', 'Needs reconnecting', 'Reconnect', '/connect/t/oura'],
      ['Fitbit (Google)', 'Not connected', 'Connect', '/connect/t/fitbit'],
    ]) {
      const card = text.slice(text.indexOf(`<h2>${name}</h2>`));
      expect(card.slice(0, card.indexOf('</li>'))).toMatch(
        new RegExp(`${state}</p>[\\s\\S]*href="${href}">${action}<span class="visually-hidden"> ${name.replace(/[()]/g, '\\$&')}</span></a>`),
      );
    }
    expect(text).toContain('<a href="/connect/t/cancel">Back to Acme Health</a>');
    expect(text).toContain('<style>body{}</style>');
    expect(text).not.toMatch(/<script|<img|<form|<iframe|style=/);
  });

  it('say when a connection last synced, in words', () => {
    expect(connectedText(null, NOW)).toBe('Connected · not synced yet');
    expect(connectedText(ago(20_000), NOW)).toBe('Connected · last synced just now');
    expect(connectedText(ago(-60_000), NOW)).toBe('Connected · last synced just now');
    expect(connectedText(ago(60_000), NOW)).toBe('Connected · last synced 1 minute ago');
    expect(connectedText(ago(59 * 60_000), NOW)).toBe('Connected · last synced 59 minutes ago');
    expect(connectedText(ago(90 * 60_000), NOW)).toBe('Connected · last synced 1 hour ago');
    expect(connectedText(ago(30 * 3_600_000), NOW)).toBe('Connected · last synced yesterday');
    expect(connectedText(ago(10 * 86_400_000), NOW)).toBe('Connected · last synced last week');
    expect(connectedText(ago(400 * 86_400_000), NOW)).toBe('Connected · last synced last year');
  });

  it('say why a link cannot be used, with its status and what to do, and link nowhere', () => {
    const statuses: Record<PageKind, number> = {
      not_found: 404,
      expired: 410,
      used: 410,
      exhausted: 429,
      blocked: 429,
      invalid_callback: 400,
      internal_error: 500,
      unavailable: 503,
    };
    for (const [kind, status] of Object.entries(statuses) as [PageKind, number][]) {
      const page = messagePage(kind);
      expect(page.status, kind).toBe(status);
      const text = html(page);
      expect(text, kind).toMatch(/^<!doctype html>/);
      expect(text, kind).toMatch(/<h1>[^<]+<\/h1>\n<p class="lead">[^<]*(Go back|Wait a minute|Check that)/);
      expect(text, kind).not.toMatch(/<a |<script|<form|<img|style=/);
    }
    expect(messagePage('unavailable').retryAfter).toBe(1);
    expect(messagePage('blocked', 42).retryAfter).toBe(42);
    expect(messagePage('not_found').retryAfter).toBeUndefined();
    expect(html(messagePage('expired'))).toContain('This link has expired');
  });

  it('allow only their own stylesheet, by its hash, and framing only by the origins named', () => {
    const policy = pagePolicy('body{}', []);
    expect(policy).toBe("default-src 'none'; style-src 'sha256-fJgEClQWV1hGkK4qHMO0KotTsVnMYMXTq7/suurGyUo='; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    expect(pagePolicy('body{}', ['https://app.example.com', 'http://localhost:5173'])).toMatch(/; frame-ancestors https:\/\/app\.example\.com http:\/\/localhost:5173$/);
  });
});
