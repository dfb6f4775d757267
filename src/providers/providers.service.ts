import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import * as oauth from 'oauth4webapi';
import type { ProvidersConfig } from '../config/providers.config.js';
import type { Grant } from '../connections/connections.service.js';
import { type Provider, PROVIDERS } from '../connections/providers.js';
import { ADAPTERS } from './index.js';
import type { ProviderAccount, ProviderAdapter, ProviderNotice, ProviderTokens } from './provider-adapter.js';
import { oauthErrorCode, ProviderError, ProviderNotConfiguredError } from './provider-error.js';
import { ProviderHttp } from './provider-http.js';

/** The injection token of the providers' configuration (AppConfig.providers). */
export const PROVIDERS_CONFIG = Symbol('PROVIDERS_CONFIG');

export interface ProviderAvailability {
  provider: Provider;
  /** Both P_CLIENT_ID and P_CLIENT_SECRET are set: the provider is offered. */
  connectable: boolean;
}

export interface AuthorizationRequest {
  /** The OAuth state: a fresh secret per attempt (oauth4webapi's generateRandomState()). */
  state: string;
  /** The PKCE verifier (generateRandomCodeVerifier()): required where usesPkce(), ignored elsewhere. */
  codeVerifier?: string;
  /** Our callback URL for this provider, as registered with it. */
  redirectUri: string;
}

export interface CodeExchange {
  /** The URL the provider redirected the browser to, with its query (code and state, or error). */
  callbackUrl: URL;
  /** The state the authorization URL carried. */
  expectedState: string;
  /** The verifier the authorization URL's challenge was made from (PKCE providers). */
  codeVerifier?: string;
  /** The redirect_uri the authorization URL carried. */
  redirectUri: string;
  /** Our user the connection is for. */
  userId: string;
  /**
   * Called once the provider's account is known and before anything the exchange does at the provider
   * that cannot be undone (Polar's registration of the user), for the providers that do such a thing:
   * what it throws, exchange() throws as it is, having done nothing more at the provider.
   */
  beforeRegistration?: (account: { providerUserId: string }) => Promise<void>;
}

/** What a code exchange gives: ConnectionsService.link()'s Grant. */
export type ProviderGrant = Grant;

export interface RefreshedTokens {
  accessToken: string;
  /** A new refresh token, when the provider rotates them; undefined keeps the old one. */
  refreshToken?: string;
  expiresAt?: Date;
}

/** `already_gone`: the provider answered 401, 403 or 404, so the grant or the user is no longer there. */
export type Deregistration = 'deregistered' | 'already_gone';

/** One configured provider, ready to talk to. */
interface ProviderClient {
  adapter: ProviderAdapter;
  clientSecret: string;
  scopes: readonly string[];
  http: ProviderHttp;
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  clientAuth: oauth.ClientAuth;
}

/**
 * OAuth 2 with the wearable providers, through oauth4webapi and one adapter per provider
 * (src/providers/*.provider.ts): authorization URLs, the code exchange and what follows it, refresh and
 * deregistration. Every request to a provider has PROVIDER_TIMEOUT_MS and honours P_BASE_URL. Failures
 * are ProviderErrors whose messages hold no token, code, state, verifier or secret; asking an
 * unconfigured provider is a ProviderNotConfiguredError.
 */
@Injectable()
export class ProvidersService {
  private readonly clients = new Map<Provider, ProviderClient>();

  constructor(@Inject(PROVIDERS_CONFIG) private readonly config: ProvidersConfig) {
    for (const provider of PROVIDERS) {
      const client = this.build(provider);
      if (client) this.clients.set(provider, client);
    }
  }

  /** All nine providers, in PROVIDERS' order, each with whether it is offered. */
  list(): ProviderAvailability[] {
    return PROVIDERS.map((provider) => ({ provider, connectable: this.clients.has(provider) }));
  }

  isConnectable(provider: Provider): boolean {
    return this.clients.has(provider);
  }

  /** Whether the provider uses PKCE: authorizationUrl() and exchange() then need the code verifier. */
  usesPkce(provider: Provider): boolean {
    return ADAPTERS[provider].pkce;
  }

  /** Whether the provider has a refresh grant (Polar's tokens are long-lived; Coros extends its own in place). */
  refreshes(provider: Provider): boolean {
    return ADAPTERS[provider].refresh;
  }

