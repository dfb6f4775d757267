import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Provider } from '../../src/connections/providers.js';

/**
 * The nine wearable providers as one local HTTP server (127.0.0.1, a random port), each speaking its
 * own dialect at its own paths, as its documentation describes them. The service reaches it through
 * P_BASE_URL, which keeps every path: where providers share a path (/oauth/authorize and /oauth/token:
 * Strava, Suunto and Oura) the fake tells them apart by client id, each provider having its own.
 *
 * What it checks, as the real ones would: the client authentication each provider takes (Basic or in
 * the body; the other one is refused), single-use codes bound to their client and redirect_uri, PKCE
 * S256 for Garmin and Google, Google's access_type=offline (no refresh token without it), Whoop's
 * `offline` scope (likewise) and `scope=offline` on refresh, Withings' signatures. What it answers:
 * each provider's shape (Withings wrapped, Coros without token_type, Strava's athlete, Polar's
 * x_user_id, Suunto's JWT with a `user` claim), its own error dialect, rotating refresh tokens where
 * the provider rotates them. It records every request, and faults can be scripted per provider and
 * endpoint (a delay, an HTTP status, a refusal, a malformed answer, a denied consent).
 */

/** The dialect facts the fake holds of each provider: written from the providers' documentation, not from the adapters. */
const DIALECT: Record<Provider, { clientAuth: 'basic' | 'body'; pkce: boolean; separator: ' ' | ','; rotates: boolean; refresh: boolean }> = {
  garmin: { clientAuth: 'body', pkce: true, separator: ' ', rotates: true, refresh: true },
  strava: { clientAuth: 'body', pkce: false, separator: ',', rotates: true, refresh: true },
  polar: { clientAuth: 'basic', pkce: false, separator: ' ', rotates: false, refresh: false },
  suunto: { clientAuth: 'basic', pkce: false, separator: ' ', rotates: true, refresh: true },
  whoop: { clientAuth: 'body', pkce: false, separator: ' ', rotates: true, refresh: true },
  oura: { clientAuth: 'body', pkce: false, separator: ' ', rotates: true, refresh: true },
  fitbit: { clientAuth: 'body', pkce: true, separator: ' ', rotates: false, refresh: true },
  withings: { clientAuth: 'body', pkce: false, separator: ',', rotates: true, refresh: true },
  coros: { clientAuth: 'body', pkce: false, separator: ' ', rotates: false, refresh: false },
};

/** Each provider's account, as the fake reports it. */
export const FAKE_ACCOUNTS = {
  garmin: { userId: 'd3315b1072421d0dd7c8f6b8e1de4df8' },
  strava: { id: 134815, username: 'marianne_t' },
  polar: { xUserId: 475 },
  suunto: { user: 'trailrunner_88' },
  whoop: { userId: 10129 },
  oura: { id: '8f9a5602-4c74-4b6f-9b2d-8e1a6f0c2d3e' },
  fitbit: { healthUserId: 'g-health-2f4a9c' },
  withings: { userid: 363 },
  coros: { openId: 'coros-open-9a8b7c' },
} as const;

/** Each provider's access token lifetime (seconds), as the fake answers it. */
export const FAKE_EXPIRES_IN: Record<Provider, number> = {
  garmin: 86_400,
  strava: 21_600,
  polar: 315_360_000,
  suunto: 86_399,
  whoop: 3_600,
  oura: 86_400,
  fitbit: 3_599,
  withings: 10_800,
  coros: 2_592_000,
};

/** Garmin's permissions when the consent grants them all. */
export const GARMIN_PERMISSIONS = ['ACTIVITY_EXPORT', 'HEALTH_EXPORT', 'WORKOUT_IMPORT'];

export interface FakeClient {
  clientId: string;
  clientSecret: string;
}

export type FakeEndpoint = 'authorize' | 'token' | 'api' | 'deregister';

export type FakeFault =
  /** Answers only after this long (longer than the service's timeout: "slowly or not at all"). */
  | { delayMs: number }
  /** Answers this HTTP status with a body that is no OAuth error (and this Retry-After header, if given). */
  | { status: number; retryAfter?: string }
  /** authorize: redirects back with error=access_denied. token: refuses the code or refresh token, in the provider's dialect. */
  | { refuse: true }
  /** token: answers 200 with a JSON object that has no access_token. */
  | { malformed: true }
  /** token (Withings): answers HTTP 200 with this Withings status. */
  | { withingsStatus: number };

