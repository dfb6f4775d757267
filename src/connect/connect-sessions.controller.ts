import { Body, Controller, Get, Post } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { RequireScope } from '../auth/require-scope.decorator.js';
import { ApiBodyErrors, ApiErrors, ApiSuccess, uuidParam } from '../common/api-docs.js';
import { UuidParam, validBody } from '../common/validation.js';
import { ConnectService } from './connect.service.js';
import {
  ConnectSessionResponse,
  CreatedConnectSessionResponse,
  toConnectSessionResponse,
  toCreatedConnectSessionResponse,
} from './dto/connect-session.response.js';
import { CreateConnectSessionDto } from './dto/create-connect-session.dto.js';

@ApiTags('connections')
@Controller('api/v1')
export class ConnectSessionsController {
  constructor(private readonly connect: ConnectService) {}

  @Post('users/:user_id/connect-sessions')
  @RequireScope('write')
  @ApiOperation({
    operationId: 'createConnectSession',
    summary: 'Create a connect session: a link for the user to connect a provider',
    description:
      'Send the user’s browser to `url`: it signs in at the provider (straight away with one provider; with several, the ' +
      'user chooses), and comes back to `return_url` with `connect_session_id`, `status`, `provider`, and `connection_id` ' +
      'or `error`. The link works for CONNECT_SESSION_TTL_SECONDS and finishes once. Learn the outcome from ' +
      '`GET /api/v1/connect-sessions/{id}` rather than from the redirect’s query.',
  })
  @ApiParam(uuidParam('user_id', 'The UUID of the user', '550e8400-e29b-41d4-a716-446655440000'))
  @ApiBody({ type: CreateConnectSessionDto })
  @ApiSuccess({ status: 201, description: 'Created', type: CreatedConnectSessionResponse })
  @ApiErrors([400, 404, 414], {
    400: 'return_url is not allowed: it must start with one of the URLs in CONNECT_RETURN_URLS',
  })
  @ApiBodyErrors()
  async create(@UuidParam('user_id') userId: string, @Body(validBody) body: CreateConnectSessionDto): Promise<CreatedConnectSessionResponse> {
    const { session, url } = await this.connect.createSession(userId, {
      returnUrl: body.return_url,
      provider: body.provider,
      providers: body.providers,
    });
    return toCreatedConnectSessionResponse(session, url);
  }

  @Get('connect-sessions/:id')
  @RequireScope('read')
  @ApiOperation({
    operationId: 'getConnectSession',
    summary: 'Get a connect session and its outcome',
    description: 'How the flow ended (`completed` with `connection_id`, `failed` with `error`), or that it has not (`pending`, `expired`).',
  })
  @ApiParam(uuidParam('id', 'The id of the connect session'))
  @ApiSuccess({ status: 200, description: 'The session', type: ConnectSessionResponse })
  @ApiErrors([400, 404, 414], { 404: 'Connect session not found' })
  async get(@UuidParam('id') id: string): Promise<ConnectSessionResponse> {
    return toConnectSessionResponse(await this.connect.getSession(id));
  }
}
