import { Body, Controller, Delete, Get, HttpCode, Put, Query, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { RequireScope } from '../auth/require-scope.decorator.js';
import { ApiBodyErrors, ApiErrors, ApiSuccess, uuidParam } from '../common/api-docs.js';
import { UuidParam, validBody } from '../common/validation.js';
import { ConnectionsService } from './connections.service.js';
import { SPEC_EXAMPLE } from './demo-data.js';
import { ConnectionResponse } from './dto/connection-response.js';
import { ListConnectionsQueryDto, ListConnectionsQueryPipe } from './dto/list-connections-query.dto.js';
import { PutConnectionDto } from './dto/put-connection.dto.js';
import { PROVIDER_PARAM_DOC, ProviderParam } from './provider-param.js';
import type { Provider } from './providers.js';

const USER_ID = ApiParam(uuidParam('user_id', 'The UUID of the user', SPEC_EXAMPLE[0].user_id));
const PROVIDER = PROVIDER_PARAM_DOC;

@ApiTags('connections')
@Controller('api/v1/users/:user_id/connections')
export class ConnectionsController {
  constructor(private readonly connections: ConnectionsService) {}

  /** The spec's endpoint: GET /api/v1/users/{user_id}/connections. */
  @Get()
  @RequireScope('read')
  @ApiOperation({
    operationId: 'listUserConnections',
    summary: "List a user's wearable provider connections",
    description:
      'Returns every provider connection of the user: the most recently synced first, never-synced last, ties by ' +
      'provider name. Connection metadata only: access and refresh tokens are never exposed. ' +
      'A user without connections gets []; an unknown user gets 404.',
  })
  @USER_ID
  @ApiSuccess({ status: 200, description: "The user's connections", type: [ConnectionResponse], example: SPEC_EXAMPLE })
  @ApiErrors([400, 404, 414], { 400: 'status must be one of: active, revoked, expired' })
  list(@UuidParam('user_id') userId: string, @Query(ListConnectionsQueryPipe) query: ListConnectionsQueryDto): Promise<ConnectionResponse[]> {
    return this.connections.listForUser(userId, query);
  }

  /** Creates (201) or replaces (200) the user's connection to the provider. */
  @Put(':provider')
  @RequireScope('write')
  @ApiOperation({
    operationId: 'putUserConnection',
    summary: "Create or replace a user's connection to a provider",
    description:
      'One connection per user and provider. The tokens are stored encrypted and never returned. Fields left out ' +
      'are cleared, except last_synced_at, which is kept. status (default active) and last_synced_at exist to ' +
      'import connections from another system.',
  })
  @USER_ID
  @PROVIDER
  @ApiBody({ type: PutConnectionDto })
  @ApiSuccess({ status: 201, description: 'Created', type: ConnectionResponse, example: SPEC_EXAMPLE[0] })
  @ApiSuccess({ status: 200, description: 'Replaced', type: ConnectionResponse, example: SPEC_EXAMPLE[0] })
  @ApiErrors([400, 404, 414], { 400: 'access_token is required' })
  @ApiBodyErrors()
  async put(
    @UuidParam('user_id') userId: string,
    @ProviderParam() provider: Provider,
    @Body(validBody) body: PutConnectionDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ConnectionResponse> {
    const { connection, created } = await this.connections.upsert(userId, provider, {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresAt: body.token_expires_at ? new Date(body.token_expires_at) : null,
      providerUserId: body.provider_user_id,
      providerUsername: body.provider_username,
      scope: body.scope,
      status: body.status,
      lastSyncedAt: body.last_synced_at ? new Date(body.last_synced_at) : null,
    });
    reply.status(created ? 201 : 200);
    return connection;
  }

  /** Disconnects: status `revoked`, tokens erased. 204, and 204 again on a repeat. */
  @Delete(':provider')
  @HttpCode(204)
  @RequireScope('write')
  @ApiOperation({
    operationId: 'deleteUserConnection',
    summary: 'Disconnect a provider',
    description: 'The connection becomes revoked and both tokens are erased. Repeating it is harmless (204 again).',
  })
  @USER_ID
  @PROVIDER
  @ApiSuccess({ status: 204, description: 'Disconnected (or already was)' })
  @ApiErrors([400, 404, 414], { 404: 'Connection not found' })
  @ApiBodyErrors()
  async disconnect(@UuidParam('user_id') userId: string, @ProviderParam() provider: Provider): Promise<void> {
    await this.connections.disconnect(userId, provider);
  }
}
