import { BadRequestException, Body, Controller, Get, HttpCode, HttpException, HttpStatus, NotFoundException, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiBodyErrors, ApiErrors } from '../common/api-docs.js';
import { PROVIDER_NOTICES_ROUTE } from '../common/http-hooks.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FailedLookups } from '../auth/failed-lookups.js';
import { Public } from '../auth/public.decorator.js';
import { isProvider, type Provider, PROVIDERS } from '../connections/providers.js';
import { JobsService } from '../jobs/jobs.service.js';
import { ProvidersService } from '../providers/providers.service.js';
import { MAX_NOTICES, PROVIDER_NOTICE_JOB, type ProviderNoticePayload } from './provider-notices.js';

const NOT_FOUND = 'Not found';
const WRONG_TOKENS = 'Too many requests with a wrong token from this address (AUTH_FAILURE_LIMIT_PER_MINUTE); Retry-After says when to try again';
const TOKEN = ApiParam({ name: 'token', description: "The provider's P_WEBHOOK_TOKEN, as registered with it", schema: { type: 'string', minLength: 1, maxLength: 2048 } });
const PROVIDER = ApiParam({ name: 'provider', enum: PROVIDERS, example: 'garmin' });

/**
 * Where providers tell us of their users' deauthorizations: `/webhooks/providers/{provider}/{token}`,
 * `token` being the provider's P_WEBHOOK_TOKEN (a wrong or unset one gets 404, as an unknown route
 * would). A notice is checked and read at once, written as a durable job, and answered 200 (providers
 * retry slow endpoints); the job revokes or updates the connections it names. A notice repeated, or
 * for an account nobody here holds, changes nothing and is still 200. A GET (and a HEAD, which Fastify
 * answers through the GET route) is a provider checking the URL: Strava's subscription validation,
 * Withings' HEAD when a subscription is made.
 */
@ApiTags('provider notices')
@Public()
@Controller()
export class ProviderNoticesController {
  constructor(
    private readonly providers: ProvidersService,
    private readonly jobs: JobsService,
    private readonly failedLookups: FailedLookups,
  ) {}

  /**
   * A provider's check of the URL. Strava's subscription validation: hub.mode=subscribe with our verify
   * token, answered with its challenge. Withings' check when a subscription is made, a HEAD that must
   * answer 2xx: 200 {} (the body dropped for a HEAD). Any other provider: 404.
   */
  @Get(PROVIDER_NOTICES_ROUTE)
  @ApiOperation({
    operationId: 'getProviderWebhookValidation',
    summary: "Strava's webhook subscription validation; Withings' check of the callback URL",
    description:
      'Strava: answers {"hub.challenge"} when hub.mode is subscribe and hub.verify_token is STRAVA_WEBHOOK_VERIFY_TOKEN. ' +
      'Withings: answers 200 {} to the HEAD (or GET) it sends when a notification subscription is made. ' +
      'Other providers: 404. Public; a wrong token in the path gets 404.',
  })
  @PROVIDER
  @TOKEN
  @ApiResponse({ status: 200, description: "Strava's challenge, echoed; {} for Withings", schema: { type: 'object', properties: { 'hub.challenge': { type: 'string', maxLength: 255 } } } })
  @ApiErrors([400, 404, 414, 429], { 400: 'hub.mode must be subscribe and hub.verify_token must be STRAVA_WEBHOOK_VERIFY_TOKEN', 404: NOT_FOUND, 429: WRONG_TOKENS })
  async validate(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Param('provider') provider: string,
    @Param('token') token: string,
    @Query('hub.mode') mode: unknown,
    @Query('hub.verify_token') verifyToken: unknown,
    @Query('hub.challenge') challenge: unknown,
  ): Promise<Record<string, string>> {
    const known = await this.check(provider, token, request, reply);
    if (known === 'withings') return {};
    if (known !== 'strava') throw new NotFoundException(NOT_FOUND);
    if (mode !== 'subscribe' || typeof verifyToken !== 'string' || !this.providers.stravaVerifyTokenMatches(verifyToken)) {
      throw new BadRequestException('hub.mode must be subscribe and hub.verify_token must be STRAVA_WEBHOOK_VERIFY_TOKEN');
    }
    if (typeof challenge !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(challenge)) {
      throw new BadRequestException('hub.challenge must be 1 to 255 printable characters');
    }
    return { 'hub.challenge': challenge };
  }

  @Post(PROVIDER_NOTICES_ROUTE)
  @HttpCode(200)
  @ApiOperation({
    operationId: 'createProviderNotice',
    summary: "A provider's notice of a user's deauthorization (Garmin, Strava, Withings)",
    description:
      "Garmin's deregistrations and userPermissionsChange pushes, Strava's athlete deauthorization events, Withings' " +
      'notifications (the user category, appli=46, with action unlink or delete; data categories are accepted and ignored), ' +
      'which Withings posts as application/x-www-form-urlencoded: for withings this route reads a form body, the only one that ' +
      'does. Answered 200 {} at once and processed in the background: the connection is revoked (reason provider_deregistered) or its scope replaced. ' +
      'A repeated notice, or one for an unknown account, changes nothing. Public; a wrong token in the path gets 404.',
  })
  @PROVIDER
  @TOKEN
  @ApiResponse({ status: 200, description: 'Accepted', schema: { type: 'object', additionalProperties: false } })
  @ApiErrors([400, 404, 414, 429, 503], { 400: 'The body is not a garmin notice (at most 1000 accounts)', 404: NOT_FOUND, 429: WRONG_TOKENS })
  @ApiBodyErrors()
  async receive(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Param('provider') provider: string,
    @Param('token') token: string,
    @Body() body: unknown,
  ): Promise<Record<string, never>> {
    const known = await this.check(provider, token, request, reply);
    const notices = this.providers.readNotices(known, body, MAX_NOTICES);
    if (notices === undefined) throw new BadRequestException(`The body is not a ${known} notice (at most ${MAX_NOTICES} accounts)`);
    if (notices.length > 0) {
      const payload: ProviderNoticePayload = { provider: known, notices };
      await this.jobs.enqueue({ kind: PROVIDER_NOTICE_JOB, payload: { ...payload } });
    }
    return {};
  }

  /** The provider named, if the token is its P_WEBHOOK_TOKEN; 404 otherwise (an unknown provider included). */
  /**
   * The provider named, if the token is its P_WEBHOOK_TOKEN. Otherwise a failed lookup, counted against
   * the address (FailedLookups): 404, as for an unknown route, or 429 once the address is past the limit.
   */
  private async check(provider: string, token: string, request: FastifyRequest, reply: FastifyReply): Promise<Provider> {
    if (isProvider(provider) && this.providers.webhookTokenMatches(provider, token)) return provider;
    const blockedFor = await this.failedLookups.failed('provider-webhook', request.ip);
    if (blockedFor === undefined) throw new NotFoundException(NOT_FOUND);
    reply.header('Retry-After', String(blockedFor));
    throw new HttpException(`Too many requests with a wrong token from this address; retry after ${blockedFor} s`, HttpStatus.TOO_MANY_REQUESTS);
  }
}
