import { BadRequestException, Body, Controller, Delete, Get, HttpCode, NotFoundException, Post } from '@nestjs/common';
import { UuidParam, validBody } from '../common/validation.js';
import { type ApiKeyResponse, toApiKeyResponse } from './api-key-response.js';
import { ApiKeysService } from './api-keys.service.js';
import { CreateApiKeyDto } from './dto/create-api-key.dto.js';
import { RequireScope } from './require-scope.decorator.js';

@Controller('api/v1/api-keys')
@RequireScope('admin')
export class ApiKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  /** Creates a key. The response is the only time its secret, `key`, is shown. */
  @Post()
  async create(
    @Body(validBody) dto: CreateApiKeyDto,
  ): Promise<Omit<ApiKeyResponse, 'last_used_at' | 'revoked_at'> & { key: string }> {
    const expiresAt = dto.expires_at ? new Date(dto.expires_at) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw new BadRequestException('expires_at must be in the future');
    const created = await this.apiKeys.create(dto.name, dto.scopes, expiresAt);
    const { last_used_at: _used, revoked_at: _revoked, ...shown } = toApiKeyResponse(created);
    return { ...shown, key: created.key };
  }

  @Get()
  async list(): Promise<ApiKeyResponse[]> {
    return (await this.apiKeys.list()).map(toApiKeyResponse);
  }

  /** Revokes a key; it stops working at once. 204, and 204 again on a repeat. */
  @Delete(':id')
  @HttpCode(204)
  async revoke(@UuidParam('id') id: string): Promise<void> {
    if (!(await this.apiKeys.revoke(id))) throw new NotFoundException('API key not found');
  }
}