/** One request the fake received. */
export interface FakeCall {
  provider: Provider | undefined;
  endpoint: FakeEndpoint | undefined;
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  form: URLSearchParams;
  json: unknown;
}

/** A request to one of the providers' API or deregistration endpoints. */
interface FakeRequest {
  res: ServerResponse;
  headers: IncomingHttpHeaders;
  query: URLSearchParams;
  form: URLSearchParams;
  json: unknown;
}

interface IssuedCode {
  provider: Provider;
  clientId: string;
  redirectUri: string;
  scopes: string[];
  challenge?: string;
  offline: boolean;
  issuedAt: number;
  used: boolean;
}

interface IssuedToken {
  provider: Provider;
  scopes: string[];
  revoked: boolean;
}

export interface FakeProviders {
  /** http://127.0.0.1:<port>: every provider's P_BASE_URL. */
  baseUrl: string;
  calls: FakeCall[];
  /** The calls to one provider (at one endpoint kind). */
  callsTo(provider: Provider, endpoint?: FakeEndpoint): FakeCall[];
  /** Applies a fault to the provider's next request at that endpoint kind. */
  failNext(provider: Provider, endpoint: FakeEndpoint, fault: FakeFault): void;
  /** The user's next consent at this provider grants only these scopes (Garmin: these permissions). */
  grantNext(provider: Provider, scopes: string[]): void;
  /**
   * From now on, the authorization endpoint shows a consent page (an "Allow" link back to itself with
   * consent=allow, which then redirects as usual), as a browser would meet one; off: it redirects at once.
   */
  showConsentPages(on: boolean): void;
  /** Whether a token the fake issued still works. */
  isActive(token: string): boolean;
  /** Every code, token, nonce and state the fake has seen or issued: none may appear in an error message. */
  secrets(): string[];
  close(): Promise<void>;
}

/** Paths each provider serves (method and path), by endpoint kind; shared ones list several providers. */
const AUTHORIZE: Record<string, Provider[]> = {
  '/oauth2Confirm': ['garmin'],
  '/oauth/authorize': ['strava', 'suunto', 'oura'],
  '/oauth2/authorization': ['polar'],
  '/oauth/oauth2/auth': ['whoop'],
  '/o/oauth2/v2/auth': ['fitbit'],
  '/oauth2_user/authorize2': ['withings'],
  '/oauth2/authorize': ['coros'],
};
const TOKEN: Record<string, Provider[]> = {
  '/di-oauth2-service/oauth/token': ['garmin'],
  '/oauth/token': ['strava', 'suunto', 'oura'],
  '/v2/oauth2/token': ['polar'],
  '/oauth/oauth2/token': ['whoop'],
  '/token': ['fitbit'],
  '/v2/oauth2': ['withings'],
  '/oauth2/accesstoken': ['coros'],
};

