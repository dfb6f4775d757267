import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * The hosted connect page (issue 15): `connection_states`, the read-only view of each connection's
 * status as readers see it (an active connection whose access token has lapsed with no refresh token
 * reads `expired`, as in ConnectionsRepository's EFFECTIVE_STATUS) and its last sync. It is the
 * connections module's public face in SQL: the connect page reads it in the same statement as its
 * session, without knowing the connections table's columns.
 */
export class ConnectionStates1795540000000 implements MigrationInterface {
    name = 'ConnectionStates1795540000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE VIEW "connection_states" AS
  SELECT c.user_id, c.provider,
         CASE WHEN c.status = 'active' AND c.refresh_token IS NULL AND c.token_expires_at <= now() THEN 'expired' ELSE c.status END AS status,
         c.last_synced_at
    FROM connections c`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP VIEW "connection_states"`);
    }
}
