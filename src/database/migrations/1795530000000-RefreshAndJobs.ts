import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Connections stay alive (issue 14): durable work items (`jobs`), the refresher's lease and retry
 * columns on connections with the index of its scan, and the log of background refreshes. A refresh
 * the provider rejected now leaves a connection `expired` (reason refresh_failed), not `revoked`, which
 * is kept for the user's own act: the connections an earlier version revoked that way are moved.
 */
export class RefreshAndJobs1795530000000 implements MigrationInterface {
    name = 'RefreshAndJobs1795530000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "jobs" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "kind" text NOT NULL, "payload" jsonb NOT NULL DEFAULT '{}', "secret" text, "status" text NOT NULL DEFAULT 'pending', "run_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "attempts" integer NOT NULL DEFAULT '0', "deadline" TIMESTAMP WITH TIME ZONE, "locked_until" TIMESTAMP WITH TIME ZONE, "outcome" text, "last_error" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "ended_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "ck_jobs_ended_no_secret" CHECK (status = 'pending' OR secret IS NULL), CONSTRAINT "ck_jobs_status" CHECK (status IN ('pending', 'done', 'failed')), CONSTRAINT "pk_jobs" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "ix_jobs_ended" ON "jobs"  ("ended_at") WHERE status <> 'pending'`);
        await queryRunner.query(`CREATE INDEX "ix_jobs_due" ON "jobs"  ("run_at") WHERE status = 'pending'`);
        await queryRunner.query(`CREATE TABLE "refresh_attempts" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "connection_id" uuid NOT NULL, "attempted_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "outcome" text NOT NULL, "error" text, "detail" text, "retry_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "pk_refresh_attempts" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "ix_refresh_attempts_connection" ON "refresh_attempts"  ("connection_id", "attempted_at") `);
        await queryRunner.query(`ALTER TABLE "connections" ADD "refresh_lease_until" TIMESTAMP WITH TIME ZONE`);
        await queryRunner.query(`ALTER TABLE "connections" ADD "refresh_retry_at" TIMESTAMP WITH TIME ZONE`);
        await queryRunner.query(`ALTER TABLE "connections" ADD "refresh_failures" integer NOT NULL DEFAULT '0'`);
        await queryRunner.query(`CREATE INDEX "ix_connections_refresh_due" ON "connections"  ("token_expires_at") WHERE status = 'active' AND refresh_token IS NOT NULL`);
        await queryRunner.query(`ALTER TABLE "refresh_attempts" ADD CONSTRAINT "fk_refresh_attempts_connection" FOREIGN KEY ("connection_id") REFERENCES "connections"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`UPDATE "connections" SET "status" = 'expired' WHERE "status" = 'revoked' AND "status_reason" = 'refresh_failed'`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`UPDATE "connections" SET "status" = 'revoked', "access_token" = NULL, "refresh_token" = NULL WHERE "status" = 'expired' AND "status_reason" = 'refresh_failed'`);
        await queryRunner.query(`ALTER TABLE "refresh_attempts" DROP CONSTRAINT "fk_refresh_attempts_connection"`);
        await queryRunner.query(`DROP INDEX "public"."ix_connections_refresh_due"`);
        await queryRunner.query(`ALTER TABLE "connections" DROP COLUMN "refresh_failures"`);
        await queryRunner.query(`ALTER TABLE "connections" DROP COLUMN "refresh_retry_at"`);
        await queryRunner.query(`ALTER TABLE "connections" DROP COLUMN "refresh_lease_until"`);
        await queryRunner.query(`DROP INDEX "public"."ix_refresh_attempts_connection"`);
        await queryRunner.query(`DROP TABLE "refresh_attempts"`);
        await queryRunner.query(`DROP INDEX "public"."ix_jobs_due"`);
        await queryRunner.query(`DROP INDEX "public"."ix_jobs_ended"`);
        await queryRunner.query(`DROP TABLE "jobs"`);
    }

}