export async function startFakeProviders(clients: Partial<Record<Provider, FakeClient>>): Promise<FakeProviders> {
  const calls: FakeCall[] = [];
  const faults = new Map<string, FakeFault>();
  const grants = new Map<Provider, string[]>();
  const codes = new Map<string, IssuedCode>();
  const accessTokens = new Map<string, IssuedToken>();
  const refreshTokens = new Map<string, IssuedToken>();
  const nonces = new Set<string>();
  const states = new Set<string>();
  let consentPages = false;
  const registeredMembers = new Set<string>();
  const polarUsers = new Set<string>();
  const providerOfClient = new Map<string, Provider>(Object.entries(clients).map(([provider, client]) => [client.clientId, provider as Provider]));

  const issue = (prefix: string): string => `${prefix}-${randomBytes(12).toString('hex')}`;
  const takeFault = (provider: Provider, endpoint: FakeEndpoint): FakeFault | undefined => {
    const key = `${provider} ${endpoint}`;
    const fault = faults.get(key);
    faults.delete(key);
    return fault;
  };

  function issueTokens(provider: Provider, scopes: string[], withRefresh: boolean): { access: string; refresh?: string } {
    const access = provider === 'suunto' ? suuntoJwt(clients.suunto!.clientId, scopes) : issue(`${provider}-access`);
    accessTokens.set(access, { provider, scopes, revoked: false });
    if (!withRefresh) return { access };
    const refresh = issue(`${provider}-refresh`);
    refreshTokens.set(refresh, { provider, scopes, revoked: false });
    return { access, refresh };
  }

  /** The token endpoint's answer in the provider's shape. */
  function tokenAnswer(provider: Provider, tokens: { access: string; refresh?: string }, scopes: string[], exchange: boolean): Record<string, unknown> {
    const expiresIn = FAKE_EXPIRES_IN[provider];
    const scope = scopes.join(DIALECT[provider].separator);
    const refresh = tokens.refresh ? { refresh_token: tokens.refresh } : {};
    switch (provider) {
      case 'garmin':
        return {
          access_token: tokens.access,
          token_type: 'bearer',
          ...refresh,
          expires_in: expiresIn,
          jti: randomBytes(8).toString('hex'),
          refresh_token_expires_in: 7_775_999,
        };
      case 'strava':
        return {
          token_type: 'Bearer',
          expires_at: Math.floor(Date.now() / 1000) + expiresIn,
          expires_in: expiresIn,
          ...refresh,
          access_token: tokens.access,
          // The athlete comes with the code exchange only, not with a refresh.
          ...(exchange ? { athlete: { ...FAKE_ACCOUNTS.strava, resource_state: 2, firstname: 'Marianne', lastname: 'T.' } } : {}),
        };
      case 'polar':
        return { access_token: tokens.access, token_type: 'bearer', x_user_id: FAKE_ACCOUNTS.polar.xUserId, expires_in: expiresIn };
      case 'suunto':
        return {
          access_token: tokens.access,
          token_type: 'bearer',
          ...refresh,
          expires_in: expiresIn,
          scope: 'workout',
          user: FAKE_ACCOUNTS.suunto.user,
          jti: randomBytes(8).toString('hex'),
        };
      case 'whoop':
      case 'oura':
      case 'fitbit':
        return { access_token: tokens.access, expires_in: expiresIn, ...refresh, scope, token_type: provider === 'fitbit' ? 'Bearer' : 'bearer' };
      case 'withings':
        return {
          userid: FAKE_ACCOUNTS.withings.userid,
          access_token: tokens.access,
          ...refresh,
          expires_in: expiresIn,
          scope,
          csrf_token: randomBytes(8).toString('hex'),
          token_type: 'Bearer',
        };
      case 'coros':
        // Coros answers without token_type.
        return { access_token: tokens.access, ...refresh, expires_in: expiresIn, openId: FAKE_ACCOUNTS.coros.openId };
    }
  }

  /** A refusal of a code or refresh token, in the provider's dialect. */
  function refusal(res: ServerResponse, provider: Provider, what: 'code' | 'refresh_token'): void {
    if (provider === 'strava') {
      const resource = what === 'code' ? 'AuthorizationCode' : 'RefreshToken';
      return json(res, 400, { message: 'Bad Request', errors: [{ resource, field: what, code: 'invalid' }] });
    }
    if (provider === 'withings') return json(res, 200, { status: 503, body: {}, error: `Invalid Params: invalid ${what}` });
    if (provider === 'coros') return json(res, 200, { result: '5001', message: `invalid ${what}` });
    json(res, 400, { error: 'invalid_grant', error_description: `The ${what} is invalid, expired or revoked` });
  }

  function authorize(res: ServerResponse, provider: Provider, query: URLSearchParams): void {
    const client = clients[provider];
    const redirectUri = query.get('redirect_uri');
    const state = query.get('state');
    if (state) states.add(state);
    if (!client || query.get('client_id') !== client.clientId || query.get('response_type') !== 'code' || !redirectUri) {
      return json(res, 400, { error: 'invalid_request' });
    }
    if (provider === 'whoop' && (state ?? '').length < 8) return json(res, 400, { error: 'invalid_state', error_description: 'state must be 8 characters or more' });
    const challenge = query.get('code_challenge') ?? undefined;
    if (DIALECT[provider].pkce && (!challenge || query.get('code_challenge_method') !== 'S256')) {
      return json(res, 400, { error: 'invalid_request', error_description: 'PKCE with S256 is required' });
    }
    if (consentPages && query.get('consent') !== 'allow') return consentPage(res, provider, query);
    const back = new URL(redirectUri);
    if (state) back.searchParams.set('state', state);
    if (takeFault(provider, 'authorize')) {
      back.searchParams.set('error', 'access_denied');
      return redirect(res, back);
    }
    const requested = (query.get('scope') ?? '').split(DIALECT[provider].separator).filter(Boolean);
    const scopes = grants.get(provider) ?? (provider === 'garmin' ? GARMIN_PERMISSIONS : requested);
    grants.delete(provider);
    const code = issue(`${provider}-code`);
    codes.set(code, {
      provider,
      clientId: client.clientId,
      redirectUri,
      scopes,
      challenge,
      offline: provider !== 'fitbit' || query.get('access_type') === 'offline',
      issuedAt: Date.now(),
      used: false,
    });
    back.searchParams.set('code', code);
    // Strava reports the granted scopes in the callback.
    if (provider === 'strava') back.searchParams.set('scope', scopes.join(','));
    redirect(res, back);
  }

  /** The client a token request authenticates as, by the provider's own method; undefined when it is refused. */
  function authenticate(provider: Provider, headers: IncomingHttpHeaders, form: URLSearchParams): boolean {
    const client = clients[provider]!;
    const basic = basicCredentials(headers.authorization);
    if (DIALECT[provider].clientAuth === 'basic') {
      return !!basic && basic.id === client.clientId && basic.secret === client.clientSecret && !form.has('client_secret');
    }
    return !basic && form.get('client_id') === client.clientId && form.get('client_secret') === client.clientSecret;
  }

  function token(res: ServerResponse, provider: Provider, headers: IncomingHttpHeaders, form: URLSearchParams): void {
    if (provider === 'withings' && form.get('action') === 'revoke') return withingsRevoke(res, form);
    if (provider === 'withings' && form.get('action') !== 'requesttoken') return json(res, 200, { status: 2554, body: {}, error: 'Unknown action' });
    if (!authenticate(provider, headers, form)) {
      return provider === 'withings' ? json(res, 200, { status: 401, body: {}, error: 'Invalid client' }) : json(res, 401, { error: 'invalid_client' });
    }
    const fault = takeFault(provider, 'token');
    const grantType = form.get('grant_type');
    const what = grantType === 'refresh_token' ? 'refresh_token' : 'code';
    if (fault && 'refuse' in fault) return refusal(res, provider, what);
    if (fault && 'malformed' in fault) return json(res, 200, provider === 'withings' ? { status: 0, body: { userid: 1 } } : { token_type: 'bearer', expires_in: 60 });
    if (fault && 'withingsStatus' in fault) return json(res, 200, { status: fault.withingsStatus, body: {} });

    if (grantType === 'authorization_code') {
      const code = codes.get(form.get('code') ?? '');
      if (!code || code.used || code.provider !== provider || code.redirectUri !== form.get('redirect_uri')) return refusal(res, provider, 'code');
      code.used = true;
      // A Withings code is valid for 30 seconds.
      if (provider === 'withings' && Date.now() - code.issuedAt > 30_000) return refusal(res, provider, 'code');
      if (code.challenge !== undefined) {
        const verifier = form.get('code_verifier') ?? '';
        if (createHash('sha256').update(verifier).digest('base64url') !== code.challenge) {
          return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid code verifier.' });
        }
      }
      // Polar issues no refresh token; Google only with access_type=offline; Whoop only with the offline scope.
      const withRefresh = provider !== 'polar' && code.offline && (provider !== 'whoop' || code.scopes.includes('offline'));
      const tokens = issueTokens(provider, code.scopes, withRefresh);
      const answer = tokenAnswer(provider, tokens, code.scopes, true);
      return json(res, 200, provider === 'withings' ? { status: 0, body: answer } : answer);
    }
    if (grantType === 'refresh_token' && DIALECT[provider].refresh) {
      const old = refreshTokens.get(form.get('refresh_token') ?? '');
      if (!old || old.revoked || old.provider !== provider) return refusal(res, provider, 'refresh_token');
      if (provider === 'whoop' && form.get('scope') !== 'offline') return json(res, 400, { error: 'invalid_scope', error_description: 'scope=offline is required' });
      const rotates = DIALECT[provider].rotates;
      if (rotates) old.revoked = true;
      const tokens = issueTokens(provider, old.scopes, rotates);
      const answer = tokenAnswer(provider, tokens, old.scopes, false);
      return json(res, 200, provider === 'withings' ? { status: 0, body: answer } : answer);
    }
    return json(res, 400, { error: 'unsupported_grant_type' });
  }

  /** The user's access token of a request, when it is one the fake issued to this provider and still valid. */
  function bearerOf(provider: Provider, headers: IncomingHttpHeaders): IssuedToken | undefined {
    return tokenOf(provider, bearerToken({ headers }));
  }

  function tokenOf(provider: Provider, value: string | null | undefined): IssuedToken | undefined {
    const issued = value ? accessTokens.get(value) : undefined;
    return issued && issued.provider === provider && !issued.revoked ? issued : undefined;
  }

  function revokeAll(provider: Provider): void {
    for (const issued of [...accessTokens.values(), ...refreshTokens.values()]) if (issued.provider === provider) issued.revoked = true;
  }

  function withingsSignature(form: URLSearchParams, keys: string[]): boolean {
    const values = keys.map((key) => form.get(key) ?? '').join(',');
    const expected = createHmac('sha256', clients.withings!.clientSecret).update(values).digest('hex');
    return form.get('client_id') === clients.withings!.clientId && form.get('signature') === expected;
  }

  function withingsRevoke(res: ServerResponse, form: URLSearchParams): void {
    const nonce = form.get('nonce') ?? '';
    if (!nonces.delete(nonce) || !withingsSignature(form, ['action', 'client_id', 'nonce'])) {
      return json(res, 200, { status: 342, body: {}, error: 'Invalid signature' });
    }
    if (form.get('userid') !== String(FAKE_ACCOUNTS.withings.userid)) return json(res, 200, { status: 503, body: {}, error: 'Invalid Params' });
    revokeAll('withings');
    json(res, 200, { status: 0, body: {} });
  }

  /** The providers' APIs and deregistration endpoints: [provider, kind, handler] by method and path. */
  function route(method: string, path: string): [Provider, FakeEndpoint, (r: FakeRequest) => void] | undefined {
    const api = (provider: Provider, body: (issued: IssuedToken) => [number, unknown]) => (r: FakeRequest) => {
      const issued = bearerOf(provider, r.headers);
      if (!issued) return json(r.res, 401, { message: 'Unauthorized' });
      const [status, answer] = body(issued);
      json(r.res, status, answer);
    };
    const revoke = (provider: Provider, value: (r: FakeRequest) => string | null | undefined, answer: [number, unknown]) => (r: FakeRequest) => {
      const issued = tokenOf(provider, value(r));
      if (!issued) return json(r.res, 401, { message: 'Unauthorized' });
      revokeAll(provider);
      if (answer[0] === 204) return end(r.res, 204);
      json(r.res, answer[0], answer[1]);
    };
    const routes: Record<string, [Provider, FakeEndpoint, (r: FakeRequest) => void]> = {
      'GET /wellness-api/rest/user/id': ['garmin', 'api', api('garmin', () => [200, { userId: FAKE_ACCOUNTS.garmin.userId }])],
      'GET /wellness-api/rest/user/permissions': ['garmin', 'api', api('garmin', (issued) => [200, issued.scopes])],
      'DELETE /wellness-api/rest/user/registration': ['garmin', 'deregister', revoke('garmin', bearerToken, [204, null])],
      'POST /oauth/deauthorize': ['strava', 'deregister', revoke('strava', (r) => r.form.get('access_token'), [200, { access_token: 'revoked' }])],
      'POST /v3/users': [
        'polar',
        'api',
        (r) => {
          if (!bearerOf('polar', r.headers)) return json(r.res, 401, {});
          const memberId = (r.json as Record<string, unknown> | undefined)?.['member-id'];
          if (typeof memberId !== 'string' || memberId === '') return json(r.res, 400, { message: 'member-id is required' });
          if (registeredMembers.has(memberId)) return json(r.res, 409, { message: 'User already registered' });
          registeredMembers.add(memberId);
          polarUsers.add(String(FAKE_ACCOUNTS.polar.xUserId));
          json(r.res, 200, { 'polar-user-id': FAKE_ACCOUNTS.polar.xUserId, 'member-id': memberId, 'registration-date': new Date().toISOString() });
        },
      ],
      'GET /oauth/deauthorize': [
        'suunto',
        'deregister',
        (r) => {
          if (r.query.get('client_id') !== clients.suunto?.clientId) return json(r.res, 400, { error: 'invalid_client' });
          revoke('suunto', bearerToken, [200, {}])(r);
        },
      ],
      'GET /developer/v2/user/profile/basic': [
        'whoop',
        'api',
        api('whoop', (issued) =>
          issued.scopes.includes('read:profile')
            ? [200, { user_id: FAKE_ACCOUNTS.whoop.userId, email: 'athlete@example.com', first_name: 'Ada', last_name: 'Runner' }]
            : [403, { message: 'read:profile is required' }],
        ),
      ],
      'DELETE /developer/v2/user/access': ['whoop', 'deregister', revoke('whoop', bearerToken, [204, null])],
      'GET /v2/usercollection/personal_info': [
        'oura',
        'api',
        api('oura', () => [200, { id: FAKE_ACCOUNTS.oura.id, age: 41, weight: 64.2, height: 1.72, biological_sex: 'female' }]),
      ],
      'POST /oauth/revoke': ['oura', 'deregister', revoke('oura', (r) => r.query.get('access_token'), [200, {}])],
      'GET /v4/users/me/identity': [
        'fitbit',
        'api',
        api('fitbit', () => [200, { name: 'users/me/identity', legacyUserId: '7QX9ZP', healthUserId: FAKE_ACCOUNTS.fitbit.healthUserId }]),
      ],
      'POST /revoke': ['fitbit', 'deregister', revoke('fitbit', (r) => r.form.get('token'), [200, {}])],
      'POST /v2/signature': [
        'withings',
        'deregister',
        (r) => {
          if (r.form.get('action') !== 'getnonce' || !withingsSignature(r.form, ['action', 'client_id', 'timestamp'])) {
            return json(r.res, 200, { status: 342, body: {}, error: 'Invalid signature' });
          }
          const nonce = issue('withings-nonce');
          nonces.add(nonce);
          json(r.res, 200, { status: 0, body: { nonce } });
        },
      ],
      'POST /oauth2/deauthorize': [
        'coros',
        'deregister',
        (r) => {
          const value = r.headers.token;
          if (!tokenOf('coros', typeof value === 'string' ? value : undefined)) return json(r.res, 200, { result: '1019', message: 'token invalid' });
          revokeAll('coros');
          json(r.res, 200, { result: '0000', message: 'OK' });
        },
      ],
    };
    const polarUser = /^\/v3\/users\/([^/]+)$/.exec(path);
    if (method === 'DELETE' && polarUser) {
      return [
        'polar',
        'deregister',
        (r) => {
          if (!bearerOf('polar', r.headers)) return json(r.res, 401, {});
          if (!polarUsers.delete(decodeURIComponent(polarUser[1]))) return json(r.res, 404, { message: 'User not found' });
          revokeAll('polar');
          end(r.res, 204);
        },
      ];
    }
    return routes[`${method} ${path}`];
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const body = await readBody(req);
    const type = req.headers['content-type'] ?? '';
    const form = type.startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(body) : new URLSearchParams();
    let parsed: unknown;
    if (type.startsWith('application/json')) {
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
      }
    }
    const method = req.method ?? 'GET';
    const call: FakeCall = { provider: undefined, endpoint: undefined, method, path: url.pathname, query: url.searchParams, headers: req.headers, form, json: parsed };
    calls.push(call);

    // Authorization and token endpoints: the provider by path, or by client id where paths are shared.
    const candidates = method === 'GET' ? AUTHORIZE[url.pathname] : method === 'POST' ? TOKEN[url.pathname] : undefined;
    if (candidates) {
      const clientId = method === 'GET' ? url.searchParams.get('client_id') : (basicCredentials(req.headers.authorization)?.id ?? form.get('client_id'));
      const byClient = clientId ? providerOfClient.get(clientId) : undefined;
      const provider = candidates.length === 1 ? candidates[0] : byClient && candidates.includes(byClient) ? byClient : undefined;
      if (provider) {
        call.provider = provider;
        call.endpoint = method === 'GET' ? 'authorize' : provider === 'withings' && form.get('action') === 'revoke' ? 'deregister' : 'token';
        if (await faulted(provider, call.endpoint, res)) return;
        return method === 'GET' ? authorize(res, provider, url.searchParams) : token(res, provider, req.headers, form);
      }
      return json(res, 401, { error: 'invalid_client' });
    }
    const found = route(method, url.pathname);
    if (!found) return json(res, 404, { message: 'Not Found' });
    const [provider, endpoint, handler] = found;
    call.provider = provider;
    call.endpoint = endpoint;
    if (await faulted(provider, endpoint, res)) return;
    handler({ res, headers: req.headers, query: url.searchParams, form, json: parsed });
  }

  /** Delays, or answers, a scripted fault; true when it answered. Refusals and malformed answers are the endpoints' own. */
  async function faulted(provider: Provider, endpoint: FakeEndpoint, res: ServerResponse): Promise<boolean> {
    const fault = faults.get(`${provider} ${endpoint}`);
    if (!fault || !('delayMs' in fault || 'status' in fault)) return false;
    faults.delete(`${provider} ${endpoint}`);
    if ('delayMs' in fault) {
      await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
      return false;
    }
    res.writeHead(fault.status, { 'content-type': 'text/plain', ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}) }).end('Service Unavailable');
    return true;
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    calls,
    callsTo: (provider, endpoint) => calls.filter((call) => call.provider === provider && (endpoint === undefined || call.endpoint === endpoint)),
    failNext: (provider, endpoint, fault) => void faults.set(`${provider} ${endpoint}`, fault),
    grantNext: (provider, scopes) => void grants.set(provider, scopes),
    showConsentPages: (on) => void (consentPages = on),
    isActive: (value) => {
      const issued = accessTokens.get(value) ?? refreshTokens.get(value);
      return !!issued && !issued.revoked;
    },
    secrets: () => [...codes.keys(), ...accessTokens.keys(), ...refreshTokens.keys(), ...nonces, ...states],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Suunto's access token: a JWT whose `user` claim is the Suunto username (signature not meant to be checked). */
