import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayNotEmpty, IsArray, IsIn, IsOptional, IsString, Length } from 'class-validator';
import { ApiRequestBody } from '../../common/api-docs.js';
import { type Provider, PROVIDERS } from '../../connections/providers.js';

const PROVIDER_MESSAGE = `provider must be one of: ${PROVIDERS.join(', ')}`;

@ApiRequestBody(
  'ConnectSessionInput',
  'A connect session to create. With neither provider nor providers, the user chooses among every configured provider. ' +
    'Unknown fields are rejected (400).',
)
export class CreateConnectSessionDto {
  @ApiProperty({
    description:
      'Where the browser is sent back when the flow ends, with `connect_session_id`, `status` (`connected` or `error`), ' +
      '`provider`, and `connection_id` or `error`; or, when the user leaves the connect page through its back link, with ' +
      '`connect_session_id` and `status=cancelled` only. It must start with an entry of CONNECT_RETURN_URLS (same scheme, host and ' +
      'port, a path at or under the entry’s); while that is unset, only http://localhost and http://127.0.0.1 URLs are allowed.',
    format: 'uri',
    minLength: 1,
    maxLength: 2048,
    example: 'https://app.example.com/wearables/done',
  })
  @IsString()
  @Length(1, 2048)
  return_url: string;

  @ApiPropertyOptional({ enum: PROVIDERS, description: 'The one provider to connect: the link goes straight to its sign-in', example: 'strava' })
  @IsOptional()
  @IsIn(PROVIDERS, { message: PROVIDER_MESSAGE })
  provider?: Provider;

  @ApiPropertyOptional({
    enum: PROVIDERS,
    isArray: true,
    minItems: 1,
    maxItems: PROVIDERS.length,
    description: 'The providers the user may choose from (not with provider)',
    example: ['garmin', 'strava'],
  })
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty({ message: 'providers must name at least one provider' })
  @ArrayMaxSize(PROVIDERS.length)
  @IsIn(PROVIDERS, { each: true, message: `providers must each be one of: ${PROVIDERS.join(', ')}` })
  providers?: Provider[];
}
