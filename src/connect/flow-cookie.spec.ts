import { describe, expect, it } from 'vitest';
import { clearedFlowCookie, flowCookieName, flowCookieScope, readCookie, serializeFlowCookie } from './flow-cookie.js';

describe('the flow cookie', () => {
  it('is HttpOnly, SameSite=Lax, for /oauth under PUBLIC_URL, 10 minutes, Secure only over https', () => {
    expect(serializeFlowCookie('wc_connect_strava', 'abc_-123', flowCookieScope('http://localhost:3000'))).toBe(
      'wc_connect_strava=abc_-123; Path=/oauth; Max-Age=600; HttpOnly; SameSite=Lax',
    );
    expect(serializeFlowCookie('wc_connect_strava', 'v', flowCookieScope('https://api.example.com/wearables'))).toBe(
      'wc_connect_strava=v; Path=/wearables/oauth; Max-Age=600; HttpOnly; SameSite=Lax; Secure',
    );
  });

  it('is cleared with the same name, path and attributes and no value', () => {
    expect(clearedFlowCookie(flowCookieName('garmin'), flowCookieScope('https://x.example'))).toBe(
      'wc_connect_garmin=; Path=/oauth; Max-Age=0; HttpOnly; SameSite=Lax; Secure',
    );
  });

  it('refuses a value or path that would change the header', () => {
    const scope = flowCookieScope('http://localhost:3000');
    expect(() => serializeFlowCookie('wc', 'a; Domain=evil.example', scope)).toThrow();
    expect(() => serializeFlowCookie('wc', 'a\r\nSet-Cookie: x=1', scope)).toThrow();
    expect(() => serializeFlowCookie('wc', 'a', { path: '/oauth; Domain=evil.example', secure: false })).toThrow();
  });

  it('is read from a Cookie header when it is there once and well formed', () => {
    expect(readCookie('a=1; wc_connect_oura=tok_en-1; b=2', 'wc_connect_oura')).toBe('tok_en-1');
    expect(readCookie('wc_connect_oura=x', 'wc_connect_oura')).toBe('x');
    expect(readCookie(undefined, 'wc_connect_oura')).toBeUndefined();
    expect(readCookie('', 'wc_connect_oura')).toBeUndefined();
    expect(readCookie('wc_connect_strava=x', 'wc_connect_oura')).toBeUndefined();
    expect(readCookie('xwc_connect_oura=x', 'wc_connect_oura')).toBeUndefined();
    expect(readCookie('wc_connect_oura=', 'wc_connect_oura')).toBeUndefined();
    expect(readCookie('wc_connect_oura="quoted"', 'wc_connect_oura')).toBeUndefined();
    // Two values for one name (another path's, or a planted one): neither is trusted.
    expect(readCookie('wc_connect_oura=a; wc_connect_oura=b', 'wc_connect_oura')).toBeUndefined();
  });
});
