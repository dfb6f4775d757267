import { MigrationInterface, QueryRunner } from "typeorm";

export class ConnectionLifecycle1795501700414 implements MigrationInterface {
    name = 'ConnectionLifecycle1795501700414'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "connections" ADD "status_reason" text`);
        await queryRunner.query(`ALTER TABLE "connections" ADD "token_version" integer NOT NULL DEFAULT '0'`);
        await queryRunner.query(`CREATE INDEX "ix_connections_lapsing" ON "connections" ("token_expires_at") WHERE status = 'active' AND refresh_token IS NULL`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP INDEX "public"."ix_connections_lapsing"`);
        await queryRunner.query(`ALTER TABLE "connections" DROP COLUMN "token_version"`);
        await queryRunner.query(`ALTER TABLE "connections" DROP COLUMN "status_reason"`);
    }

}
