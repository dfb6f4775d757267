import { BadRequestException, type PipeTransform } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { CONNECTION_STATUSES, type ConnectionStatus, type Provider, PROVIDERS } from '../providers.js';

/** The filters of the connections list (documented here, checked by ListConnectionsQueryPipe). */
export class ListConnectionsQueryDto {
  @ApiPropertyOptional({ enum: CONNECTION_STATUSES, description: 'Only connections with this status' })
  status?: ConnectionStatus;

  @ApiPropertyOptional({ enum: PROVIDERS, description: 'Only the connection to this provider' })
  provider?: Provider;
}

const allowed = <T extends string>(values: readonly T[], value: unknown): value is T | undefined =>
  value === undefined || (values as readonly unknown[]).includes(value);

/**
 * Checks the list's filters by hand rather than with class-validator: this is the hot path, where a
 * validation round would cost more than the query. Unknown parameters are ignored, as elsewhere.
 */
export const ListConnectionsQueryPipe: PipeTransform<Record<string, unknown>, ListConnectionsQueryDto> = {
  transform({ status, provider }) {
    const errors = [
      allowed(CONNECTION_STATUSES, status) ? '' : `status must be one of: ${CONNECTION_STATUSES.join(', ')}`,
      allowed(PROVIDERS, provider) ? '' : `provider must be one of: ${PROVIDERS.join(', ')}`,
    ].filter(Boolean);
    if (errors.length > 0) throw new BadRequestException(errors.join('; '));
    return { status: status as ConnectionStatus | undefined, provider: provider as Provider | undefined };
  },
};
