import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { SqlExecutor } from '../database/sql.js';
import { type ClaimedJob, type JobRow, JobsRepository, type NewJob } from './jobs.repository.js';

/** The jobs worker's settings (JOBS_POLL_INTERVAL_MS, JOBS_CONCURRENCY, the lease). */
export interface JobsOptions {
  pollIntervalMs: number;
  /** Jobs run at once by one instance. */
  concurrency: number;
  /** How long a worker holds a job; a handler must end within it (a lapsed lease lets another worker take the job). */
  leaseSeconds: number;
}

export const JOBS_OPTIONS = Symbol('JOBS_OPTIONS');

/** What a handler answers: the job is done, is to be tried again later, or failed for good. */
export type JobResult =
  | { done: string }
  | { retryInMs: number; outcome: string; error?: string }
  | { failed: string; error?: string };

export type JobHandler = (job: ClaimedJob) => Promise<JobResult>;

/** The name the worker's timer is registered under in @nestjs/schedule's SchedulerRegistry. */
export const JOBS_WORKER = 'jobs.worker';
const KEEP_ENDED_DAYS = 7;
const PURGE_EVERY_MS = 3_600_000;
/** How often holdBack() looks whether the jobs under way have ended. */
const HELD_BACK_POLL_MS = 50;
/** A handler that throws (a bug, the database gone) is tried again after this. */
const AFTER_CRASH_MS = 60_000;

/**
 * Durable work items in PostgreSQL (the `jobs` table), for work that must survive a restart: a job is
 * inserted in the transaction of the change that causes it (enqueue with the transaction's executor),
 * so that a rollback leaves none and a commit loses none. Each instance polls for due jobs every
 * JOBS_POLL_INTERVAL_MS, claims at most JOBS_CONCURRENCY at a time with `FOR UPDATE SKIP LOCKED` and a
 * lease (instances never run one job twice at once; a job whose worker died is taken again once its
 * lease lapses), and runs their handlers holding no database connection. Handlers are registered by
 * the modules that own the work (JobsService.handle), by kind.
 */
