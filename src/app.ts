import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppModule, type RuntimeConfig } from './app.module.js';
import { adapterOptions } from './common/http-hooks.js';
import { serveApiDocs } from './openapi.js';

/**
 * Builds the standalone service on the given database: AppModule (WearableConnectionsModule, which
 * brings migrations, the bootstrap key, demo data and every response hook, plus the health probes) on
 * a Fastify adapter made with adapterOptions(), Swagger UI at /docs, and nestjs-pino as Nest's logger.
 */
export async function createApp(config: RuntimeConfig, logStream?: DestinationStream): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter(adapterOptions(config));
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, logStream), adapter, {
    bufferLogs: true,
    abortOnError: false,
    // Nest's parsers are not wanted: HttpSafetyNets sets the one body parser, JSON's.
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  serveApiDocs(app);
  await app.init();
  return app;
}
