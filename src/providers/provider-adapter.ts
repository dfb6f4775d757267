import type { Provider } from '../connections/providers.js';
import type { ProviderAnswer, ProviderHttp } from './provider-http.js';

/** How the client authenticates at the token endpoint: HTTP Basic, or client_id and client_secret in the body. */
export type ClientAuthentication = 'basic' | 'body';

/** The token endpoint's answer, once oauth4webapi has checked it. */
export interface ProviderTokens {
  accessToken: string;
  refreshToken: string | null;
  /** Seconds until the access token lapses, when the provider says. */
  expiresIn: number | null;
  /** The scope the answer reports, as the provider wrote it. */
  scope: string | null;
  /** The whole answer, for what only this provider sends (Strava's `athlete`, Polar's `x_user_id`, Coros' `openId`…). */
  raw: Readonly<Record<string, unknown>>;
}

/** What an exchange learns of the provider's account. */
export interface ProviderAccount {
  providerUserId: string;
  providerUsername?: string | null;
  /** The granted scope, when the provider tells it elsewhere than in the token answer (overrides ProviderTokens.scope). */
  scope?: string | null;
}

/** What an adapter's afterExchange() may use. */
export interface ExchangeContext {
  /** Requests to this provider: base-URL rewrite, timeout, failures as ProviderErrors. */
  http: ProviderHttp;
  /** Our user the connection is for. */
  userId: string;
  /** The callback's query parameters (Strava reports the granted scope there). */
  callbackParams: URLSearchParams;
  /** The scopes the authorization URL asked for. */
  requestedScopes: readonly string[];
}

/** What an adapter's register() may use. */
export interface RegistrationContext {
  http: ProviderHttp;
  /** Our user the connection is for (Polar registers it as the member id). */
  userId: string;
}

/** What an adapter's deregister() may use. */
export interface DeregisterContext {
  http: ProviderHttp;
  clientId: string;
  clientSecret: string;
  /** The connection's provider_user_id (Polar's and Withings' deregistration name the user). */
  providerUserId: string | null;
}

/**
 * One wearable provider: everything that differs between providers, side by side in one shape. The
 * OAuth itself (authorization URL, PKCE, state, code exchange, refresh) is oauth4webapi's, driven by
 * ProvidersService from these fields; an adapter holds only the provider's URLs and quirks.
 */
export interface ProviderAdapter {
  readonly name: Provider;
  readonly urls: {
    /** Where the user is sent to consent. */
    readonly authorize: string;
    /** The token endpoint: code exchange, and refresh unless `refresh` names another. */
    readonly token: string;
  };
  readonly clientAuthentication: ClientAuthentication;
  /** PKCE with S256: the authorization URL carries the challenge, the exchange the verifier. */
  readonly pkce: boolean;
  readonly scopes: {
    /** Asked for unless P_SCOPES says otherwise; empty: no `scope` parameter at all. */
    readonly default: readonly string[];
    /** How the `scope` parameter joins them. */
    readonly separator: ' ' | ',';
  };
  /** Parameters the authorization URL carries besides OAuth's own (Google's access_type and prompt). */
  readonly authorizeParams?: Readonly<Record<string, string>>;
  /** Parameters a token request carries besides OAuth's own (Withings' action, Whoop's scope on refresh). */
  readonly tokenParams?: { readonly exchange?: Readonly<Record<string, string>>; readonly refresh?: Readonly<Record<string, string>> };
  /**
   * The issuer the provider names in a callback's `iss` (RFC 9207), when it documents one. Without it a
   * callback's `iss` is not checked: each provider has its own callback URL, which is the mix-up
   * defence RFC 9700 (section 4.4.2) accepts in its place.
   */
  readonly issuer?: string;
  /**
   * Rewrites the token endpoint's answer into RFC 6749's shape before the library reads it (through its
   * customFetch hook): an unwrapped body, a token_type, an OAuth error code for a refusal.
   */
  tokenAnswer?(answer: ProviderAnswer): ProviderAnswer;
  /**
   * After the code exchange: the provider's user id (and username, granted scope), from the answer or
   * the provider's API, reading only: nothing here may change anything at the provider, since the
   * account may yet be refused. Throws a ProviderError (`scope_denied` when the user granted less than
   * the connection needs).
   */
  afterExchange(tokens: ProviderTokens, ctx: ExchangeContext): Promise<ProviderAccount>;
  /**
   * What the provider needs done for a user it is to serve (Polar: registering the user with
   * AccessLink), once the account is accepted; only for providers that need it. Throws a ProviderError.
   */
  register?(tokens: ProviderTokens, ctx: RegistrationContext): Promise<void>;
  /** Whether the provider has a refresh grant: false where access tokens are long-lived (Polar) or extended in place (Coros). */
  readonly refresh: boolean;
  /**
   * Ends the provider-side grant (disconnect). Resolves with the answer that decides the outcome:
   * 2xx done; 401, 403 or 404 the grant or user is already gone; anything else a failure.
   */
  deregister(accessToken: string, ctx: DeregisterContext): Promise<Response>;
  /** How the provider's notices to /webhooks/providers/{provider}/{token} are read, where it sends any. */
  readonly notices?: NoticeReader;
}

/** What a provider's notice tells of one of its accounts. */
export type ProviderNotice =
  /** The user ended the grant at the provider (or deleted the account): the connection is revoked. */
  | { kind: 'deauthorized'; providerUserId: string }
  /** The user changed what the grant allows: the connection's scope becomes this. */
  | { kind: 'permissions'; providerUserId: string; scope: string | null };

/** A provider's notices, as its adapter reads them (for the providers whose documentation defines them). */
export interface NoticeReader {
  /**
   * The notices a POST to our webhook carries, at most `max` of them; [] for a push of anything else
   * (data we do not handle); undefined for a body that is not of this provider's shape.
   */
  read(body: unknown, max: number): ProviderNotice[] | undefined;
}
