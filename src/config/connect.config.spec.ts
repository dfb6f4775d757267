import { describe, expect, it } from 'vitest';
import { ConfigError, insecureSettings, loadConfig } from './app.config.js';
import { loadConnectConfig } from './connect.config.js';

function configError(env: Record<string, string>): string {
  try {
    loadConnectConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('loadConnectConfig', () => {
  it('has the documented defaults: PUBLIC_URL on PORT, 900 s sessions, local return URLs only, no shared accounts', () => {
    expect(loadConnectConfig({})).toEqual({
      publicUrl: 'http://localhost:3000',
      sessionTtlSeconds: 900,
      returnUrls: null,
      allowSharedAccounts: false,
      appName: 'your app',
      frameAncestors: [],
    });
    expect(loadConnectConfig({ PORT: '8080' }).publicUrl).toBe('http://localhost:8080');
  });

  it('reads every variable', () => {
    expect(
      loadConnectConfig({
        PUBLIC_URL: 'https://API.example.com/wearables/',
        CONNECT_SESSION_TTL_SECONDS: '60',
        CONNECT_RETURN_URLS: ' https://app.example.com/done , http://localhost:5173 ',
        CONNECT_ALLOW_SHARED_ACCOUNTS: 'true',
        CONNECT_APP_NAME: ' Acme Health ',
        CONNECT_FRAME_ANCESTORS: 'https://app.example.com, https://Other.example.com:8443  http://localhost:5173',
      }),
    ).toEqual({
      publicUrl: 'https://api.example.com/wearables',
      sessionTtlSeconds: 60,
      returnUrls: ['https://app.example.com/done', 'http://localhost:5173/'],
      allowSharedAccounts: true,
      appName: 'Acme Health',
      frameAncestors: ['https://app.example.com', 'https://other.example.com:8443', 'http://localhost:5173'],
    });
  });

  it('treats empty values as unset', () => {
    expect(loadConnectConfig({ PUBLIC_URL: '', CONNECT_SESSION_TTL_SECONDS: '', CONNECT_RETURN_URLS: ' , ', CONNECT_ALLOW_SHARED_ACCOUNTS: '', CONNECT_APP_NAME: ' ', CONNECT_FRAME_ANCESTORS: ' , ' })).toEqual(
      loadConnectConfig({}),
    );
  });

  it('names the variable of a bad value, never the value of a URL', () => {
    expect(configError({ PUBLIC_URL: 'wearables.example.com' })).toMatch(/^PUBLIC_URL /);
    expect(configError({ PUBLIC_URL: 'ftp://wearables.example.com' })).toMatch(/^PUBLIC_URL /);
    expect(configError({ PUBLIC_URL: 'https://user:hunter2@wearables.example.com' })).toBe('PUBLIC_URL must not contain credentials');
    expect(configError({ PUBLIC_URL: 'https://wearables.example.com/?a=1' })).toMatch(/^PUBLIC_URL must not have a query/);
    expect(configError({ CONNECT_SESSION_TTL_SECONDS: '0' })).toMatch(/^CONNECT_SESSION_TTL_SECONDS /);
    expect(configError({ CONNECT_SESSION_TTL_SECONDS: '15m' })).toMatch(/^CONNECT_SESSION_TTL_SECONDS /);
    expect(configError({ CONNECT_RETURN_URLS: 'https://app.example.com,javascript:alert(1)' })).toMatch(/^CONNECT_RETURN_URLS /);
    expect(configError({ CONNECT_RETURN_URLS: 'https://app.example.com/#x' })).toMatch(/^CONNECT_RETURN_URLS /);
    expect(configError({ CONNECT_ALLOW_SHARED_ACCOUNTS: 'sometimes' })).toMatch(/^CONNECT_ALLOW_SHARED_ACCOUNTS /);
    expect(configError({ PUBLIC_URL: 'https://user:hunter2@x.example' })).not.toContain('hunter2');
    expect(configError({ CONNECT_APP_NAME: 'x'.repeat(61) })).toMatch(/^CONNECT_APP_NAME /);
    expect(configError({ CONNECT_APP_NAME: 'Acme\u0000Health' })).toMatch(/^CONNECT_APP_NAME /);
    expect(configError({ CONNECT_APP_NAME: 'Acme\u202eHealth' })).toMatch(/^CONNECT_APP_NAME /);
    // Nothing but origins reaches the CSP: no keyword, wildcard, path, plain http off localhost, or a `;` that would start a directive.
    for (const value of ["'self'", '*', 'https://*.example.com', 'https://app.example.com/embed', 'http://app.example.com', "https://a.example;script-src 'unsafe-inline'", 'https://a.example;x', 'data:']) {
      expect(configError({ CONNECT_FRAME_ANCESTORS: value }), value).toMatch(/^CONNECT_FRAME_ANCESTORS /);
    }
  });

  it('takes an http:// PUBLIC_URL anywhere (a test network, a private proxy), and insecureSettings() names one off this machine', () => {
    for (const raw of ['http://localhost:3000', 'http://LOCALHOST/x', 'http://127.0.0.1:8080', 'http://127.12.0.3', 'http://[::1]:3000/base']) {
      expect(loadConnectConfig({ PUBLIC_URL: raw }).publicUrl, raw).toBe(new URL(raw).href.replace(/\/+$/, ''));
      expect(insecureSettings(loadConfig({ PUBLIC_URL: raw })), raw).toEqual([]);
    }
    for (const raw of ['http://wearables.example.com', 'http://10.0.0.5:3000', 'http://[::2]/', 'http://localhost.evil.example']) {
      expect(insecureSettings(loadConfig({ PUBLIC_URL: raw })), raw).toEqual(['PUBLIC_URL']);
    }
    expect(insecureSettings(loadConfig({ PUBLIC_URL: 'https://wearables.example.com' }))).toEqual([]);
    expect(insecureSettings(loadConfig({ COROS_BASE_URL: 'http://10.0.0.7:8080', STRAVA_BASE_URL: 'http://127.0.0.1:9' }))).toEqual(['COROS_BASE_URL']);
  });
});
