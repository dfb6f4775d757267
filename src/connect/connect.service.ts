import { BadRequestException, Inject, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { FailedLookups } from '../auth/failed-lookups.js';
import { isoTimeFromUtcText } from '../common/iso-time.js';
import { UUID_PATTERN } from '../common/validation.js';
import type { ConnectConfig } from '../config/connect.config.js';
import { AccountInUseError } from '../connections/connection.errors.js';
import { ConnectionsService } from '../connections/connections.service.js';
import { isProvider, type Provider } from '../connections/providers.js';
import { TokenCipher } from '../crypto/token-cipher.js';
import { isDatabaseUnavailable } from '../database/database-unavailable.js';
import { ProviderError } from '../providers/provider-error.js';
import { ProvidersService } from '../providers/providers.service.js';
import { UserNotFoundError } from '../users/user.errors.js';
import { WebhookOutbox } from '../webhooks/webhook-outbox.js';
import type { ConnectError, PageKind } from './connect-errors.js';
import type { OfferedProvider } from './connect-pages.js';
import { ConnectRepository, type ConsumedAttemptRow, type RefusedAttemptRow, type SessionRow } from './connect.repository.js';
import { isSecretShaped, matchesHash, newSecret, secretHash } from './connect-secrets.js';
import { clearedFlowCookie, FLOW_TTL_SECONDS, flowCookieName, flowCookieScope, readCookie, serializeFlowCookie } from './flow-cookie.js';
import { allowedReturnUrl } from './return-url.js';

/** The injection token of the connect flow's configuration (AppConfig.connect). */
export const CONNECT_CONFIG = Symbol('CONNECT_CONFIG');

/** The most provider flows one session may start (each is a row): a link cannot be used to fill the table. */
export const MAX_ATTEMPTS_PER_SESSION = 20;

/** What POST /api/v1/users/{user_id}/connect-sessions asks for. */
export interface SessionRequest {
  returnUrl: string;
  provider?: Provider;
  providers?: Provider[];
}

/** A new session, with its link: the only time the link's token exists outside the user's browser. */
export interface CreatedSession {
  session: SessionRow;
  url: string;
}

/** A page instead of a redirect: why the link cannot go on (with how long an address is blocked, for `blocked`). */
export interface PageOutcome {
  page: PageKind;
  retryAfter?: number;
}

/** What GET /connect/{token} answers: a page, the one provider's flow, or the providers to choose from. */
export type LinkOutcome = PageOutcome | { redirect: string } | { choose: { appName: string; offered: OfferedProvider[]; cancelHref: string } };

/** What GET /connect/{token}/{provider} answers: a page, or the provider's authorization URL and the flow cookie. */
export type FlowStart = PageOutcome | { redirect: string; setCookie: string };

/**
 * What GET /oauth/{provider}/callback answers: a page (no session to return to), or the return_url with
 * the outcome; and the flow cookie cleared once the flow is over.
 */
export type CallbackOutcome = ({ page: PageKind } | { redirect: string }) & { setCookie?: string };

/** The query parameters the service adds to a return_url; any the consumer put there under these names are replaced. */
const RESULT_PARAMS = ['connect_session_id', 'status', 'provider', 'connection_id', 'error'];

/**
 * Connect sessions: a consumer's backend asks for a short-lived link for one of its users; the user's
 * browser follows it through a provider's OAuth flow, which ends in a connection (ConnectionsService.link)
 * and a redirect to the consumer's return_url. Each session is finished by one callback, whatever its
 * outcome; each secret (link token, state, flow cookie, PKCE verifier) is random, single-purpose, and
 * stored only hashed or sealed. No method logs, returns or throws one, except the link's token in the
 * link's own URLs (the consumer's `url`, and the link's redirect or page of links to its providers' flows)
 * and the state in the provider's authorization URL, where OAuth puts it.
 */
@Injectable()
export class ConnectService {
  private readonly logger = new Logger('ConnectSessions');
  private readonly cookieScope: ReturnType<typeof flowCookieScope>;

  constructor(
    @Inject(CONNECT_CONFIG) private readonly config: ConnectConfig,
    private readonly repository: ConnectRepository,
    private readonly providers: ProvidersService,
    private readonly connections: ConnectionsService,
    private readonly cipher: TokenCipher,
    private readonly failedLookups: FailedLookups,
    private readonly outbox: WebhookOutbox,
  ) {
    this.cookieScope = flowCookieScope(config.publicUrl);
  }

  /**
   * Creates a session for the user: a link valid for CONNECT_SESSION_TTL_SECONDS, for the providers
   * asked for (all the configured ones when none is named). Throws BadRequestException for a return_url
   * CONNECT_RETURN_URLS does not allow or a provider that is not configured, UserNotFoundError.
   */
  async createSession(userId: string, request: SessionRequest): Promise<CreatedSession> {
    const returnUrl = allowedReturnUrl(request.returnUrl, this.config.returnUrls);
    if (!returnUrl) {
      throw new BadRequestException(
        this.config.returnUrls === null
          ? 'return_url must be an http://localhost or http://127.0.0.1 URL while CONNECT_RETURN_URLS is unset; set CONNECT_RETURN_URLS to allow others'
          : 'return_url is not allowed: it must start with one of the URLs in CONNECT_RETURN_URLS',
      );
    }
    const providers = this.chosenProviders(request);
    const token = newSecret();
    const session = await this.repository.insertSession({
      userId: userId.toLowerCase(),
      tokenHash: secretHash(token),
      returnUrl: returnUrl.href,
      providers,
      ttlSeconds: this.config.sessionTtlSeconds,
    });
    if (!session) throw new UserNotFoundError();
    return { session, url: this.linkUrl(token) };
  }

  /** The session, with its outcome once it has one. Throws NotFoundException. */
  async getSession(id: string): Promise<SessionRow> {
    const session = UUID_PATTERN.test(id) ? await this.repository.findSession(id.toLowerCase()) : undefined;
    if (!session) throw new NotFoundException('Connect session not found');
    return session;
  }

  /**
   * The link: straight to the provider's flow when the session offers one, else its providers (those
   * still configured) with the user's connection to each, read with the session in one statement. A
   * link that is not found counts against the address (FailedLookups), which past the limit gets the
   * `blocked` page.
   */
  async openLink(token: string, address: string): Promise<LinkOutcome> {
    if (!isSecretShaped(token)) return this.notFound(address);
    const session = await this.repository.findSessionPage(secretHash(token));
    if (!session) return this.notFound(address);
    if (session.used) return { page: 'used' };
    if (session.expired) return { page: 'expired' };
    const offered = session.providers.filter((provider) => this.providers.isConnectable(provider));
    if (offered.length === 0) return { page: 'not_found' };
    if (offered.length === 1) return { redirect: this.flowUrl(token, offered[0]) };
    const states = new Map(session.states.map((state) => [state.provider, state]));
    return {
      choose: {
        appName: this.config.appName,
        cancelHref: `${this.linkUrl(token)}/cancel`,
        offered: offered.map((provider) => {
          const state = states.get(provider);
          const lastSynced = state ? isoTimeFromUtcText(state.last_synced_at) : null;
          return {
            provider,
            href: this.flowUrl(token, provider),
            connection: state && { status: state.status, lastSyncedAt: lastSynced === null ? null : new Date(lastSynced) },
          };
        }),
      },
    };
  }

  /**
   * "Back to the app": the session's return_url with `connect_session_id` and `status=cancelled`. The
   * session stays as it is (the user may come back and connect while it lasts); a used one gets its page.
   */
  async cancelLink(token: string, address: string): Promise<PageOutcome | { redirect: string }> {
    if (!isSecretShaped(token)) return this.notFound(address);
    const session = await this.repository.findSessionByToken(secretHash(token));
    if (!session) return this.notFound(address);
    if (session.used) return { page: 'used' };
    const url = new URL(session.return_url);
    for (const name of RESULT_PARAMS) url.searchParams.delete(name);
    url.searchParams.set('connect_session_id', session.id);
    url.searchParams.set('status', 'cancelled');
    return { redirect: url.href };
  }

  /**
   * Starts the provider's flow for the link's session: a new attempt with a fresh state and flow
   * cookie (and PKCE verifier where the provider uses PKCE), each valid FLOW_TTL_SECONDS.
   */
  async startFlow(token: string, provider: string, address: string): Promise<FlowStart> {
    if (!isSecretShaped(token) || !isProvider(provider) || !this.providers.isConnectable(provider)) return this.notFound(address);
    const state = newSecret();
    const cookie = newSecret();
    const stateHash = secretHash(state);
    const verifier = this.providers.usesPkce(provider) ? newSecret() : undefined;
    const authorization = await this.providers.authorizationUrl(provider, { state, codeVerifier: verifier, redirectUri: this.redirectUri(provider) });
    const added = await this.repository.insertAttempt({
      tokenHash: secretHash(token),
      provider,
      stateHash,
      cookieHash: secretHash(cookie),
      sealedVerifier: verifier === undefined ? null : this.cipher.encrypt(verifier, verifierContext(stateHash)),
      ttlSeconds: FLOW_TTL_SECONDS,
      maxAttempts: MAX_ATTEMPTS_PER_SESSION,
    });
    if (!added) {
      const why = await this.whyNotStarted(token, provider);
      return why === 'not_found' ? this.notFound(address) : { page: why };
    }
    return { redirect: authorization.href, setCookie: serializeFlowCookie(flowCookieName(provider), cookie, this.cookieScope) };
  }

  /**
   * Finishes a provider's flow. The state is consumed and its session claimed at once (atomically: a
   * replay, or a second callback of the same session, loses), then checked against the callback's
   * provider and the flow cookie; then the code is exchanged, the provider's account checked, the
   * connection linked, and the outcome stored. `query` is the callback's query string as received.
   */
  async finishCallback(provider: string, query: string, cookieHeader: string | undefined): Promise<CallbackOutcome> {
    const params = new URLSearchParams(query);
    const states = params.getAll('state');
    if (!isProvider(provider) || states.length !== 1 || !isSecretShaped(states[0])) return { page: 'invalid_callback' };
    const state = states[0];
    const stateHash = secretHash(state);
    const attempt = await this.repository.consume(stateHash);
    if (!attempt) {
      const refused = await this.repository.refused(stateHash);
      if (!refused) return { page: 'invalid_callback' };
      const error = refusal(refused);
      this.logger.warn(`Connect session ${refused.session_id}: a ${provider} callback was refused (${error})`);
      return { redirect: this.returnUrl(refused.return_url, refused.session_id, refused.provider, { error }) };
    }

    // A state issued for one provider presented at another's callback (a mix-up), or brought back by a
    // browser other than the one whose flow it is, fails the session it claimed.
    const cookie = readCookie(cookieHeader, flowCookieName(provider));
    let outcome: { connectionId?: string; error?: ConnectError } | { page: PageKind };
    let setCookie: string | undefined;
    if (attempt.provider !== provider) outcome = { error: 'invalid_state' };
    else if (!cookie || !matchesHash(cookie, attempt.cookie_hash)) outcome = { error: 'cookie_mismatch' };
    else {
      // This browser's flow is over, whatever follows: its cookie goes (another browser's flow keeps its own).
      setCookie = clearedFlowCookie(flowCookieName(provider), this.cookieScope);
      try {
        outcome = await this.exchangeAndLink(provider, attempt, state, params);
      } catch (error) {
        // The session is claimed: whatever failed, it gets an outcome and the browser goes back to the app.
        this.logger.error(`Connect session ${attempt.session_id}: the ${attempt.provider} callback failed (${faultName(error)})`);
        outcome = { error: 'internal_error' };
      }
    }
    if ('page' in outcome) return { ...outcome, setCookie };
    try {
      const finished = { status: outcome.connectionId ? ('completed' as const) : ('failed' as const), provider: attempt.provider, connectionId: outcome.connectionId ?? null, error: outcome.error ?? null };
      const session = { id: attempt.session_id, user_id: attempt.user_id, status: finished.status, provider: finished.provider, connection_id: finished.connectionId, error: finished.error };
      const recorded = await this.repository.finish(attempt.session_id, attempt.attempt_id, finished, (exec) =>
        this.outbox.record(exec, finished.status === 'completed' ? 'connect_session.completed' : 'connect_session.failed', { connect_session: session }),
      );
      if (recorded) this.outbox.wake();
    } catch (error) {
      // Not even the outcome could be stored: no redirect would tell the app anything it could check.
      this.logger.error(
        `Connect session ${attempt.session_id}: the outcome of the ${attempt.provider} callback (${outcome.connectionId ? `connection ${outcome.connectionId}` : outcome.error}) could not be stored (${faultName(error)})`,
      );
      return { page: isDatabaseUnavailable(error) ? 'unavailable' : 'internal_error', setCookie };
    }
    this.logger.log(
      `Connect session ${attempt.session_id}: ${attempt.provider} ${outcome.connectionId ? `connected (connection ${outcome.connectionId})` : `failed (${outcome.error})`}`,
    );
    const result = outcome.connectionId ? { connection_id: outcome.connectionId } : { error: outcome.error! };
    return { redirect: this.returnUrl(attempt.return_url, attempt.session_id, attempt.provider, result), setCookie };
  }

  /**
   * The code exchange of a claimed attempt whose checks passed, the provider account's check, and the
   * link: the connection made, or why not. The account's check is linkExclusive()'s, atomic with the
   * link; where the provider registers the user (Polar), a first look comes before that registration,
   * so that an account in use is not registered. Nothing here holds a lock while a provider is called.
   */
  private async exchangeAndLink(
    provider: Provider,
    attempt: ConsumedAttemptRow,
    state: string,
    params: URLSearchParams,
  ): Promise<{ connectionId?: string; error?: ConnectError } | { page: PageKind }> {
    const redirectUri = this.redirectUri(provider);
    const exclusive = !this.config.allowSharedAccounts;
    // A deregistration of the user's last grant, running now, could end the one about to be made.
    await this.connections.beforeNewGrant(attempt.user_id, provider);
    let grant;
    try {
      grant = await this.providers.exchange(provider, {
        callbackUrl: new URL(`${redirectUri}?${params.toString()}`),
        expectedState: state,
        codeVerifier: attempt.code_verifier === null ? undefined : this.cipher.decrypt(attempt.code_verifier, verifierContext(secretHash(state))),
        redirectUri,
        userId: attempt.user_id,
        beforeRegistration: exclusive
          ? async ({ providerUserId }) => {
              if (await this.connections.accountHeldByOther(attempt.user_id, provider, providerUserId)) throw new AccountInUseError();
            }
          : undefined,
      });
    } catch (error) {
      if (error instanceof AccountInUseError) return { error: 'account_in_use' };
      if (error instanceof ProviderError || !isDatabaseUnavailable(error)) return { error: this.exchangeError(attempt, error) };
      throw error;
    }

    try {
      const connection = exclusive
        ? await this.connections.linkExclusive(attempt.user_id, provider, grant)
        : await this.connections.link(attempt.user_id, provider, grant);
      return { connectionId: connection.id };
    } catch (error) {
      // Another user's connection holds the account; the new tokens are dropped, not revoked (see README).
      if (error instanceof AccountInUseError) return { error: 'account_in_use' };
      // The user was deleted during the flow, and its session with it: nothing to return to.
      if (error instanceof UserNotFoundError) return { page: 'invalid_callback' };
      throw error;
    }
  }

  /** A failed exchange's error code; the provider layer's messages name no secret, so they are logged. */
  private exchangeError(attempt: ConsumedAttemptRow, error: unknown): ConnectError {
    if (error instanceof ProviderError) {
      this.logger.warn(`Connect session ${attempt.session_id}: ${error.message}`);
      switch (error.code) {
        case 'access_denied':
        case 'scope_denied':
        case 'provider_unavailable':
        case 'exchange_failed':
          return error.code;
        default:
          return 'exchange_failed';
      }
    }
    // Anything else is a fault here, not the provider's answer: its kind only, as its message could quote one.
    this.logger.error(`Connect session ${attempt.session_id}: the ${attempt.provider} exchange failed (${faultName(error)})`);
    return 'exchange_failed';
  }

  /** A link not found: counted against the address, which past the limit is told it is blocked. */
  private async notFound(address: string): Promise<PageOutcome> {
    const blockedFor = await this.failedLookups.failed('connect-link', address);
    return blockedFor === undefined ? { page: 'not_found' } : { page: 'blocked', retryAfter: blockedFor };
  }

  /** Why an attempt could not be added to the link's session. */
  private async whyNotStarted(token: string, provider: Provider): Promise<PageKind> {
    const session = await this.repository.findSessionByToken(secretHash(token));
    if (!session || !session.providers.includes(provider)) return 'not_found';
    if (session.used) return 'used';
    if (session.expired) return 'expired';
    return 'exhausted';
  }

  private chosenProviders(request: SessionRequest): Provider[] {
    if (request.provider !== undefined && request.providers !== undefined) {
      throw new BadRequestException('provider and providers cannot both be given');
    }
    const asked = request.provider !== undefined ? [request.provider] : request.providers;
    if (asked === undefined) {
      const configured = this.providers.list().filter((entry) => entry.connectable).map((entry) => entry.provider);
      if (configured.length === 0) {
        throw new BadRequestException('No provider is configured: set P_CLIENT_ID and P_CLIENT_SECRET for at least one provider');
      }
      return configured;
    }
    for (const provider of asked) {
      if (!this.providers.isConnectable(provider)) {
        const prefix = provider.toUpperCase();
        throw new BadRequestException(`Provider ${provider} is not configured: set ${prefix}_CLIENT_ID and ${prefix}_CLIENT_SECRET`);
      }
    }
    return [...new Set(asked)];
  }

  private linkUrl(token: string): string {
    return `${this.config.publicUrl}/connect/${token}`;
  }

  private flowUrl(token: string, provider: Provider): string {
    return `${this.linkUrl(token)}/${provider}`;
  }

  /** The callback URL registered with the provider. */
  private redirectUri(provider: Provider): string {
    return `${this.config.publicUrl}/oauth/${provider}/callback`;
  }

  /** The session's return_url with the outcome, and nothing else. */
  private returnUrl(stored: string, sessionId: string, provider: Provider, result: { connection_id: string } | { error: string }): string {
    const url = new URL(stored);
    for (const name of RESULT_PARAMS) url.searchParams.delete(name);
    url.searchParams.set('connect_session_id', sessionId);
    url.searchParams.set('status', 'connection_id' in result ? 'connected' : 'error');
    url.searchParams.set('provider', provider);
    if ('connection_id' in result) url.searchParams.set('connection_id', result.connection_id);
    else url.searchParams.set('error', result.error);
    return url.href;
  }
}

/**
 * Why a known state could not be consumed: its own use first (a replay), then its session's (another
 * attempt finished it), then the session's expiry, then the state's own.
 */
export function refusal(row: Pick<RefusedAttemptRow, 'attempt_used' | 'attempt_expired' | 'session_used' | 'session_expired'>): ConnectError {
  if (row.attempt_used) return 'invalid_state';
  if (row.session_used) return 'session_used';
  if (row.session_expired) return 'session_expired';
  return 'invalid_state';
}

/** A fault as a log line may name it: its kind only, as its message (a database's, a library's) could quote a secret. */
function faultName(error: unknown): string {
  return error instanceof Error ? error.name : 'non-Error thrown';
}

/** The associated data a verifier is sealed with: its attempt's state, so that it opens for that attempt only. */
function verifierContext(stateHash: string): string {
  return `connect_attempts/${stateHash}/code_verifier`;
}
