import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * api_keys.prefix held the first characters of each key (a quarter of an operator's BOOTSTRAP_API_KEY,
 * 8 random characters of a generated key): part of a secret. It becomes the label keyLabel() makes,
 * `sha256:` and the first 8 hex digits of the key's hash, which is already stored.
 */
export class KeyLabelsFromHash1795510000000 implements MigrationInterface {
    name = 'KeyLabelsFromHash1795510000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`UPDATE "api_keys" SET "prefix" = 'sha256:' || left("key_hash", 8) WHERE "prefix" IS DISTINCT FROM 'sha256:' || left("key_hash", 8)`);
    }

    public async down(): Promise<void> {
        // The old prefixes were parts of the keys, which are not stored: there is nothing to restore them from.
    }

}
