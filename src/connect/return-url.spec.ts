import { describe, expect, it } from 'vitest';
import { allowedReturnUrl } from './return-url.js';

const allowed = (raw: string, prefixes: string[] | null) => allowedReturnUrl(raw, prefixes)?.href;

describe('allowedReturnUrl with CONNECT_RETURN_URLS unset', () => {
  it('allows http://localhost and http://127.0.0.1 on any port and path, as normalised', () => {
    expect(allowed('http://localhost:5173/settings/wearables?tab=1', null)).toBe('http://localhost:5173/settings/wearables?tab=1');
    expect(allowed('http://127.0.0.1/done', null)).toBe('http://127.0.0.1/done');
    expect(allowed('http://LOCALHOST:8080', null)).toBe('http://localhost:8080/');
  });

  it('refuses every other scheme and host', () => {
    for (const raw of [
      'https://localhost/done',
      'http://localhost.evil.example/',
      'http://evil.example/?next=http://localhost',
      'http://127.0.0.2/',
      'http://[::1]/',
      'javascript:alert(1)',
      'data:text/html,hi',
      '//localhost/done',
      '/done',
      'not a url',
      'http://user:pass@localhost/',
    ]) {
      expect(allowed(raw, null), raw).toBeUndefined();
    }
  });
});

describe('allowedReturnUrl with CONNECT_RETURN_URLS set', () => {
  const prefixes = ['https://app.example.com/wearables', 'https://admin.example.com:8443/', 'http://localhost:3001/cb/'];

  it('allows the same scheme, host and port with a path at or under the entry’s, whole segments only', () => {
    expect(allowed('https://app.example.com/wearables', prefixes)).toBe('https://app.example.com/wearables');
    expect(allowed('https://app.example.com/wearables/done?x=1#top', prefixes)).toBe('https://app.example.com/wearables/done?x=1#top');
    expect(allowed('https://APP.example.com:443/wearables/done', prefixes)).toBe('https://app.example.com/wearables/done');
    expect(allowed('https://admin.example.com:8443/anything', prefixes)).toBe('https://admin.example.com:8443/anything');
    expect(allowed('http://localhost:3001/cb/x', prefixes)).toBe('http://localhost:3001/cb/x');
  });

  it('refuses another scheme, host, port or path, including paths that only look like the entry’s', () => {
    for (const raw of [
      'http://app.example.com/wearables/done',
      'https://evil.example.com/wearables/done',
      'https://app.example.com.evil.example/wearables',
      'https://app.example.com:444/wearables/done',
      'https://app.example.com/wearables-evil',
      'https://app.example.com/wearables/../admin',
      'https://app.example.com/wearables/%2e%2e/admin',
      'https://app.example.com/other',
      'https://admin.example.com/anything',
      'http://localhost:3001/cb',
      'http://localhost/cb/x',
      'https://user@app.example.com/wearables',
      'http://localhost:5173/done',
    ]) {
      expect(allowed(raw, prefixes), raw).toBeUndefined();
    }
  });

  it('refuses a path with an escaped slash or backslash (any case), or a dot segment, which a server decoding it could read as another path', () => {
    for (const raw of [
      'https://app.example.com/wearables/..%2Fadmin',
      'https://app.example.com/wearables/..%2fadmin',
      'https://app.example.com/wearables/..%5Cadmin',
      'https://app.example.com/wearables/..%5cadmin',
      'https://app.example.com/wearables/%2e%2e%2Fadmin',
      'https://app.example.com/wearables/done%2F..%2F..%2Fadmin',
      'https://app.example.com/wearables/..%252Fadmin',
      'https://app.example.com/wearables/x/../done',
      'https://app.example.com/wearables/./done',
      'https://app.example.com/wearables/x/.%2E/done',
      'https://app.example.com/wearables/x/%2e/done',
      'https://app.example.com/wearables\\x\\..\\done',
      'https://app.example.com/wearables/x/.\t./done',
      'https://app.example.com/wearables/x/..',
      'http://localhost:3001/cb/../cb/x',
    ]) {
      expect(allowed(raw, prefixes), raw).toBeUndefined();
    }
    // The same without the escapes, dot-like names that are no dot segments, and dots elsewhere than the path: allowed.
    expect(allowed('https://app.example.com/wearables/..admin/done.html', prefixes)).toBe('https://app.example.com/wearables/..admin/done.html');
    expect(allowed('https://app.example.com/wearables/a%20b?next=../x#..', prefixes)).toBe('https://app.example.com/wearables/a%20b?next=../x#..');
    expect(allowed('https://app.example.com/wearables/...', prefixes)).toBe('https://app.example.com/wearables/...');
  });
});

describe('allowedReturnUrl and dot segments with CONNECT_RETURN_URLS unset', () => {
  it('refuses them there too', () => {
    expect(allowed('http://localhost:5173/a/../b', null)).toBeUndefined();
    expect(allowed('http://localhost:5173/a/..%2Fb', null)).toBeUndefined();
    expect(allowed('http://localhost:5173/a/b', null)).toBe('http://localhost:5173/a/b');
  });
});
