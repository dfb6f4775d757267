import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../auth/public.decorator.js';
import { ApiErrors } from '../common/api-docs.js';
import { PROVIDERS } from '../connections/providers.js';
import { choosePage, messagePage, type Page } from './connect-pages.js';
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
  constructor(private readonly connect: ConnectService) {}

  @Get('connect/:token')
  @ApiOperation({
    operationId: 'getConnectPage',
    summary: 'Open a connect link (in the user’s browser)',
    description: 'One provider: a redirect to its flow. Several: a page of links to each. An unknown link is a 404 page; an expired or used one, a 410 page.',
  })
  @TOKEN
  @REDIRECT('To the session’s one provider: GET /connect/{token}/{provider}')
  @PAGE(200, 'A list of links, one per provider of the session')
  @PAGE(404, 'The link is not valid')
  @PAGE(410, 'The link has expired, or has been used')
  @ApiErrors([503])
  async open(@Param('token') token: string, @Res() reply: FastifyReply): Promise<void> {
    const outcome = await this.connect.openLink(token);
    if ('redirect' in outcome) return void reply.redirect(outcome.redirect, 302);
    send(reply, 'choose' in outcome ? choosePage(outcome.choose) : messagePage(outcome.page));
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
  @PAGE(429, 'The link has started too many flows')
  @ApiErrors([503])
  async start(@Param('token') token: string, @Param('provider') provider: string, @Res() reply: FastifyReply): Promise<void> {
    const outcome = await this.connect.startFlow(token, provider);
    if ('page' in outcome) return send(reply, messagePage(outcome.page));
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
    if ('page' in outcome) return send(reply, messagePage(outcome.page));
    reply.redirect(outcome.redirect, 302);
  }
}

function send(reply: FastifyReply, page: Page): void {
  if (page.status === 503) reply.header('Retry-After', '1');
  reply.code(page.status).header('content-type', 'text/html; charset=utf-8').send(page.html);
}
