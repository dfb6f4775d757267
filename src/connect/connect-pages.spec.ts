import { describe, expect, it } from 'vitest';
import { choosePage, escapeHtml, messagePage } from './connect-pages.js';

describe('the connect pages', () => {
  it('escape every dynamic value', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
    const page = choosePage([{ provider: 'strava', href: 'https://svc.example/connect/t/strava?"><script>' }]);
    expect(page.html).toContain('href="https://svc.example/connect/t/strava?&quot;&gt;&lt;script&gt;"');
    expect(page.html).not.toContain('<script>');
  });

  it('list one link per provider, by its name', () => {
    const page = choosePage([
      { provider: 'garmin', href: 'https://svc.example/connect/t/garmin' },
      { provider: 'fitbit', href: 'https://svc.example/connect/t/fitbit' },
    ]);
    expect(page.status).toBe(200);
    expect(page.html.match(/<a /g)).toHaveLength(2);
    expect(page.html).toContain('<a href="https://svc.example/connect/t/garmin">Garmin</a>');
    expect(page.html).toContain('<a href="https://svc.example/connect/t/fitbit">Fitbit (Google)</a>');
  });

  it('say why a link cannot be used, with its status, and link nowhere', () => {
    expect(messagePage('not_found').status).toBe(404);
    expect(messagePage('expired').status).toBe(410);
    expect(messagePage('used').status).toBe(410);
    expect(messagePage('exhausted').status).toBe(429);
    expect(messagePage('invalid_callback').status).toBe(400);
    expect(messagePage('internal_error').status).toBe(500);
    expect(messagePage('unavailable').status).toBe(503);
    for (const kind of ['not_found', 'expired', 'used', 'exhausted', 'invalid_callback', 'internal_error', 'unavailable'] as const) {
      const { html } = messagePage(kind);
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).not.toMatch(/<a |<script|<form|<img|style=/);
    }
    expect(messagePage('expired').html).toContain('This link has expired');
  });
});