  /** Where to send the user to consent: the provider's authorization URL (under P_BASE_URL when set). */
  async authorizationUrl(provider: Provider, { state, codeVerifier, redirectUri }: AuthorizationRequest): Promise<URL> {
    const c = this.client(provider);
    if (!state) throw new TypeError('authorizationUrl() needs a state');
    const url = new URL(c.as.authorization_endpoint!);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', c.client.client_id);
    url.searchParams.set('redirect_uri', redirectUri);
    if (c.scopes.length > 0) url.searchParams.set('scope', c.scopes.join(c.adapter.scopes.separator));
    url.searchParams.set('state', state);
    if (c.adapter.pkce) {
      if (!codeVerifier) throw new TypeError(`${provider} uses PKCE: authorizationUrl() needs a codeVerifier`);
      url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier));
      url.searchParams.set('code_challenge_method', 'S256');
    }
    for (const [name, value] of Object.entries(c.adapter.authorizeParams ?? {})) url.searchParams.set(name, value);
    return url;
  }

  /**
   * Completes the authorization: checks the callback (its state, and whether it carries an error),
   * exchanges the code at once, learns the provider's account (adapter's afterExchange: user id,
   * username, granted scope), and, once beforeRegistration() has let it, does what the provider needs
   * done for a new user (adapter's register: Polar's registration). The grant is what
   * ConnectionsService.link() takes. Throws ProviderError: access_denied, exchange_failed,
   * scope_denied, provider_unavailable; or what beforeRegistration() threw. A grant refused here is
   * dropped, never revoked at the provider: for most providers a revocation ends every grant of the
   * account, the connection it may already have here (for this user or another) included.
   */
  async exchange(provider: Provider, exchange: CodeExchange): Promise<ProviderGrant> {
    const c = this.client(provider);
    const received = new URLSearchParams(exchange.callbackUrl.searchParams);
    if (!c.adapter.issuer) received.delete('iss');
    let callbackParams: URLSearchParams;
    try {
      callbackParams = oauth.validateAuthResponse(c.as, c.client, received, exchange.expectedState);
    } catch (error) {
      if (error instanceof oauth.AuthorizationResponseError) {
        const code = oauthErrorCode(error.error);
        throw new ProviderError('access_denied', provider, `${provider} answered the authorization with an error${code ? ` (${code})` : ''}`, code);
      }
      throw new ProviderError('exchange_failed', provider, `the callback from ${provider} is not valid: ${reason(error)}`);
    }
    if (c.adapter.pkce && !exchange.codeVerifier) throw new TypeError(`${provider} uses PKCE: exchange() needs the codeVerifier`);

    let answer: oauth.TokenEndpointResponse;
    try {
      const response = await oauth.authorizationCodeGrantRequest(
        c.as,
        c.client,
        c.clientAuth,
        callbackParams,
        exchange.redirectUri,
        c.adapter.pkce ? exchange.codeVerifier! : oauth.nopkce,
        this.requestOptions(c, 'exchange'),
      );
      answer = await oauth.processAuthorizationCodeResponse(c.as, c.client, response);
    } catch (error) {
      throw failure(provider, error, 'code exchange');
    }

    const tokens = providerTokens(answer);
    let account: ProviderAccount;
    try {
      account = await c.adapter.afterExchange(tokens, {
        http: c.http,
        userId: exchange.userId,
        callbackParams,
        requestedScopes: c.scopes,
      });
    } catch (error) {
      throw failure(provider, error, 'exchange');
    }
    if (c.adapter.register) {
      await exchange.beforeRegistration?.({ providerUserId: account.providerUserId });
      try {
        await c.adapter.register(tokens, { http: c.http, userId: exchange.userId });
      } catch (error) {
        throw failure(provider, error, 'registration');
      }
    }
    return {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiresAt: expiresAt(tokens.expiresIn),
      scope: account.scope !== undefined ? account.scope : tokens.scope,
      providerUserId: account.providerUserId,
      providerUsername: account.providerUsername ?? null,
    };
  }

  /**
   * New tokens for a refresh token. Throws ProviderError: refresh_rejected (the provider answered
   * invalid_grant: the grant is gone), provider_unavailable, or exchange_failed (any other refusal or
   * a malformed answer: the grant may still be good). Only for providers that refreshes().
   */
  async refresh(provider: Provider, refreshToken: string): Promise<RefreshedTokens> {
    const c = this.client(provider);
    if (!c.adapter.refresh) throw new TypeError(`${provider} has no refresh grant`);
    let answer: oauth.TokenEndpointResponse;
    try {
      const response = await oauth.refreshTokenGrantRequest(c.as, c.client, c.clientAuth, refreshToken, this.requestOptions(c, 'refresh'));
      answer = await oauth.processRefreshTokenResponse(c.as, c.client, response);
    } catch (error) {
      throw failure(provider, error, 'refresh');
    }
    const tokens = providerTokens(answer);
    return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? undefined, expiresAt: expiresAt(tokens.expiresIn) ?? undefined };
  }

  /**
   * Ends the grant at the provider (a disconnect). Throws ProviderError: provider_unavailable, or
   * deregistration_failed (the provider refused; Polar and Withings also need the providerUserId).
   */
  async deregister(provider: Provider, accessToken: string, providerUserId?: string | null): Promise<Deregistration> {
    const c = this.client(provider);
    let response: Response;
    try {
      response = await c.adapter.deregister(accessToken, {
        http: c.http,
        clientId: c.client.client_id,
        clientSecret: c.clientSecret,
        providerUserId: providerUserId ?? null,
      });
    } catch (error) {
      throw failure(provider, error, 'deregistration');
    }
    if (response.ok) return 'deregistered';
    if ([401, 403, 404].includes(response.status)) return 'already_gone';
    if (response.status >= 500 || response.status === 429) {
      throw new ProviderError('provider_unavailable', provider, `${provider} answered HTTP ${response.status} to the deregistration`);
    }
    throw new ProviderError('deregistration_failed', provider, `${provider} refused the deregistration (HTTP ${response.status})`);
  }

  /**
   * Whether `token` is the provider's P_WEBHOOK_TOKEN, for a provider whose notices are read here
   * (compared in constant time). False when no token is set: its notices are not accepted.
   */
  webhookTokenMatches(provider: Provider, token: string): boolean {
    const expected = this.config.byProvider[provider].webhookToken;
    if (!expected || !ADAPTERS[provider].notices) return false;
    return sameSecret(token, expected);
  }

  /** Whether `token` is STRAVA_WEBHOOK_VERIFY_TOKEN (Strava's subscription validation); false when it is not set. */
  stravaVerifyTokenMatches(token: string): boolean {
    const expected = this.config.stravaWebhookVerifyToken;
    return expected !== undefined && sameSecret(token, expected);
  }

  /** The notices a provider's POST carries (see NoticeReader.read); undefined when the body is not of its shape. */
  readNotices(provider: Provider, body: unknown, max: number): ProviderNotice[] | undefined {
    return ADAPTERS[provider].notices?.read(body, max);
  }

  private client(provider: Provider): ProviderClient {
    const client = this.clients.get(provider);
    if (!client) throw new ProviderNotConfiguredError(provider);
    return client;
  }

  private build(provider: Provider): ProviderClient | undefined {
    const { clientId, clientSecret, scopes, baseUrl } = this.config.byProvider[provider];
    if (!clientId || !clientSecret) return undefined;
    const adapter = ADAPTERS[provider];
    const http = new ProviderHttp(provider, baseUrl, this.config.providerTimeoutMs);
    return {
      adapter,
      clientSecret,
      scopes: scopes ?? adapter.scopes.default,
      http,
      as: {
        // oauth4webapi needs an issuer; only a documented one (adapter.issuer) is ever compared.
        issuer: adapter.issuer ?? new URL(adapter.urls.authorize).origin,
        authorization_endpoint: http.url(adapter.urls.authorize).href,
        token_endpoint: http.url(adapter.urls.token).href,
      },
      client: { client_id: clientId },
      clientAuth: adapter.clientAuthentication === 'basic' ? oauth.ClientSecretBasic(clientSecret) : oauth.ClientSecretPost(clientSecret),
    };
  }

  /** The options of a token request: the timeout, the adapter's extra parameters and answer rewrite, and plain http only on loopback. */
  private requestOptions(c: ProviderClient, phase: 'exchange' | 'refresh'): oauth.TokenEndpointRequestOptions {
    return {
      signal: () => c.http.signal(),
      additionalParameters: c.adapter.tokenParams?.[phase],
      [oauth.customFetch]: c.http.customFetch(c.adapter.tokenAnswer?.bind(c.adapter)),
      // Only ever true for an http:// P_BASE_URL on a loopback address (see loadProvidersConfig).
      [oauth.allowInsecureRequests]: c.http.insecure,
    };
  }
}

