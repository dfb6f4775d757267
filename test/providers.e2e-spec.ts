import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { generateRandomCodeVerifier, generateRandomState } from 'oauth4webapi';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProvidersConfig } from '../src/config/providers.config.js';
import { type Provider, PROVIDERS } from '../src/connections/providers.js';
import { type ProviderErrorCode, ProviderError, ProviderNotConfiguredError } from '../src/providers/provider-error.js';
import { type ProviderGrant, ProvidersService } from '../src/providers/providers.service.js';
import {
  FAKE_ACCOUNTS,
  FAKE_EXPIRES_IN,
  type FakeCall,
  type FakeClient,
  type FakeProviders,
  GARMIN_PERMISSIONS,
  startFakeProviders,
} from './support/fake-providers.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/test-app.js';

const CLIENTS = Object.fromEntries(
  PROVIDERS.map((provider) => [provider, { clientId: `${provider}-client-id`, clientSecret: `${provider}-secret-${randomBytes(12).toString('hex')}` }]),
) as Record<Provider, FakeClient>;
const redirectUri = (provider: Provider) => `https://wearable.example/oauth/${provider}/callback`;

const WHOOP_SCOPES = 'offline read:profile read:recovery read:cycles read:sleep read:workout read:body_measurement';
const OURA_SCOPES = 'personal daily heartrate workout session spo2Daily';
const GOOGLE_HEALTH = 'https://www.googleapis.com/auth/googlehealth.';
const FITBIT_SCOPES = ['activity_and_fitness', 'health_metrics_and_measurements', 'sleep', 'profile'].map((s) => `${GOOGLE_HEALTH}${s}.readonly`).join(' ');
const bearerOf = (call: FakeCall) => /^Bearer (.+)$/.exec(call.headers.authorization ?? '')?.[1];

/** What each provider's round trip must show: written from the issue's table and the providers' documentation. */
const EXPECTED: Record<
  Provider,
  {
    authorizePath: string;
    /** The authorization URL's scope parameter; null: none. */
    scope: string | null;
    pkce: boolean;
    clientAuth: 'basic' | 'body';
    authorizeParams?: Record<string, string>;
    account: { providerUserId: string; providerUsername: string | null; scope: string | null };
    refresh: 'rotates' | 'keeps' | 'none';
    deregistration: { method: string; path: string; token?: (call: FakeCall) => string | null | undefined };
  }
