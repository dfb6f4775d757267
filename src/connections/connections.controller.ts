import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Param, Put, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { RequireScope } from '../auth/require-scope.decorator.js';
import { UuidParam, validBody, validQuery } from '../common/validation.js';
import type { ConnectionResponse } from './connection-response.js';
import { ConnectionsService } from './connections.service.js';
import { ListConnectionsQueryDto } from './dto/list-connections-query.dto.js';
import { PutConnectionDto } from './dto/put-connection.dto.js';
import { isProvider, type Provider, PROVIDERS } from './providers.js';

const ProviderParam = () =>
  Param('provider', {
    transform(value: string): Provider {
      if (!isProvider(value)) throw new BadRequestException(`provider must be one of: ${PROVIDERS.join(', ')}`);
      return value;
    },
  });

@Controller('api/v1/users/:user_id/connections')
export class ConnectionsController {
  constructor(private readonly connections: ConnectionsService) {}

  /** The spec's endpoint: GET /api/v1/users/{user_id}/connections. */
  @Get()
  @RequireScope('read')
  list(
    @UuidParam('user_id') userId: string,
    @Query(validQuery) query: ListConnectionsQueryDto,
  ): Promise<ConnectionResponse[]> {
    return this.connections.listForUser(userId, query);
  }

  /** Creates (201) or replaces (200) the user's connection to the provider. */
  @Put(':provider')
  @RequireScope('write')
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
  async disconnect(@UuidParam('user_id') userId: string, @ProviderParam() provider: Provider): Promise<void> {
    await this.connections.disconnect(userId, provider);
  }
}