function suuntoJwt(clientId: string, scopes: string[]): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    user: FAKE_ACCOUNTS.suunto.user,
    exp: now + FAKE_EXPIRES_IN.suunto,
    iat: now,
    jti: randomBytes(8).toString('hex'),
    client_id: clientId,
    scope: scopes.length ? scopes : ['workout'],
    authorities: ['ROLE_CLIENT'],
  };
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.${randomBytes(32).toString('base64url')}`;
}

/** The access token of a request's `Authorization: Bearer` header. */
function bearerToken(r: { headers: IncomingHttpHeaders }): string | undefined {
  return /^Bearer (.+)$/.exec(r.headers.authorization ?? '')?.[1];
}

/** HTTP Basic credentials, form-decoded as RFC 6749 (2.3.1) has clients encode them. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const unescape = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '));
  return { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' }).end(JSON.stringify(body));
}

function end(res: ServerResponse, status: number): void {
  res.writeHead(status).end();
}

/** A provider's consent page, plain: its name and an "Allow" link that repeats the request with consent=allow. */
function consentPage(res: ServerResponse, provider: Provider, query: URLSearchParams): void {
  const allow = new URLSearchParams(query);
  allow.set('consent', 'allow');
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${provider}: allow access?</title></head>
<body><main><h1>Allow access to your ${provider} data?</h1><p><a id="allow" href="?${allow.toString().replace(/&/g, '&amp;')}">Allow</a></p></main></body></html>`;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
}

function redirect(res: ServerResponse, location: URL): void {
  res.writeHead(302, { location: location.href }).end();
}
