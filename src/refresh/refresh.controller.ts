import { BadGatewayException, ConflictException, Controller, Get, HttpCode, Post, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { RequireScope } from '../auth/require-scope.decorator.js';
import { ApiBodyErrors, ApiErrors, ApiSuccess, uuidParam } from '../common/api-docs.js';
import { UuidParam } from '../common/validation.js';
import { ConnectionsService } from '../connections/connections.service.js';
import { PROVIDER_PARAM_DOC, ProviderParam } from '../connections/provider-param.js';
import type { Provider } from '../connections/providers.js';
import { ProviderError, ProviderNotConfiguredError } from '../providers/provider-error.js';
import { RefreshAttemptResponse, RefreshResultResponse } from './dto/refresh-attempt.response.js';
import { RefreshService } from './refresh.service.js';

const USER_ID = ApiParam(uuidParam('user_id', 'The UUID of the user'));

@ApiTags('connections')
@Controller('api/v1/users/:user_id/connections/:provider')
export class RefreshController {
  constructor(
    private readonly connections: ConnectionsService,
    private readonly refresh: RefreshService,
  ) {}

  @Get('refresh-attempts')
  @RequireScope('read')
  @ApiOperation({
    operationId: 'listRefreshAttempts',
    summary: "A connection's last refreshes and how they went",
    description: 'The last 20 refreshes of the connection, newest first: why a connection is expired, or why it is being retried. Never a token.',
  })
  @USER_ID
  @PROVIDER_PARAM_DOC
  @ApiSuccess({ status: 200, description: 'The attempts, newest first', type: [RefreshAttemptResponse] })
  @ApiErrors([400, 404, 414], { 404: 'Connection not found' })
  async attempts(@UuidParam('user_id') userId: string, @ProviderParam() provider: Provider): Promise<RefreshAttemptResponse[]> {
    return this.refresh.history(await this.connections.idOf(userId, provider));
  }

  @Post('refresh')
  @HttpCode(200)
  @RequireScope('write')
  @ApiOperation({
    operationId: 'refreshUserConnection',
    summary: "Refresh a connection's tokens now",
    description:
      'Refreshes the tokens at the provider now, whatever their expiry, as the background refresher does (racing refreshes in ' +
      'any instance still refresh once). A refresh token the provider rejects twice makes the connection expired (reason ' +
      'refresh_failed). 409 for a revoked connection or a provider without refresh (Polar, Coros) or not configured here; ' +
      '503 when the provider does not answer (nothing changes).',
  })
  @USER_ID
  @PROVIDER_PARAM_DOC
  @ApiSuccess({ status: 200, description: 'The outcome and the connection as it is now', type: RefreshResultResponse })
  @ApiErrors([400, 404, 409, 414, 502, 503], { 409: 'polar has no refresh grant: its tokens are not refreshed' })
  @ApiBodyErrors()
  async refreshNow(@UuidParam('user_id') userId: string, @ProviderParam() provider: Provider): Promise<RefreshResultResponse> {
    const id = await this.connections.idOf(userId, provider);
    try {
      const { outcome } = await this.refresh.refreshNow(id);
      return { outcome, connection: await this.connections.get(id) };
    } catch (error) {
      if (error instanceof ProviderNotConfiguredError) throw new ConflictException(error.message);
      if (error instanceof ProviderError && error.code === 'provider_unavailable') throw new ServiceUnavailableException(error.message);
      if (error instanceof ProviderError) throw new BadGatewayException(error.message);
      throw error;
    }
  }
}
