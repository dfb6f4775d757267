import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Patch, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { RequireScope } from '../auth/require-scope.decorator.js';
import { ApiBodyErrors, ApiErrors, ApiSuccess, uuidParam } from '../common/api-docs.js';
import { UuidParam, validBody } from '../common/validation.js';
import { CreateWebhookEndpointDto, UpdateWebhookEndpointDto } from './dto/webhook-endpoint.dto.js';
import {
  CreatedWebhookEndpointResponse,
  toDeliveryResponse,
  toEndpointResponse,
  WebhookDeliveryPageResponse,
  WebhookDeliveryResponse,
  WebhookEndpointResponse,
  WebhookTestResponse,
} from './dto/webhook-endpoint.response.js';
import { WebhooksService } from './webhooks.service.js';

const ID = ApiParam(uuidParam('id', 'The webhook endpoint’s id'));
const NOT_FOUND = { 404: 'Webhook endpoint not found' };

/** The consumer's webhook endpoints (scope admin). Routes: /api/v1/webhook-endpoints… */
@ApiTags('webhooks')
@Controller('api/v1/webhook-endpoints')
export class WebhookEndpointsController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @RequireScope('admin')
  @ApiOperation({
    operationId: 'createWebhookEndpoint',
    summary: 'Create a webhook endpoint',
    description: 'The response is the only time its secret is shown. Events are signed with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature).',
  })
  @ApiSuccess({ status: 201, description: 'Created; store `secret` now', type: CreatedWebhookEndpointResponse })
  @ApiErrors([400], { 400: 'url resolves to an address that is not allowed (loopback, private, link-local or reserved)' })
  @ApiBodyErrors()
  async create(@Body(validBody) dto: CreateWebhookEndpointDto): Promise<CreatedWebhookEndpointResponse> {
    const { endpoint, secret } = await this.webhooks.create(dto);
    return { ...toEndpointResponse(endpoint), secret };
  }

  @Get()
  @RequireScope('admin')
  @ApiOperation({ operationId: 'listWebhookEndpoints', summary: 'List webhook endpoints' })
  @ApiSuccess({ status: 200, description: 'Every endpoint, oldest first', type: [WebhookEndpointResponse] })
  async list(): Promise<WebhookEndpointResponse[]> {
    return (await this.webhooks.list()).map(toEndpointResponse);
  }

  @Get(':id')
  @RequireScope('admin')
  @ApiOperation({ operationId: 'getWebhookEndpoint', summary: 'Get a webhook endpoint' })
  @ID
  @ApiSuccess({ status: 200, description: 'The endpoint', type: WebhookEndpointResponse })
  @ApiErrors([400, 404, 414], NOT_FOUND)
  async get(@UuidParam('id') id: string): Promise<WebhookEndpointResponse> {
    return toEndpointResponse(await this.webhooks.get(id));
  }

  @Patch(':id')
  @RequireScope('admin')
  @ApiOperation({ operationId: 'updateWebhookEndpoint', summary: 'Change a webhook endpoint', description: 'url, events, description, enabled; the fields left out stay.' })
  @ID
  @ApiSuccess({ status: 200, description: 'The endpoint as changed', type: WebhookEndpointResponse })
  @ApiErrors([400, 404, 414], NOT_FOUND)
  @ApiBodyErrors()
  async update(@UuidParam('id') id: string, @Body(validBody) dto: UpdateWebhookEndpointDto): Promise<WebhookEndpointResponse> {
    return toEndpointResponse(await this.webhooks.update(id, dto));
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireScope('admin')
  @ApiOperation({ operationId: 'deleteWebhookEndpoint', summary: 'Delete a webhook endpoint', description: 'Its deliveries go with it.' })
  @ID
  @ApiSuccess({ status: 204, description: 'Deleted' })
  @ApiErrors([400, 404, 414], NOT_FOUND)
  @ApiBodyErrors()
  async delete(@UuidParam('id') id: string): Promise<void> {
    await this.webhooks.delete(id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(200)
  @RequireScope('admin')
  @ApiOperation({ operationId: 'rotateWebhookSecret', summary: 'Rotate an endpoint’s secret', description: 'Messages are signed with the old secret too for 24 hours.' })
  @ID
  @ApiSuccess({ status: 200, description: 'The new secret: the only time it is shown', type: CreatedWebhookEndpointResponse })
  @ApiErrors([400, 404, 414], NOT_FOUND)
  @ApiBodyErrors()
  async rotate(@UuidParam('id') id: string): Promise<CreatedWebhookEndpointResponse> {
    const { endpoint, secret } = await this.webhooks.rotateSecret(id);
    return { ...toEndpointResponse(endpoint), secret };
  }

  @Post(':id/test')
  @HttpCode(202)
  @RequireScope('admin')
  @ApiOperation({ operationId: 'testWebhookEndpoint', summary: 'Send a webhook.test event', description: 'Queued at once; its delivery shows in the log.' })
  @ID
  @ApiSuccess({ status: 202, description: 'Queued', type: WebhookTestResponse })
  @ApiErrors([400, 404, 414], NOT_FOUND)
  @ApiBodyErrors()
  async test(@UuidParam('id') id: string): Promise<WebhookTestResponse> {
    const { deliveryId, eventId } = await this.webhooks.test(id);
    return { delivery_id: deliveryId, event_id: eventId };
  }

  @Get(':id/deliveries')
  @RequireScope('admin')
  @ApiOperation({ operationId: 'listWebhookDeliveries', summary: 'The endpoint’s deliveries', description: 'Newest first, 50 a page; each with its attempts and next attempt.' })
  @ID
  @ApiQuery({ name: 'status', required: false, enum: ['pending', 'succeeded', 'failed'] })
  @ApiQuery({ name: 'cursor', required: false, schema: { type: 'string', maxLength: 200 } })
  @ApiSuccess({ status: 200, description: 'A page of deliveries', type: WebhookDeliveryPageResponse })
  @ApiErrors([400, 404, 414], NOT_FOUND)
  async deliveries(@UuidParam('id') id: string, @Query('status') status?: unknown, @Query('cursor') cursor?: unknown): Promise<WebhookDeliveryPageResponse> {
    const { rows, nextCursor } = await this.webhooks.deliveries(id, stringOrUndefined(status, 'status'), stringOrUndefined(cursor, 'cursor'));
    return { data: rows.map(toDeliveryResponse), next_cursor: nextCursor };
  }

  @Post(':id/deliveries/:delivery_id/retry')
  @HttpCode(202)
  @RequireScope('admin')
  @ApiOperation({ operationId: 'retryWebhookDelivery', summary: 'Send a delivery again now' })
  @ID
  @ApiParam(uuidParam('delivery_id', 'The delivery’s id'))
  @ApiSuccess({ status: 202, description: 'Queued to be sent at once', type: WebhookDeliveryResponse })
  @ApiErrors([400, 404, 409, 414], { 404: 'Delivery not found', 409: 'The delivery is being sent right now' })
  @ApiBodyErrors()
  async retry(@UuidParam('id') id: string, @UuidParam('delivery_id') deliveryId: string): Promise<WebhookDeliveryResponse> {
    return toDeliveryResponse(await this.webhooks.retry(id, deliveryId));
  }
}

function stringOrUndefined(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequestException(`${name} must be given once`);
  return value;
}