function providerTokens(answer: oauth.TokenEndpointResponse): ProviderTokens {
  return {
    accessToken: answer.access_token,
    refreshToken: answer.refresh_token ?? null,
    expiresIn: typeof answer.expires_in === 'number' ? answer.expires_in : null,
    scope: answer.scope ?? null,
    raw: answer,
  };
}

function expiresAt(expiresIn: number | null): Date | null {
  return expiresIn === null ? null : new Date(Date.now() + expiresIn * 1000);
}

/**
 * A failure as a ProviderError. The library's messages are fixed sentences (they name parameters, never
 * their values), so they may be quoted; its errors' causes hold the provider's answer and are dropped.
 */
function failure(provider: Provider, error: unknown, what: string): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof oauth.ResponseBodyError) {
    const code = oauthErrorCode(error.error);
    if (what === 'refresh' && code === 'invalid_grant') {
      return new ProviderError('refresh_rejected', provider, `${provider} rejected the refresh token (invalid_grant)`, code);
    }
    return new ProviderError('exchange_failed', provider, `${provider} refused the ${what} (HTTP ${error.status}${code ? `, ${code}` : ''})`, code);
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    return new ProviderError('exchange_failed', provider, `${provider} refused the ${what} (HTTP ${error.status}, an authentication challenge)`);
  }
  const code = what === 'deregistration' ? 'deregistration_failed' : 'exchange_failed';
  return new ProviderError(code, provider, `${provider}'s answer to the ${what} is not valid: ${reason(error)}`);
}

/** Why the library refused something, in its own fixed words; anything else only by its kind. */
function reason(error: unknown): string {
  if (error instanceof oauth.OperationProcessingError || error instanceof oauth.UnsupportedOperationError) {
    const status = error.cause instanceof Response ? ` (HTTP ${error.cause.status})` : '';
    return `${error.message}${status}`;
  }
  return error instanceof Error ? error.name : 'unknown error';
}

/** Whether two secrets are equal, in time that does not depend on where they differ. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
