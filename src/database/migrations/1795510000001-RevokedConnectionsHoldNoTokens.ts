import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * A revoked connection holds no tokens. PUT with status `revoked` used to store the tokens it was
 * given: those are erased, and a constraint keeps any later write from storing one.
 */
export class RevokedConnectionsHoldNoTokens1795510000001 implements MigrationInterface {
    name = 'RevokedConnectionsHoldNoTokens1795510000001'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`UPDATE "connections" SET "access_token" = NULL, "refresh_token" = NULL, "token_expires_at" = NULL, "token_version" = "token_version" + 1 WHERE "status" = 'revoked' AND ("access_token" IS NOT NULL OR "refresh_token" IS NOT NULL)`);
        await queryRunner.query(`ALTER TABLE "connections" ADD CONSTRAINT "ck_connections_revoked_no_tokens" CHECK (status <> 'revoked' OR (access_token IS NULL AND refresh_token IS NULL))`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "connections" DROP CONSTRAINT "ck_connections_revoked_no_tokens"`);
    }

}