> = {
  garmin: {
    authorizePath: '/oauth2Confirm',
    scope: null,
    pkce: true,
    clientAuth: 'body',
    account: { providerUserId: FAKE_ACCOUNTS.garmin.userId, providerUsername: null, scope: GARMIN_PERMISSIONS.join(' ') },
    refresh: 'rotates',
    deregistration: { method: 'DELETE', path: '/wellness-api/rest/user/registration', token: bearerOf },
  },
  strava: {
    authorizePath: '/oauth/authorize',
    scope: 'read,activity:read_all',
    pkce: false,
    clientAuth: 'body',
    account: { providerUserId: String(FAKE_ACCOUNTS.strava.id), providerUsername: FAKE_ACCOUNTS.strava.username, scope: 'read,activity:read_all' },
    refresh: 'rotates',
    deregistration: { method: 'POST', path: '/oauth/deauthorize', token: (call) => call.form.get('access_token') },
  },
  polar: {
    authorizePath: '/oauth2/authorization',
    scope: 'accesslink.read_all',
    pkce: false,
    clientAuth: 'basic',
    account: { providerUserId: String(FAKE_ACCOUNTS.polar.xUserId), providerUsername: null, scope: null },
    refresh: 'none',
    deregistration: { method: 'DELETE', path: `/v3/users/${FAKE_ACCOUNTS.polar.xUserId}`, token: bearerOf },
  },
  suunto: {
    authorizePath: '/oauth/authorize',
    scope: null,
    pkce: false,
    clientAuth: 'basic',
    account: { providerUserId: FAKE_ACCOUNTS.suunto.user, providerUsername: FAKE_ACCOUNTS.suunto.user, scope: 'workout' },
    refresh: 'rotates',
    deregistration: { method: 'GET', path: '/oauth/deauthorize', token: bearerOf },
  },
  whoop: {
    authorizePath: '/oauth/oauth2/auth',
    scope: WHOOP_SCOPES,
    pkce: false,
    clientAuth: 'body',
    account: { providerUserId: String(FAKE_ACCOUNTS.whoop.userId), providerUsername: null, scope: WHOOP_SCOPES },
    refresh: 'rotates',
    deregistration: { method: 'DELETE', path: '/developer/v2/user/access', token: bearerOf },
  },
  oura: {
    authorizePath: '/oauth/authorize',
    scope: OURA_SCOPES,
    pkce: false,
    clientAuth: 'body',
    account: { providerUserId: FAKE_ACCOUNTS.oura.id, providerUsername: null, scope: OURA_SCOPES },
    refresh: 'rotates',
    deregistration: { method: 'POST', path: '/oauth/revoke', token: (call) => call.query.get('access_token') },
  },
  fitbit: {
    authorizePath: '/o/oauth2/v2/auth',
    scope: FITBIT_SCOPES,
    pkce: true,
    clientAuth: 'body',
    authorizeParams: { access_type: 'offline', prompt: 'consent' },
    account: { providerUserId: FAKE_ACCOUNTS.fitbit.healthUserId, providerUsername: null, scope: FITBIT_SCOPES },
    refresh: 'keeps',
    deregistration: { method: 'POST', path: '/revoke', token: (call) => call.form.get('token') },
  },
  withings: {
    authorizePath: '/oauth2_user/authorize2',
    scope: 'user.info,user.metrics,user.activity',
    pkce: false,
    clientAuth: 'body',
    account: { providerUserId: String(FAKE_ACCOUNTS.withings.userid), providerUsername: null, scope: 'user.info,user.metrics,user.activity' },
    refresh: 'rotates',
    // Withings revokes the user (userid, nonce, signature), not a token.
    deregistration: { method: 'POST', path: '/v2/oauth2' },
  },
  coros: {
    authorizePath: '/oauth2/authorize',
    scope: null,
    pkce: false,
    clientAuth: 'body',
    account: { providerUserId: FAKE_ACCOUNTS.coros.openId, providerUsername: null, scope: null },
    refresh: 'none',
    deregistration: { method: 'POST', path: '/oauth2/deauthorize', token: (call) => call.headers.token as string | undefined },
  },
};

let fake: FakeProviders;
/** Every verifier the tests made: no error message may hold one (the fake knows the rest). */
const verifiers = new Set<string>();

/** A ProvidersService with every provider configured against the fake, through the environment variables. */
function serviceFor(timeoutMs = 5_000): ProvidersService {
  const env: Record<string, string> = { PROVIDER_TIMEOUT_MS: String(timeoutMs) };
  for (const provider of PROVIDERS) {
    const prefix = provider.toUpperCase();
    env[`${prefix}_CLIENT_ID`] = CLIENTS[provider].clientId;
    env[`${prefix}_CLIENT_SECRET`] = CLIENTS[provider].clientSecret;
    env[`${prefix}_BASE_URL`] = fake.baseUrl;
  }
  return new ProvidersService(loadProvidersConfig(env));
}

interface Consent {
  url: URL;
  state: string;
  codeVerifier?: string;
  callbackUrl: URL;
}

/** The browser's part: the authorization URL, and the fake's consent redirecting back to our callback. */
async function consent(service: ProvidersService, provider: Provider): Promise<Consent> {
  const state = generateRandomState();
  const codeVerifier = service.usesPkce(provider) ? generateRandomCodeVerifier() : undefined;
  if (codeVerifier) verifiers.add(codeVerifier);
  const url = await service.authorizationUrl(provider, { state, codeVerifier, redirectUri: redirectUri(provider) });
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status, await res.clone().text()).toBe(302);
  return { url, state, codeVerifier, callbackUrl: new URL(res.headers.get('location')!) };
}

function exchange(service: ProvidersService, provider: Provider, given: Consent, userId: string = randomUUID()): Promise<ProviderGrant> {
  return service.exchange(provider, {
    callbackUrl: given.callbackUrl,
    expectedState: given.state,
    codeVerifier: given.codeVerifier,
    redirectUri: redirectUri(provider),
    userId,
  });
}

