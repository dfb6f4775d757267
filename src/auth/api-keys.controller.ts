import { BadRequestException, Body, ConflictException, Controller, Delete, Get, HttpCode, NotFoundException, Post } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiBodyErrors, ApiErrors, ApiSuccess, uuidParam } from '../common/api-docs.js';
import { UuidParam, validBody } from '../common/validation.js';
import { ApiKeysService } from './api-keys.service.js';
import { ApiKeyResponse, CreatedApiKeyResponse, toApiKeyResponse, toCreatedApiKeyResponse } from './dto/api-key.response.js';
import { CreateApiKeyDto } from './dto/create-api-key.dto.js';
import { RequireScope } from './require-scope.decorator.js';

@ApiTags('api-keys')
@Controller('api/v1/api-keys')
export class ApiKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  /** Creates a key. The response is the only time its secret, `key`, is shown. */
  @Post()
  @RequireScope('admin')
  @ApiOperation({ operationId: 'createApiKey', summary: 'Create an API key', description: 'The response is the only time the key itself is shown.' })
  @ApiSuccess({ status: 201, description: 'Created; store `key` now', type: CreatedApiKeyResponse })
  @ApiErrors([400], { 400: 'scopes must each be one of: read, write, admin' })
  @ApiBodyErrors()
  async create(@Body(validBody) dto: CreateApiKeyDto): Promise<CreatedApiKeyResponse> {
    const expiresAt = dto.expires_at ? new Date(dto.expires_at) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw new BadRequestException('expires_at must be in the future');
    return toCreatedApiKeyResponse(await this.apiKeys.create(dto.name, dto.scopes, expiresAt));
  }

  @Get()
  @RequireScope('admin')
  @ApiOperation({ operationId: 'listApiKeys', summary: 'List API keys', description: 'Never shows the keys themselves.' })
  @ApiSuccess({ status: 200, description: 'Every API key, revoked ones included', type: [ApiKeyResponse] })
  async list(): Promise<ApiKeyResponse[]> {
    return (await this.apiKeys.list()).map(toApiKeyResponse);
  }

  /** Revokes a key; it stops working at once. 204, and 204 again on a repeat. */
  @Delete(':id')
  @HttpCode(204)
  @RequireScope('admin')
  @ApiOperation({ operationId: 'revokeApiKey', summary: 'Revoke an API key', description: 'It stops working at once. Repeating it is harmless.' })
  @ApiParam(uuidParam('id', 'The id of the API key'))
  @ApiSuccess({ status: 204, description: 'Revoked (or already was)' })
  @ApiErrors([400, 404, 409, 414], {
    404: 'API key not found',
    409: 'This is the last active admin key: revoking it would leave no key able to manage keys. Create another admin key first',
  })
  @ApiBodyErrors()
  async revoke(@UuidParam('id') id: string): Promise<void> {
    const outcome = await this.apiKeys.revoke(id);
    if (outcome === 'not_found') throw new NotFoundException('API key not found');
    if (outcome === 'last_admin_key') {
      throw new ConflictException(
        'This is the last active admin key: revoking it would leave no key able to manage keys. Create another admin key first',
      );
    }
  }
}
