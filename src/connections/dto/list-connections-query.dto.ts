import { IsIn, IsOptional } from 'class-validator';
import { CONNECTION_STATUSES, type ConnectionStatus, type Provider, PROVIDERS } from '../providers.js';

export class ListConnectionsQueryDto {
  @IsOptional()
  @IsIn(CONNECTION_STATUSES, { message: `status must be one of: ${CONNECTION_STATUSES.join(', ')}` })
  status?: ConnectionStatus;

  @IsOptional()
  @IsIn(PROVIDERS, { message: `provider must be one of: ${PROVIDERS.join(', ')}` })
  provider?: Provider;
}
