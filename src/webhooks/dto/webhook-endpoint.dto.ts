import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayNotEmpty, ArrayUnique, IsArray, IsBoolean, IsIn, IsOptional, IsString, Length, ValidateIf } from 'class-validator';
import { ApiRequestBody } from '../../common/api-docs.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../webhook-events.js';

const EVENTS_MESSAGE = `events must each be one of: ${WEBHOOK_EVENT_TYPES.join(', ')}`;

const URL_PROPERTY = {
  description:
    'Where the events are POSTed. https only, and it must not resolve to a loopback, private, link-local or metadata ' +
    'address (checked now and at each delivery), unless WEBHOOK_ALLOW_INSECURE_URLS=true.',
  format: 'uri',
  minLength: 1,
  maxLength: 2048,
  example: 'https://api.example.com/hooks/wearables',
};
const EVENTS_PROPERTY = {
  enum: WEBHOOK_EVENT_TYPES,
  isArray: true,
  minItems: 1,
  maxItems: WEBHOOK_EVENT_TYPES.length,
  uniqueItems: true,
  description: 'The event types to send; every type when absent',
  example: ['connection.revoked', 'connection.expired'],
};
const DESCRIPTION_PROPERTY = { type: String, nullable: true, maxLength: 500, description: 'What it is for, for people', example: 'production backend' };

@ApiRequestBody('WebhookEndpointInput', 'A webhook endpoint to create. Unknown fields are rejected (400).')
export class CreateWebhookEndpointDto {
  @ApiProperty(URL_PROPERTY)
  @IsString()
  @Length(1, 2048)
  url: string;

  @ApiPropertyOptional(EVENTS_PROPERTY)
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty({ message: 'events must name at least one event type' })
  @ArrayUnique({ message: 'events must not name a type twice' })
  @ArrayMaxSize(WEBHOOK_EVENT_TYPES.length)
  @IsIn(WEBHOOK_EVENT_TYPES, { each: true, message: EVENTS_MESSAGE })
  events?: WebhookEventType[];

  @ApiPropertyOptional(DESCRIPTION_PROPERTY)
  @IsOptional()
  @IsString()
  @Length(0, 500)
  description?: string | null;
}

@ApiRequestBody('WebhookEndpointChanges', 'The fields to change; those left out stay. Unknown fields are rejected (400).')
export class UpdateWebhookEndpointDto {
  @ApiPropertyOptional(URL_PROPERTY)
  @IsOptional()
  @IsString()
  @Length(1, 2048)
  url?: string;

  @ApiPropertyOptional({ ...EVENTS_PROPERTY, nullable: true, description: 'The event types to send; null: every type' })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsArray()
  @ArrayNotEmpty({ message: 'events must name at least one event type' })
  @ArrayUnique({ message: 'events must not name a type twice' })
  @ArrayMaxSize(WEBHOOK_EVENT_TYPES.length)
  @IsIn(WEBHOOK_EVENT_TYPES, { each: true, message: EVENTS_MESSAGE })
  events?: WebhookEventType[] | null;

  @ApiPropertyOptional(DESCRIPTION_PROPERTY)
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @Length(0, 500)
  description?: string | null;

  @ApiPropertyOptional({ type: Boolean, description: 'false stops the deliveries (they wait); true starts them again and clears a failing streak' })
  @IsOptional()
  @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;
}
