import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, type HealthCheckResult, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { Public } from './auth/public.decorator.js';
import { ApiErrors } from './common/api-docs.js';
import { LivenessResponse, ReadinessResponse } from './health-response.js';

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
  @ApiOperation({ operationId: 'getLiveness', summary: 'Liveness: the process serves HTTP', description: 'Public; needs no database.' })
  @ApiResponse({ status: 200, description: 'Alive', type: LivenessResponse, example: { status: 'ok' } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Ready to serve: the database answers. 503 while it does not. */
  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ operationId: 'getReadiness', summary: 'Readiness: the database answers', description: 'Public. 503 while the database does not answer.' })
  @ApiResponse({ status: 200, description: 'Ready', type: ReadinessResponse, example: { status: 'ok', info: { database: { status: 'up' } } } })
  @ApiErrors([503], { 503: 'Not ready: database is down' })
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