@Injectable()
export class JobsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(JobsService.name);
  private readonly handlers = new Map<string, JobHandler>();
  private readonly running = new Set<Promise<void>>();
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private lastPurge = 0;
  private lookAgain = false;
  /** Jobs started by this instance, ever. */
  private started = 0;

  constructor(
    private readonly repository: JobsRepository,
    private readonly scheduler: SchedulerRegistry,
    @Inject(JOBS_OPTIONS) private readonly options: JobsOptions,
  ) {}

  /** Registers the handler of a kind of job (once, when the owning module initialises). */
  handle(kind: string, handler: JobHandler): void {
    if (this.handlers.has(kind)) throw new Error(`A handler for ${kind} jobs is registered already`);
    this.handlers.set(kind, handler);
  }

  /**
   * Writes a job: through `exec`, in the caller's transaction (it runs once that commits), or on its
   * own. The worker is woken to look for it soon after.
   */
  async enqueue(job: NewJob, exec?: SqlExecutor): Promise<string> {
    const id = await this.repository.insert(job, exec);
    this.wake();
    return id;
  }

  /**
   * Keeps the pending jobs of a kind whose payload contains `match` from starting for two leases, and
   * resolves once those a worker runs now have ended (or, at the longest, once their lease has lapsed):
   * for a change that the work must not overlap (a deregistration and the same user's new grant). The
   * jobs held back run later as planned, their handlers seeing the change. Polls every 50 ms, holding
   * no database connection in between.
   */
  async holdBack(kind: string, match: Record<string, string>): Promise<void> {
    let running = await this.repository.postpone(kind, match, 2 * this.options.leaseSeconds);
    const deadline = Date.now() + this.options.leaseSeconds * 1000;
    while (running.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, HELD_BACK_POLL_MS));
      running = await this.repository.held(running);
    }
  }

  find(id: string): Promise<JobRow | undefined> {
    return this.repository.find(id);
  }

  list(kind: string): Promise<JobRow[]> {
    return this.repository.list(kind);
  }

  onApplicationBootstrap(): void {
    this.scheduler.addInterval(JOBS_WORKER, setInterval(() => this.wake(), this.options.pollIntervalMs));
  }

  /** Stops claiming, and waits (up to the lease) for the jobs under way; what is left is taken again after a restart. */
  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.scheduler.doesExist('interval', JOBS_WORKER)) this.scheduler.deleteInterval(JOBS_WORKER);
    await Promise.race([
      Promise.allSettled([this.ticking, ...this.running]),
      new Promise((resolve) => setTimeout(resolve, this.options.leaseSeconds * 1000).unref()),
    ]);
  }

  /** Claims and runs due jobs until none is due; resolves when all of them ended (for tests and the poll). */
  async drain(): Promise<void> {
    for (;;) {
      await this.settled();
      const before = this.started;
      await this.tick();
      await this.settled();
      if (this.started === before) return;
    }
  }

  /** Once no look for jobs and no job is under way. */
  private async settled(): Promise<void> {
    while (this.ticking || this.running.size > 0) await Promise.allSettled([this.ticking, ...this.running]);
  }

  /** Looks for due jobs now (unless a look is under way; then it looks again after it). */
  private wake(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.lookAgain = true;
      return;
    }
    void this.tick();
  }

  private tick(): Promise<void> {
    if (this.ticking) {
      this.lookAgain = true;
      return this.ticking;
    }
    this.ticking = this.claimAndRun().finally(() => {
      this.ticking = undefined;
      // Woken while it looked: a job may have been written after its claim; look once more.
      if (this.lookAgain) {
        this.lookAgain = false;
        this.wake();
      }
    });
    return this.ticking;
  }

  private async claimAndRun(): Promise<void> {
    const kinds = [...this.handlers.keys()];
    if (kinds.length === 0) return;
    try {
      await this.purge();
      for (;;) {
        const free = this.options.concurrency - this.running.size;
        if (this.stopped || free <= 0) break;
        const jobs = await this.repository.claim(kinds, free, this.options.leaseSeconds);
        for (const job of jobs) this.start(job);
        if (jobs.length < free) break;
      }
    } catch (error) {
      this.logger.warn(`Could not claim jobs: ${(error as Error).message}`);
    }
  }

  private start(job: ClaimedJob): void {
    this.started += 1;
    const run = this.run(job).finally(() => {
      this.running.delete(run);
      // A slot is free: look for more at once rather than at the next poll.
      this.wake();
    });
    this.running.add(run);
  }

  private async run(job: ClaimedJob): Promise<void> {
    const handler = this.handlers.get(job.kind)!;
    let result: JobResult;
    try {
      result = await handler(job);
    } catch (error) {
      this.logger.error(`A ${job.kind} job failed unexpectedly (${(error as Error).name}: ${(error as Error).message}); it is tried again`);
      result = { retryInMs: AFTER_CRASH_MS, outcome: 'crashed', error: (error as Error).name };
    }
    try {
      if ('done' in result) await this.repository.end(job, 'done', result.done, null);
      else if ('failed' in result) await this.repository.end(job, 'failed', result.failed, result.error ?? null);
      else {
        const runAt = new Date(Date.now() + result.retryInMs);
        if (job.deadline && runAt > job.deadline) await this.repository.end(job, 'failed', result.outcome, result.error ?? null);
        else await this.repository.retry(job, runAt, result.outcome, result.error ?? null);
      }
    } catch (error) {
      // The job keeps its lease until it lapses, then runs again: at least once.
      this.logger.warn(`Could not store how a ${job.kind} job ended: ${(error as Error).message}`);
    }
  }

  private async purge(): Promise<void> {
    if (Date.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = Date.now();
    await this.repository.purgeEnded(KEEP_ENDED_DAYS);
  }
}
