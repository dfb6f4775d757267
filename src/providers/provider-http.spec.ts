import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from './provider-error.js';
import { ProviderHttp } from './provider-http.js';

describe('ProviderHttp', () => {
  it("replaces only the scheme, host and port with the base URL's, keeping the path and query", () => {
    const http = new ProviderHttp('oura', 'http://127.0.0.1:4567', 1_000);
    expect(http.url('https://api.ouraring.com/oauth/revoke?access_token=x').href).toBe('http://127.0.0.1:4567/oauth/revoke?access_token=x');
    expect(new ProviderHttp('oura', 'https://oura-sandbox.example:8443', 1_000).url('https://cloud.ouraring.com/oauth/authorize').href).toBe(
      'https://oura-sandbox.example:8443/oauth/authorize',
    );
    expect(new ProviderHttp('oura', undefined, 1_000).url('https://api.ouraring.com/v2/usercollection/personal_info').href).toBe(
      'https://api.ouraring.com/v2/usercollection/personal_info',
    );
  });

  it('allows plain http only under an http:// base URL (which the configuration allows only on loopback), never for the real https hosts', () => {
    expect(new ProviderHttp('garmin', 'http://127.0.0.1:4567', 1_000).insecure).toBe(true);
    expect(new ProviderHttp('garmin', 'https://garmin-sandbox.example', 1_000).insecure).toBe(false);
    expect(new ProviderHttp('garmin', undefined, 1_000).insecure).toBe(false);
  });

  describe('against a local server', () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url === '/huge') return void res.writeHead(200, { 'content-type': 'application/json' }).end(`"${'x'.repeat(1024 * 1024 + 10)}"`);
        if (req.url === '/busy') return void res.writeHead(429).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":7}');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('refuses an answer over 1 MiB rather than buffering it', async () => {
      const error = await new ProviderHttp('coros', base, 5_000).request('https://open.coros.com/huge').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderError);
      expect((error as ProviderError).code).toBe('exchange_failed');
    });

    it('takes HTTP 429 as provider_unavailable, and lets an adapter rewrite an answer before its status is judged', async () => {
      const http = new ProviderHttp('withings', base, 5_000);
      await expect(http.request('https://wbsapi.withings.net/busy')).rejects.toMatchObject({ code: 'provider_unavailable' });
      const rewritten = await http.request('https://wbsapi.withings.net/v2/oauth2', {}, ({ body }) => ({ status: 400, body: { error: 'invalid_grant', was: body } }));
      expect(rewritten.status).toBe(400);
      expect(rewritten.headers.get('content-type')).toBe('application/json');
      expect(await rewritten.json()).toEqual({ error: 'invalid_grant', was: { status: 7 } });
      await expect(http.request('https://wbsapi.withings.net/v2/oauth2', {}, () => ({ status: 503, body: {} }))).rejects.toMatchObject({
        code: 'provider_unavailable',
      });
    });
  });
});
