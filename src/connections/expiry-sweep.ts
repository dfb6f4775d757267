import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { ConnectionsService } from './connections.service.js';

/** The name the sweep is registered under in @nestjs/schedule's SchedulerRegistry. */
export const EXPIRY_SWEEP = 'connections.expiry-sweep';
const EVERY_MINUTE = 60_000;

/**
 * Stores `expired` on the connections whose token lapsed with no refresh token, and announces it.
 * Readers see them as expired from the instant they lapse whatever the sweep does; the sweep makes
 * it stored (so that a filter on the status is right in SQL too) and heard by event listeners. The
 * application registers `ScheduleModule.forRoot()`, which starts it and stops it at shutdown.
 */
@Injectable()
export class ExpirySweep {
  private readonly logger = new Logger(ExpirySweep.name);

  constructor(private readonly connections: ConnectionsService) {}

  /** One sweep. A failure is logged as a warning; the next sweep tries again. */
  @Interval(EXPIRY_SWEEP, EVERY_MINUTE)
  async run(): Promise<void> {
    try {
      await this.connections.expireLapsed();
    } catch (error) {
      this.logger.warn(`Expiry sweep failed: ${(error as Error).message}`);
    }
  }
}