async function connect(service: ProvidersService, provider: Provider, userId?: string): Promise<ProviderGrant> {
  return exchange(service, provider, await consent(service, provider), userId);
}

/** The call fails with a ProviderError of this code, whose message, stack and JSON hold no secret. */
async function expectProviderError(promise: Promise<unknown>, code: ProviderErrorCode): Promise<ProviderError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected a ProviderError ${code}`);
    },
    (failure: unknown) => failure,
  );
  expect(error, String(error)).toBeInstanceOf(ProviderError);
  const providerError = error as ProviderError;
  expect(providerError.code, providerError.message).toBe(code);
  expect(providerError.cause).toBeUndefined();
  const text = `${providerError.message}\n${providerError.stack}\n${JSON.stringify(providerError)}`;
  const secrets = [...fake.secrets(), ...verifiers, ...PROVIDERS.map((provider) => CLIENTS[provider].clientSecret)];
  expect(secrets.length).toBeGreaterThan(0);
  for (const secret of secrets) expect(text, `error message leaks a secret: ${text}`).not.toContain(secret);
  return providerError;
}

const S256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
const near = (date: Date | null | undefined, secondsFromNow: number) =>
  expect(Math.abs((date?.getTime() ?? 0) - (Date.now() + secondsFromNow * 1000))).toBeLessThan(10_000);

beforeAll(async () => {
  fake = await startFakeProviders(CLIENTS);
});
afterAll(async () => {
  await fake?.close();
});

describe.each(PROVIDERS)('%s, against its fake over HTTP', (provider) => {
  const expected = EXPECTED[provider];
  let service: ProvidersService;
  beforeAll(() => {
    service = serviceFor();
  });

  it("builds the authorization URL: the provider's path under the base URL, its client, our callback, the state and its scope", async () => {
    const state = generateRandomState();
    const codeVerifier = expected.pkce ? generateRandomCodeVerifier() : undefined;
    const url = await service.authorizationUrl(provider, { state, codeVerifier, redirectUri: redirectUri(provider) });

    expect(url.origin).toBe(fake.baseUrl);
    expect(url.pathname).toBe(expected.authorizePath);
    const params = Object.fromEntries(url.searchParams);
    expect(params).toMatchObject({ response_type: 'code', client_id: CLIENTS[provider].clientId, redirect_uri: redirectUri(provider), state });
    expect(url.searchParams.get('scope')).toBe(expected.scope);
    if (expected.pkce) {
      expect(params).toMatchObject({ code_challenge: S256(codeVerifier!), code_challenge_method: 'S256' });
    } else {
      expect(url.searchParams.has('code_challenge')).toBe(false);
      expect(url.searchParams.has('code_challenge_method')).toBe(false);
    }
    expect(params).toMatchObject(expected.authorizeParams ?? {});
    if (!expected.authorizeParams) expect(url.searchParams.has('access_type')).toBe(false);
  });

  it('exchanges the code for a grant: the tokens, their expiry, the account and the granted scope', async () => {
    const before = fake.calls.length;
    const grant = await connect(service, provider);

    expect(grant).toEqual({
      accessToken: expect.any(String),
      refreshToken: provider === 'polar' ? null : expect.any(String),
      expiresAt: expect.any(Date),
      ...expected.account,
    });
    expect(fake.isActive(grant.accessToken)).toBe(true);
    if (grant.refreshToken) expect(fake.isActive(grant.refreshToken)).toBe(true);
    near(grant.expiresAt, FAKE_EXPIRES_IN[provider]);

    // The client authenticated the provider's way, and only that way.
    const tokenCalls = fake.calls.slice(before).filter((call) => call.provider === provider && call.endpoint === 'token');
    expect(tokenCalls).toHaveLength(1);
    const [tokenCall] = tokenCalls;
    if (expected.clientAuth === 'basic') {
      expect(tokenCall.headers.authorization).toMatch(/^Basic /);
      expect(tokenCall.form.has('client_secret')).toBe(false);
    } else {
      expect(tokenCall.headers.authorization).toBeUndefined();
      expect(tokenCall.form.get('client_secret')).toBe(CLIENTS[provider].clientSecret);
    }
    expect(tokenCall.form.has('code_verifier')).toBe(expected.pkce);
  });

  if (expected.refresh === 'none') {
    it('has no refresh grant', async () => {
      expect(service.refreshes(provider)).toBe(false);
      await expect(service.refresh(provider, 'any-refresh-token')).rejects.toThrow(TypeError);
    });
  } else {
    it(`refreshes: a new access token${expected.refresh === 'rotates' ? ' and a new refresh token, the old one spent' : ', the refresh token kept'}`, async () => {
      expect(service.refreshes(provider)).toBe(true);
      const grant = await connect(service, provider);
      const refreshed = await service.refresh(provider, grant.refreshToken!);

      expect(refreshed.accessToken).not.toBe(grant.accessToken);
      expect(fake.isActive(refreshed.accessToken)).toBe(true);
      near(refreshed.expiresAt, FAKE_EXPIRES_IN[provider]);
      if (expected.refresh === 'rotates') {
        expect(refreshed.refreshToken).toEqual(expect.any(String));
        expect(refreshed.refreshToken).not.toBe(grant.refreshToken);
        expect(fake.isActive(grant.refreshToken!)).toBe(false);
      } else {
        expect(refreshed.refreshToken).toBeUndefined();
        expect(fake.isActive(grant.refreshToken!)).toBe(true);
      }
    });

    it('a refresh token the provider no longer accepts is refresh_rejected', async () => {
      const grant = await connect(service, provider);
      fake.failNext(provider, 'token', { refuse: true });
      const error = await expectProviderError(service.refresh(provider, grant.refreshToken!), 'refresh_rejected');
      expect(error.oauthError).toBe('invalid_grant');
    });
  }

  it('deregisters: the right endpoint, with the right token, and the grant ends', async () => {
    const grant = await connect(service, provider);
    const before = fake.calls.length;
    await expect(service.deregister(provider, grant.accessToken, grant.providerUserId)).resolves.toBe('deregistered');

    const calls = fake.calls.slice(before).filter((call) => call.endpoint === 'deregister');
    const last = calls.at(-1)!;
    expect({ method: last.method, path: last.path }).toEqual({ method: expected.deregistration.method, path: expected.deregistration.path });
    if (expected.deregistration.token) expect(expected.deregistration.token(last)).toBe(grant.accessToken);
    expect(fake.isActive(grant.accessToken)).toBe(false);
  });

  it('a deregistration the provider cannot answer (HTTP 503) is provider_unavailable, and the grant stays', async () => {
    const grant = await connect(service, provider);
    fake.failNext(provider, 'deregister', { status: 503 });
    await expectProviderError(service.deregister(provider, grant.accessToken, grant.providerUserId), 'provider_unavailable');
    expect(fake.isActive(grant.accessToken)).toBe(true);
  });

  it('a code the provider rejects is exchange_failed', async () => {
    const given = await consent(service, provider);
    fake.failNext(provider, 'token', { refuse: true });
    const error = await expectProviderError(exchange(service, provider, given), 'exchange_failed');
    expect(error.provider).toBe(provider);
    expect(error.oauthError).toBe('invalid_grant');
  });

  it('a token endpoint that does not answer within PROVIDER_TIMEOUT_MS is provider_unavailable', async () => {
    const impatient = serviceFor(300);
    const given = await consent(impatient, provider);
    fake.failNext(provider, 'token', { delayMs: 2_000 });
    const started = Date.now();
    await expectProviderError(exchange(impatient, provider, given), 'provider_unavailable');
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('a callback that carries an error (the user said no) is access_denied, and nothing is exchanged', async () => {
    fake.failNext(provider, 'authorize', { refuse: true });
    const given = await consent(service, provider);
    expect(given.callbackUrl.searchParams.get('error')).toBe('access_denied');
    const before = fake.callsTo(provider, 'token').length;
    const error = await expectProviderError(exchange(service, provider, given), 'access_denied');
    expect(error.oauthError).toBe('access_denied');
    expect(fake.callsTo(provider, 'token')).toHaveLength(before);
  });

  it('a token endpoint answering 503 is provider_unavailable', async () => {
    const given = await consent(service, provider);
    fake.failNext(provider, 'token', { status: 503 });
    await expectProviderError(exchange(service, provider, given), 'provider_unavailable');
  });

  it('a token answer without an access token is exchange_failed', async () => {
    const given = await consent(service, provider);
    fake.failNext(provider, 'token', { malformed: true });
    await expectProviderError(exchange(service, provider, given), 'exchange_failed');
  });
});

describe('the callback and the exchange', () => {
  let service: ProvidersService;
  beforeAll(() => {
    service = serviceFor();
  });

  it('a callback whose state is not the one sent is exchange_failed, before any exchange', async () => {
    const given = await consent(service, 'oura');
    const before = fake.callsTo('oura', 'token').length;
    await expectProviderError(service.exchange('oura', { ...exchangeOf('oura', given), expectedState: generateRandomState() }), 'exchange_failed');
    expect(fake.callsTo('oura', 'token')).toHaveLength(before);
  });

  it('a code is single-use: its replay is exchange_failed', async () => {
    const given = await consent(service, 'whoop');
    await exchange(service, 'whoop', given);
    await expectProviderError(exchange(service, 'whoop', given), 'exchange_failed');
  });

  it('PKCE: an exchange with another verifier than the challenge was made from is exchange_failed (Garmin, Google)', async () => {
    for (const provider of ['garmin', 'fitbit'] as const) {
      const given = await consent(service, provider);
      const wrong = generateRandomCodeVerifier();
      verifiers.add(wrong);
      const error = await expectProviderError(service.exchange(provider, { ...exchangeOf(provider, given), codeVerifier: wrong }), 'exchange_failed');
      expect(error.oauthError).toBe('invalid_grant');
    }
  });

  it('an API call after the exchange that times out, or answers 5xx, is provider_unavailable', async () => {
    const impatient = serviceFor(300);
    let given = await consent(impatient, 'garmin');
    fake.failNext('garmin', 'api', { delayMs: 2_000 });
    await expectProviderError(exchange(impatient, 'garmin', given), 'provider_unavailable');

    given = await consent(service, 'whoop');
    fake.failNext('whoop', 'api', { status: 502 });
    await expectProviderError(exchange(service, 'whoop', given), 'provider_unavailable');
  });

  it('a provider that is not configured is refused with ProviderNotConfiguredError, naming its variables', async () => {
    const some = new ProvidersService(
      loadProvidersConfig({ GARMIN_CLIENT_ID: CLIENTS.garmin.clientId, GARMIN_CLIENT_SECRET: CLIENTS.garmin.clientSecret, GARMIN_BASE_URL: fake.baseUrl }),
    );
    expect(some.list()).toEqual(PROVIDERS.map((provider) => ({ provider, connectable: provider === 'garmin' })));
    const refused = some.authorizationUrl('strava', { state: generateRandomState(), redirectUri: redirectUri('strava') });
    await expect(refused).rejects.toThrow(ProviderNotConfiguredError);
    await expect(refused).rejects.toThrow('STRAVA_CLIENT_ID and STRAVA_CLIENT_SECRET');
  });

  it('a provider that cannot be reached at all is provider_unavailable', async () => {
    const closed = await startFakeProviders(CLIENTS);
    const baseUrl = closed.baseUrl;
    await closed.close();
    const unreachable = new ProvidersService(
      loadProvidersConfig({ SUUNTO_CLIENT_ID: CLIENTS.suunto.clientId, SUUNTO_CLIENT_SECRET: CLIENTS.suunto.clientSecret, SUUNTO_BASE_URL: baseUrl }),
    );
    const error = await expectProviderError(unreachable.refresh('suunto', 'a-refresh-token'), 'provider_unavailable');
    expect(error.message).toContain('network error');
  });
});

describe("each provider's quirks", () => {
  let service: ProvidersService;
  beforeAll(() => {
    service = serviceFor();
  });

  it('Strava: the granted scope is the callback\'s; a consent with no activity scope left is scope_denied', async () => {
    fake.grantNext('strava', ['read', 'activity:read']);
    expect((await connect(service, 'strava')).scope).toBe('read,activity:read');

    fake.grantNext('strava', ['read']);
    await expectProviderError(connect(service, 'strava'), 'scope_denied');
  });

  it('Strava: its own error dialect is read as OAuth errors', async () => {
    const grant = await connect(service, 'strava');
    fake.failNext('strava', 'token', { refuse: true });
    const error = await expectProviderError(service.refresh('strava', grant.refreshToken!), 'refresh_rejected');
    expect(error.oauthError).toBe('invalid_grant');
  });

  it('Whoop: a consent without `offline` (no refresh token) is scope_denied; a refresh asks for offline again', async () => {
    fake.grantNext('whoop', ['read:profile', 'read:sleep']);
    const before = fake.callsTo('whoop', 'deregister').length;
    await expectProviderError(connect(service, 'whoop'), 'scope_denied');
    // The grant that will not be used is dropped, not revoked: Whoop's revocation would end every grant
    // of the account, a connection it already has included.
    expect(fake.callsTo('whoop', 'deregister')).toHaveLength(before);

    const grant = await connect(service, 'whoop');
    await service.refresh('whoop', grant.refreshToken!);
    expect(fake.callsTo('whoop', 'token').at(-1)!.form.get('scope')).toBe('offline');
  });

  it('Google (fitbit): a consent that leaves none of the Google Health scopes asked for is scope_denied; some of them is a grant of those', async () => {
    fake.grantNext('fitbit', ['openid']);
    await expectProviderError(connect(service, 'fitbit'), 'scope_denied');

    fake.grantNext('fitbit', [`${GOOGLE_HEALTH}sleep.readonly`]);
    expect((await connect(service, 'fitbit')).scope).toBe(`${GOOGLE_HEALTH}sleep.readonly`);
  });

  it('Garmin: no permission granted is scope_denied', async () => {
    fake.grantNext('garmin', []);
    await expectProviderError(connect(service, 'garmin'), 'scope_denied');
  });

  it("Polar: the user is registered with our user id as member-id, and a second registration's 409 is fine", async () => {
    const userId = randomUUID();
    await connect(service, 'polar', userId);
    const registrations = fake.callsTo('polar', 'api').filter((call) => call.method === 'POST' && call.path === '/v3/users');
    expect(registrations.at(-1)!.json).toEqual({ 'member-id': userId });
    expect(bearerOf(registrations.at(-1)!)).toEqual(expect.any(String));

    await expect(connect(service, 'polar', userId)).resolves.toMatchObject({ providerUserId: String(FAKE_ACCOUNTS.polar.xUserId) });
  });

  it('Polar: beforeRegistration() sees the account before the registration, and what it throws stops the exchange there; providers that register no one never call it', async () => {
    const registrations = () => fake.callsTo('polar', 'api').filter((call) => call.method === 'POST' && call.path === '/v3/users').length;
    const before = registrations();
    const refusal = new Error('the account is taken');
    const seen: string[] = [];
    const given = await consent(service, 'polar');
    const refused = service.exchange('polar', {
      callbackUrl: given.callbackUrl,
      expectedState: given.state,
      redirectUri: redirectUri('polar'),
      userId: randomUUID(),
      beforeRegistration: async ({ providerUserId }) => {
        seen.push(providerUserId);
        throw refusal;
      },
    });
    await expect(refused).rejects.toBe(refusal);
    expect(seen).toEqual([String(FAKE_ACCOUNTS.polar.xUserId)]);
    expect(registrations()).toBe(before);

    const oura = await consent(service, 'oura');
    const grant = await service.exchange('oura', {
      callbackUrl: oura.callbackUrl,
      expectedState: oura.state,
      redirectUri: redirectUri('oura'),
      userId: randomUUID(),
      beforeRegistration: () => Promise.reject(new Error('not called')),
    });
    expect(grant.providerUserId).toBe(FAKE_ACCOUNTS.oura.id);
  });

  it("Polar and Withings: a deregistration without the provider user id is refused before any call; a repeated one finds the grant gone", async () => {
    const grant = await connect(service, 'polar');
    await expectProviderError(service.deregister('polar', grant.accessToken), 'deregistration_failed');
    await expect(service.deregister('polar', grant.accessToken, grant.providerUserId)).resolves.toBe('deregistered');
    await expect(service.deregister('polar', grant.accessToken, grant.providerUserId)).resolves.toBe('already_gone');
  });

  it('Withings: the code exchange says action=requesttoken; a status other than 0 in its HTTP 200 answer is an error', async () => {
    const given = await consent(service, 'withings');
    fake.failNext('withings', 'token', { withingsStatus: 503 });
    const error = await expectProviderError(exchange(service, 'withings', given), 'exchange_failed');
    expect(error.oauthError).toBe('invalid_grant');
    expect(fake.callsTo('withings', 'token').at(-1)!.form.get('action')).toBe('requesttoken');

    // 601 is Withings' "too many requests": the provider is unavailable for now, the refresh token still good.
    const grant = await connect(service, 'withings');
    fake.failNext('withings', 'token', { withingsStatus: 601 });
    await expectProviderError(service.refresh('withings', grant.refreshToken!), 'provider_unavailable');
    await expect(service.refresh('withings', grant.refreshToken!)).resolves.toMatchObject({ accessToken: expect.any(String) });
  });

  it('Withings: the revocation is signed with a fresh nonce and names the user', async () => {
    const grant = await connect(service, 'withings');
    const before = fake.calls.length;
    await service.deregister('withings', grant.accessToken, grant.providerUserId);
    const [nonce, revoke] = fake.calls.slice(before).filter((call) => call.provider === 'withings');
    const signature = expect.stringMatching(/^[0-9a-f]{64}$/);
    expect(Object.fromEntries(nonce.form)).toMatchObject({ action: 'getnonce', client_id: CLIENTS.withings.clientId, signature });
    expect(Object.fromEntries(revoke.form)).toMatchObject({ action: 'revoke', userid: String(FAKE_ACCOUNTS.withings.userid), signature });
    expect(revoke.form.has('client_secret')).toBe(false);
  });

  it('Suunto: the user id is the access token\'s `user` claim; deregistration names our client', async () => {
    const grant = await connect(service, 'suunto');
    expect(grant.accessToken.split('.')).toHaveLength(3);
    expect(grant.providerUserId).toBe(FAKE_ACCOUNTS.suunto.user);
    await service.deregister('suunto', grant.accessToken);
    expect(fake.callsTo('suunto', 'deregister').at(-1)!.query.get('client_id')).toBe(CLIENTS.suunto.clientId);
  });

  it('a second deregistration finds the grant already gone (401 from the provider)', async () => {
    const grant = await connect(service, 'garmin');
    await expect(service.deregister('garmin', grant.accessToken)).resolves.toBe('deregistered');
    await expect(service.deregister('garmin', grant.accessToken)).resolves.toBe('already_gone');
  });
});

describe('GET /api/v1/providers', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      providers: loadProvidersConfig({
        GARMIN_CLIENT_ID: CLIENTS.garmin.clientId,
        GARMIN_CLIENT_SECRET: CLIENTS.garmin.clientSecret,
        WITHINGS_CLIENT_ID: CLIENTS.withings.clientId,
        WITHINGS_CLIENT_SECRET: CLIENTS.withings.clientSecret,
      }),
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists all nine providers in order, connectable only where both the client id and secret are set', async () => {
    const res = await request(t.server).get('/api/v1/providers').set('X-API-Key', ADMIN_KEY);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual(PROVIDERS.map((provider) => ({ provider, connectable: provider === 'garmin' || provider === 'withings' })));
    expect(res.text).not.toContain(CLIENTS.garmin.clientSecret);
    expect(res.text).not.toContain(CLIENTS.garmin.clientId);
  });

  it('needs an API key', async () => {
    const res = await request(t.server).get('/api/v1/providers');
    expect(res.status).toBe(401);
  });

  it('the client secrets appear in no log line', () => {
    expect(t.logs.length).toBeGreaterThan(0);
    for (const line of t.logs) {
      expect(line).not.toContain(CLIENTS.garmin.clientSecret);
      expect(line).not.toContain(CLIENTS.withings.clientSecret);
    }
  });
});

function exchangeOf(provider: Provider, given: Consent) {
  return {
    callbackUrl: given.callbackUrl,
    expectedState: given.state,
    codeVerifier: given.codeVerifier,
    redirectUri: redirectUri(provider),
    userId: randomUUID(),
  };
}
