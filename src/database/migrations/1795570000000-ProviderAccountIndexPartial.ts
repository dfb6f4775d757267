import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The provider account index (provider, provider_user_id) holds only the connections that have an
 * account id, the only ones its lookups (a provider's deauthorization, linkExclusive's holder check)
 * can find. On a table with no statistics (never analyzed: autovacuum off, the embedded database, a
 * new install), PostgreSQL had planned the upsert's "this user's connection to this provider" through
 * it, with the provider as its only condition: every change then read every connection of its
 * provider (5,000 rows per change in the webhook bench), and a statement prepared on the empty table
 * kept that plan. The partial index cannot answer that query, so the (user_id, provider) key does.
 */
export class ProviderAccountIndexPartial1795570000000 implements MigrationInterface {
  name = 'ProviderAccountIndexPartial1795570000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_connections_provider_user"`);
    await queryRunner.query(`CREATE INDEX "ix_connections_provider_user" ON "connections" ("provider", "provider_user_id") WHERE provider_user_id IS NOT NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_connections_provider_user"`);
    await queryRunner.query(`CREATE INDEX "ix_connections_provider_user" ON "connections" ("provider", "provider_user_id") `);
  }
}
