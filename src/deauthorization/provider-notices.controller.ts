import { BadRequestException, Body, Controller, Get, HttpCode, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiBodyErrors, ApiErrors, ApiSuccess } from '../common/api-docs.js';
import { Public } from '../auth/public.decorator.js';
import { isProvider, type Provider, PROVIDERS } from '../connections/providers.js';
import { JobsService } from '../jobs/jobs.service.js';
import { ProvidersService } from '../providers/providers.service.js';
import { MAX_NOTICES, PROVIDER_NOTICE_JOB, type ProviderNoticePayload } from './provider-notices.js';

const NOT_FOUND = 'Not found';
const TOKEN = ApiParam({ name: 'token', description: "The provider's P_WEBHOOK_TOKEN, as registered with it", schema: { type: 'string', minLength: 1, maxLength: 2048 } });
const PROVIDER = ApiParam({ name: 'provider', enum: PROVIDERS, example: 'garmin' });

/**
 * Where providers tell us of their users' deauthorizations: `/webhooks/providers/{provider}/{token}`,
 * `token` being the provider's P_WEBHOOK_TOKEN (a wrong or unset one gets 404, as an unknown route
 * would). A notice is checked and read at once, written as a durable job, and answered 200 (providers
 * retry slow endpoints); the job revokes or updates the connections it names. A notice repeated, or
 * for an account nobody here holds, changes nothing and is still 200.
 */
@ApiTags('provider notices')
@Public()
@Controller()
export class ProviderNoticesController {
  constructor(
    private readonly providers: ProvidersService,
    private readonly jobs: JobsService,
  ) {}

  /** Strava's subscription validation: hub.mode=subscribe with our verify token, answered with its challenge. */
  @Get('webhooks/providers/:provider/:token')
  @ApiOperation({
    operationId: 'getProviderWebhookValidation',
    summary: "Strava's webhook subscription validation",
    description: 'Answers {"hub.challenge"} when hub.mode is subscribe and hub.verify_token is STRAVA_WEBHOOK_VERIFY_TOKEN. Public; a wrong token in the path gets 404.',
  })
  @PROVIDER
  @TOKEN
  @ApiSuccess({ status: 200, description: 'The challenge, echoed', schema: { type: 'object', properties: { 'hub.challenge': { type: 'string', maxLength: 255 } } } })
  @ApiErrors([400, 404, 414], { 400: 'hub.mode must be subscribe and hub.verify_token must be STRAVA_WEBHOOK_VERIFY_TOKEN', 404: NOT_FOUND })
  validate(
    @Param('provider') provider: string,
    @Param('token') token: string,
    @Query('hub.mode') mode: unknown,
    @Query('hub.verify_token') verifyToken: unknown,
    @Query('hub.challenge') challenge: unknown,
  ): Record<string, string> {
    if (this.check(provider, token) !== 'strava') throw new NotFoundException(NOT_FOUND);
    if (mode !== 'subscribe' || typeof verifyToken !== 'string' || !this.providers.stravaVerifyTokenMatches(verifyToken)) {
      throw new BadRequestException('hub.mode must be subscribe and hub.verify_token must be STRAVA_WEBHOOK_VERIFY_TOKEN');
    }
    if (typeof challenge !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(challenge)) {
      throw new BadRequestException('hub.challenge must be 1 to 255 printable characters');
    }
    return { 'hub.challenge': challenge };
  }

  @Post('webhooks/providers/:provider/:token')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'createProviderNotice',
    summary: "A provider's notice of a user's deauthorization (Garmin, Strava)",
    description:
      "Garmin's deregistrations and userPermissionsChange pushes, Strava's athlete deauthorization events. Answered 200 {} at " +
      'once and processed in the background: the connection is revoked (reason provider_deregistered) or its scope replaced. ' +
      'A repeated notice, or one for an unknown account, changes nothing. Public; a wrong token in the path gets 404.',
  })
  @PROVIDER
  @TOKEN
  @ApiSuccess({ status: 200, description: 'Accepted', schema: { type: 'object', additionalProperties: false } })
  @ApiErrors([400, 404, 414, 503], { 400: 'The body is not a garmin notice (at most 1000 accounts)', 404: NOT_FOUND })
  @ApiBodyErrors()
  async receive(@Param('provider') provider: string, @Param('token') token: string, @Body() body: unknown): Promise<Record<string, never>> {
    const known = this.check(provider, token);
    const notices = this.providers.readNotices(known, body, MAX_NOTICES);
    if (notices === undefined) throw new BadRequestException(`The body is not a ${known} notice (at most ${MAX_NOTICES} accounts)`);
    if (notices.length > 0) {
      const payload: ProviderNoticePayload = { provider: known, notices };
      await this.jobs.enqueue({ kind: PROVIDER_NOTICE_JOB, payload: { ...payload } });
    }
    return {};
  }

  /** The provider named, if the token is its P_WEBHOOK_TOKEN; 404 otherwise (an unknown provider included). */
  private check(provider: string, token: string): Provider {
    if (!isProvider(provider) || !this.providers.webhookTokenMatches(provider, token)) throw new NotFoundException(NOT_FOUND);
    return provider;
  }
}
