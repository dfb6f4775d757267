import { Logger } from '@nestjs/common';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config/app.config.js';
import { EmbeddedPostgres } from './database/embedded-postgres.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = new Logger('Main');
  const embedded = config.databaseUrl ? undefined : await EmbeddedPostgres.start(config.dataDir);
  if (embedded) logger.log(`Using the embedded PostgreSQL in ${config.dataDir} (set DATABASE_URL to use your own)`);

  let app;
  try {
    app = await createApp({ ...config, databaseUrl: config.databaseUrl ?? embedded!.url });
  } catch (error) {
    await embedded?.stop();
    throw error;
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal} received, shutting down`);
    await app.close();
    await embedded?.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  await app.listen(config.port, config.host);
  logger.log(`Listening on http://${config.host}:${config.port}`);
}

main().catch((error: unknown) => {
  // A configuration error is one line naming the variable; anything else is a start-up failure.
  const message = error instanceof ConfigError ? `Configuration error: ${error.message}` : `Start-up failed: ${String(error)}`;
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
