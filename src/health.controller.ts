import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, type HealthCheckResult, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { Public } from './auth/public.decorator.js';
import { ErrorResponse } from './common/api-docs.js';

const DATABASE_TIMEOUT_MS = 1_500;

@ApiTags('health')
@Controller('health')
@Public()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
  ) {}

  /** The process is up and serving HTTP. */
  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process serves HTTP' })
  @ApiResponse({ status: 200, example: { status: 'ok' } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Ready to serve: the database answers. 503 while it does not. */
  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Readiness: the database answers' })
  @ApiResponse({ status: 200, example: { status: 'ok', info: { database: { status: 'up' } } } })
  @ApiResponse({ status: 503, type: ErrorResponse, example: { detail: 'Not ready: database is down' } })
  async ready(): Promise<Pick<HealthCheckResult, 'status' | 'info'>> {
    try {
      const { status, info } = await this.health.check([() => this.database.pingCheck('database', { timeout: DATABASE_TIMEOUT_MS })]);
      return { status, info };
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const failing = Object.keys((error.getResponse() as HealthCheckResult).error ?? {});
      throw new ServiceUnavailableException(`Not ready: ${failing.join(', ') || 'a check'} is down`);
    }
  }
}
