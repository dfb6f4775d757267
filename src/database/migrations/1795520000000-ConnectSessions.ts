import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Connect sessions (a consumer's short-lived link for one user to connect a provider) and their
 * attempts (one per provider flow started: the hashed state and flow cookie, the sealed PKCE verifier,
 * and the outcome). Secrets are stored only as SHA-256 hashes, except the verifier, which is sealed
 * and erased when the callback uses it.
 */
export class ConnectSessions1795520000000 implements MigrationInterface {
    name = 'ConnectSessions1795520000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "connect_sessions" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "user_id" uuid NOT NULL, "token_hash" text NOT NULL, "return_url" text NOT NULL, "providers" text array NOT NULL, "status" text NOT NULL DEFAULT 'pending', "provider" text, "connection_id" uuid, "error" text, "used_at" TIMESTAMP WITH TIME ZONE, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "completed_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "uq_connect_sessions_token_hash" UNIQUE ("token_hash"), CONSTRAINT "ck_connect_sessions_status" CHECK (status IN ('pending', 'completed', 'failed')), CONSTRAINT "pk_connect_sessions" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "ix_connect_sessions_user" ON "connect_sessions" ("user_id") `);
        await queryRunner.query(`CREATE TABLE "connect_attempts" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "session_id" uuid NOT NULL, "provider" text NOT NULL, "state_hash" text NOT NULL, "cookie_hash" text NOT NULL, "code_verifier" text, "status" text NOT NULL DEFAULT 'pending', "error" text, "used_at" TIMESTAMP WITH TIME ZONE, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "completed_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "uq_connect_attempts_state_hash" UNIQUE ("state_hash"), CONSTRAINT "ck_connect_attempts_status" CHECK (status IN ('pending', 'connected', 'failed')), CONSTRAINT "pk_connect_attempts" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "ix_connect_attempts_session" ON "connect_attempts" ("session_id") `);
        await queryRunner.query(`ALTER TABLE "connect_sessions" ADD CONSTRAINT "fk_connect_sessions_user" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "connect_sessions" ADD CONSTRAINT "fk_connect_sessions_connection" FOREIGN KEY ("connection_id") REFERENCES "connections"("id") ON DELETE SET NULL ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "connect_attempts" ADD CONSTRAINT "fk_connect_attempts_session" FOREIGN KEY ("session_id") REFERENCES "connect_sessions"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "connect_attempts" DROP CONSTRAINT "fk_connect_attempts_session"`);
        await queryRunner.query(`ALTER TABLE "connect_sessions" DROP CONSTRAINT "fk_connect_sessions_connection"`);
        await queryRunner.query(`ALTER TABLE "connect_sessions" DROP CONSTRAINT "fk_connect_sessions_user"`);
        await queryRunner.query(`DROP INDEX "public"."ix_connect_attempts_session"`);
        await queryRunner.query(`DROP TABLE "connect_attempts"`);
        await queryRunner.query(`DROP INDEX "public"."ix_connect_sessions_user"`);
        await queryRunner.query(`DROP TABLE "connect_sessions"`);
    }

}
