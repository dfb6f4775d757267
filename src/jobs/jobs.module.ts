import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Job } from './job.entity.js';
import { JOBS_OPTIONS, type JobsOptions, JobsService } from './jobs.service.js';
import { JobsRepository } from './jobs.repository.js';

/** Durable work items (see JobsService); global, as the database is: every feature may enqueue or handle jobs. */
@Module({})
export class JobsModule {
  static forRoot(options: JobsOptions): DynamicModule {
    return {
      module: JobsModule,
      global: true,
      imports: [TypeOrmModule.forFeature([Job])],
      providers: [JobsRepository, JobsService, { provide: JOBS_OPTIONS, useValue: options }],
      exports: [JobsService],
    };
  }
}
