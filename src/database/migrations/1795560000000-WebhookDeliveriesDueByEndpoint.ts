import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The sender claims each endpoint's due deliveries, oldest first, through an index per endpoint: an
 * ordered index scan that stops at the endpoint's free slots, instead of reading every pending
 * delivery (a bitmap scan of the old index and a sort) on each claim, which grew dearer with the backlog.
 */
export class WebhookDeliveriesDueByEndpoint1795560000000 implements MigrationInterface {
  name = 'WebhookDeliveriesDueByEndpoint1795560000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_webhook_deliveries_due"`);
    await queryRunner.query(`CREATE INDEX "ix_webhook_deliveries_due" ON "webhook_deliveries" ("endpoint_id", "next_attempt_at") WHERE status = 'pending'`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_webhook_deliveries_due"`);
    await queryRunner.query(`CREATE INDEX "ix_webhook_deliveries_due" ON "webhook_deliveries" ("next_attempt_at") WHERE status = 'pending'`);
  }
}
