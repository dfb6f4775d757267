import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/app.config.js';
import { dataSourceOptions } from './src/database/data-source-options.js';
import { EmbeddedPostgres } from './src/database/embedded-postgres.js';
import { ENTITIES } from './src/entities.js';

/**
 * The DataSource the TypeORM CLI uses (`npm run migration:run`, `migration:generate`, …).
 * With DATABASE_URL unset it opens the embedded database in DATA_DIR, and closes it when the CLI
 * destroys the DataSource.
 */
const config = loadConfig();
const embedded = config.databaseUrl ? undefined : await EmbeddedPostgres.start(config.dataDir);

class CliDataSource extends DataSource {
  override async destroy(): Promise<void> {
    await super.destroy();
    await embedded?.stop();
  }
}

export default new CliDataSource(dataSourceOptions(config.databaseUrl ?? embedded!.url, undefined, ENTITIES));
