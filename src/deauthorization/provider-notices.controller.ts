import { BadRequestException, Body, Controller, Get, HttpCode, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../auth/public.decorator.js';
import { ProviderParam } from '../connections/provider-param.js';
import type { Provider } from '../connections/providers.js';
import { JobsService } from '../jobs/jobs.service.js';
import { ProvidersService } from '../providers/providers.service.js';
import { MAX_NOTICES, PROVIDER_NOTICE_JOB, type ProviderNoticePayload } from './provider-notices.js';

const NOT_FOUND = 'Not found';

/**
 * Where providers tell us of their users' deauthorizations: `/webhooks/providers/{provider}/{token}`,
 * `token` being the provider's P_WEBHOOK_TOKEN (a wrong or unset one gets 404, as an unknown route
 * would). A notice is checked and read at once, written as a durable job, and answered 200 (providers
 * retry slow endpoints); the job revokes or updates the connections it names. A notice repeated, or
 * for an account nobody here holds, changes nothing and is still 200.
 */
@ApiExcludeController()
@Public()
@Controller('webhooks/providers/:provider/:token')
export class ProviderNoticesController {
  constructor(
    private readonly providers: ProvidersService,
    private readonly jobs: JobsService,
  ) {}

  /** Strava's subscription validation: hub.mode=subscribe with our verify token, answered with its challenge. */
  @Get()
  validate(
    @ProviderParam() provider: Provider,
    @Param('token') token: string,
    @Query('hub.mode') mode: unknown,
    @Query('hub.verify_token') verifyToken: unknown,
    @Query('hub.challenge') challenge: unknown,
  ): Record<string, string> {
    this.check(provider, token);
    if (provider !== 'strava') throw new NotFoundException(NOT_FOUND);
    if (mode !== 'subscribe' || typeof verifyToken !== 'string' || !this.providers.stravaVerifyTokenMatches(verifyToken)) {
      throw new BadRequestException('hub.mode must be subscribe and hub.verify_token must be STRAVA_WEBHOOK_VERIFY_TOKEN');
    }
    if (typeof challenge !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(challenge)) {
      throw new BadRequestException('hub.challenge must be 1 to 255 printable characters');
    }
    return { 'hub.challenge': challenge };
  }

  @Post()
  @HttpCode(200)
  async receive(@ProviderParam() provider: Provider, @Param('token') token: string, @Body() body: unknown): Promise<Record<string, never>> {
    this.check(provider, token);
    const notices = this.providers.readNotices(provider, body, MAX_NOTICES);
    if (notices === undefined) throw new BadRequestException(`The body is not a ${provider} notice (at most ${MAX_NOTICES} accounts)`);
    if (notices.length > 0) {
      const payload: ProviderNoticePayload = { provider, notices };
      await this.jobs.enqueue({ kind: PROVIDER_NOTICE_JOB, payload: { ...payload } });
    }
    return {};
  }

  private check(provider: Provider, token: string): void {
    if (!this.providers.webhookTokenMatches(provider, token)) throw new NotFoundException(NOT_FOUND);
  }
}
