import { BadRequestException, Body, Controller, Delete, Get, HttpCode, NotFoundException, Post } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/api-docs.js';
import { UuidParam, validBody } from '../common/validation.js';
import { ApiKeyResponse, CreatedApiKeyResponse, toApiKeyResponse } from './api-key-response.js';
import { ApiKeysService } from './api-keys.service.js';
import { CreateApiKeyDto } from './dto/create-api-key.dto.js';
import { RequireScope } from './require-scope.decorator.js';

@ApiTags('api-keys')
@Controller('api/v1/api-keys')
export class ApiKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  /** Creates a key. The response is the only time its secret, `key`, is shown. */
  @Post()
  @RequireScope('admin')
  @ApiOperation({ summary: 'Create an API key', description: 'The response is the only time the key itself is shown.' })
  @ApiResponse({ status: 201, type: CreatedApiKeyResponse })
  @ApiErrors([400, 413, 415], { 400: 'scopes must each be one of: read, write, admin' })
  async create(@Body(validBody) dto: CreateApiKeyDto): Promise<CreatedApiKeyResponse> {
    const expiresAt = dto.expires_at ? new Date(dto.expires_at) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw new BadRequestException('expires_at must be in the future');
    const created = await this.apiKeys.create(dto.name, dto.scopes, expiresAt);
    const { last_used_at: _used, revoked_at: _revoked, ...shown } = toApiKeyResponse(created);
    return { ...shown, key: created.key };
  }

  @Get()
  @RequireScope('admin')
  @ApiOperation({ summary: 'List API keys', description: 'Never shows the keys themselves.' })
  @ApiResponse({ status: 200, type: [ApiKeyResponse] })
  async list(): Promise<ApiKeyResponse[]> {
    return (await this.apiKeys.list()).map(toApiKeyResponse);
  }

  /** Revokes a key; it stops working at once. 204, and 204 again on a repeat. */
  @Delete(':id')
  @HttpCode(204)
  @RequireScope('admin')
  @ApiOperation({ summary: 'Revoke an API key', description: 'It stops working at once. Repeating it is harmless.' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiResponse({ status: 204, description: 'Revoked' })
  @ApiErrors([400, 404], { 404: 'API key not found' })
  async revoke(@UuidParam('id') id: string): Promise<void> {
    if (!(await this.apiKeys.revoke(id))) throw new NotFoundException('API key not found');
  }
}
