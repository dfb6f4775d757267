import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../auth/public.decorator.js';
import { ApiErrors } from '../common/api-docs.js';
import { PROVIDERS } from '../connections/providers.js';
import { choosePage, messagePage } from './connect-pages.js';
import { ConnectViews } from './connect-views.js';
import { ConnectService } from './connect.service.js';

const HTML = { 'text/html': { schema: { type: 'string' } } };
const PAGE = (status: number, description: string) => ApiResponse({ status, description, content: HTML });
const REDIRECT = (description: string) =>
  ApiResponse({ status: 302, description, headers: { Location: { description: 'Where the browser goes next', required: true, schema: { type: 'string' } } } });
const TOKEN = ApiParam({ name: 'token', description: 'The connect link’s token', schema: { type: 'string', minLength: 43, maxLength: 43 } });
const PROVIDER = ApiParam({ name: 'provider', enum: PROVIDERS, example: 'strava' });

/**
 * The routes a user's browser follows: the connect link, the start of a provider's flow, and the
 * provider's callback. Public (no API key: the link's token, the state and the flow cookie are what
 * authorise each step), and answered with redirects or small HTML pages, never JSON, except the
 * service's own errors before a callback has claimed its session (a database that is down is a 503
 * as everywhere); after the claim, the callback answers an outcome or a page whatever fails.
 */
@Public()
@ApiTags('connect')
@Controller()
export class ConnectPagesController {
  constructor(
    private readonly connect: ConnectService,
    private readonly views: ConnectViews,
  ) {}

  @Get('connect/:token')
  @ApiOperation({
    operationId: 'getConnectPage',
    summary: 'Open a connect link (in the user’s browser)',
    description:
      'One provider: a redirect to its flow. Several: the connect page, naming CONNECT_APP_NAME, with each provider, the ' +
      'user’s state there (Connected and when it last synced, Needs reconnecting, Not connected) and a button to its flow, ' +
      'and a link back to the return_url with status=cancelled. An unknown link is a 404 page, and counts against the ' +
      'address like a failed authentication (429 page past AUTH_FAILURE_LIMIT_PER_MINUTE); an expired or used one, a 410 page.',
  })
  @TOKEN
  @REDIRECT('To the session’s one provider: GET /connect/{token}/{provider}')
  @PAGE(200, 'The connect page: the session’s providers, each with the user’s state and a button')
  @PAGE(404, 'The link is not valid')
  @PAGE(410, 'The link has expired, or has been used')
  @PAGE(429, 'Too many links not found from this address (Retry-After)')
  @ApiErrors([503])
  async open(@Param('token') token: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const outcome = await this.connect.openLink(token, request.ip);
    if ('redirect' in outcome) return void reply.redirect(outcome.redirect, 302);
    if ('choose' in outcome) return this.views.send(reply, choosePage(outcome.choose.appName, outcome.choose.offered, outcome.choose.cancelHref));
    return this.views.send(reply, messagePage(outcome.page, outcome.retryAfter));
  }

  @Get('connect/:token/cancel')
  @ApiOperation({
    operationId: 'getConnectCancel',
    summary: 'Leave the connect page for the app (in the user’s browser)',
    description:
      'A redirect to the session’s return_url with `connect_session_id` and `status=cancelled`. The session is not ' +
      'changed: the user may come back to its link while it lasts. A used link is a 410 page, an unknown one a 404 page.',
  })
  @TOKEN
  @REDIRECT('To the session’s return_url, with status=cancelled')
  @PAGE(404, 'The link is not valid')
  @PAGE(410, 'The link has been used')
  @PAGE(429, 'Too many links not found from this address (Retry-After)')
  @ApiErrors([503])
  async cancel(@Param('token') token: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const outcome = await this.connect.cancelLink(token, request.ip);
    if ('redirect' in outcome) return void reply.redirect(outcome.redirect, 302);
    return this.views.send(reply, messagePage(outcome.page, outcome.retryAfter));
  }

  @Get('connect/:token/:provider')
  @ApiOperation({
    operationId: 'getConnectProviderPage',
    summary: 'Start a provider’s sign-in (in the user’s browser)',
    description:
      'A redirect to the provider’s authorization page, with a fresh state (and PKCE where the provider uses it), and a flow ' +
      'cookie (HttpOnly, SameSite=Lax, path /oauth, 10 minutes) that the callback must bring back.',
  })
  @TOKEN
  @PROVIDER
  @REDIRECT('To the provider’s authorization page; sets the flow cookie')
  @PAGE(404, 'The link is not valid, or does not offer this provider')
  @PAGE(410, 'The link has expired, or has been used')
  @PAGE(429, 'The link has started too many flows, or too many links were not found from this address')
  @ApiErrors([503])
  async start(
    @Param('token') token: string,
    @Param('provider') provider: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const outcome = await this.connect.startFlow(token, provider, request.ip);
    if ('page' in outcome) return this.views.send(reply, messagePage(outcome.page, outcome.retryAfter));
    reply.header('set-cookie', outcome.setCookie).redirect(outcome.redirect, 302);
  }

  @Get('oauth/:provider/callback')
  @ApiOperation({
    operationId: 'getOAuthCallback',
    summary: 'The provider’s OAuth callback (in the user’s browser)',
    description:
      'Where the provider sends the browser back, with `code` and `state`, or `error`. It finishes the session and redirects ' +
      'to its return_url with `connect_session_id`, `status` (connected or error), `provider`, and `connection_id` or `error` ' +
      '(access_denied, invalid_state, session_expired, session_used, cookie_mismatch, exchange_failed, provider_unavailable, ' +
      'scope_denied, account_in_use, internal_error). A state that was never issued has no session to return to: a 400 page. ' +
      'Once the callback has claimed its session, a failure of the service is the internal_error outcome, or, when not even ' +
      'that can be stored, a 500 page (a 503 page with Retry-After while the database is unavailable).',
  })
  @PROVIDER
  @ApiQuery({ name: 'state', required: true, schema: { type: 'string', minLength: 43, maxLength: 43 } })
  @REDIRECT('To the session’s return_url, with the outcome')
  @PAGE(400, 'The callback belongs to no session started here')
  @PAGE(500, 'The outcome of a claimed session could not be stored')
  @ApiErrors([503])
  async callback(@Param('provider') provider: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const start = request.url.indexOf('?');
    const outcome = await this.connect.finishCallback(provider, start === -1 ? '' : request.url.slice(start + 1), request.headers.cookie);
    if (outcome.setCookie) reply.header('set-cookie', outcome.setCookie);
    if ('page' in outcome) return this.views.send(reply, messagePage(outcome.page));
    reply.redirect(outcome.redirect, 302);
  }
}
