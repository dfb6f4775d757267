import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { type Provider, PROVIDERS } from '../../connections/providers.js';

/** A provider and whether users can connect to it here. */
@ApiSchema({ name: 'ProviderAvailability', description: 'A wearable provider, and whether this service offers it for connecting' })
export class ProviderAvailabilityResponse {
  @ApiProperty({ enum: PROVIDERS, description: 'Provider name', example: 'garmin' })
  provider: Provider;

  @ApiProperty({ description: 'Whether users can connect it: the service has its OAuth client (P_CLIENT_ID and P_CLIENT_SECRET)', example: true })
  connectable: boolean;
}
