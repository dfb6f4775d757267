import { BadRequestException, ConflictException, Injectable } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { InjectRepository } from '@nestjs/typeorm';
import { MoreThan, QueryFailedError, type Repository } from 'typeorm';
import { UUID_PATTERN } from '../common/validation.js';
import { CONNECTION_EVENTS, emitConnectionEvent } from '../connections/connection.events.js';
import { EFFECTIVE_STATUS } from '../connections/connections.service.js';
import type { Provider } from '../connections/providers.js';
import { Sql, sqlState } from '../database/sql.js';
import { UserNotFoundError } from './user.errors.js';
import type { CreateUserDto } from './dto/create-user.dto.js';
import { User } from './user.entity.js';

const UNIQUE_VIOLATION = '23505';

export interface UserPage {
  users: User[];
  nextCursor: string | null;
}

@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly sql: Sql,
    private readonly events: EventEmitter2,
  ) {}

  /** Creates a user. A duplicate id or external_user_id is a ConflictException. */
  async create(dto: CreateUserDto): Promise<User> {
    try {
      const user = this.users.create({
        id: dto.id?.toLowerCase(),
        externalUserId: dto.external_user_id ?? null,
        email: dto.email ?? null,
      });
      await this.users.insert(user); // fills in the generated id and times
      return user;
    } catch (error) {
      if (error instanceof QueryFailedError && sqlState(error.driverError) === UNIQUE_VIOLATION) {
        const field = (error.driverError as { detail?: string }).detail?.includes('external_user_id') ? 'external_user_id' : 'id';
        throw new ConflictException(`A user with this ${field} already exists`);
      }
      throw error;
    }
  }

  /** The user. Throws UserNotFoundError. */
  async get(id: string): Promise<User> {
    const user = await this.users.findOneBy({ id });
    if (!user) throw new UserNotFoundError();
    return user;
  }

  /** A page of users ordered by id, which stays stable while users are added and removed. */
  async list(limit: number, cursor?: string): Promise<UserPage> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    const users = await this.users.find({
      where: after ? { id: MoreThan(after) } : {},
      order: { id: 'ASC' },
      take: limit + 1,
    });
    const hasMore = users.length > limit;
    const page = hasMore ? users.slice(0, limit) : users;
    return { users: page, nextCursor: hasMore ? encodeCursor(page[page.length - 1].id) : null };
  }

  /**
   * Deletes the user, and with it every connection and token of theirs, in one statement.
   * Emits connection.revoked (reason user_deleted) for each connection that was active.
   */
  async delete(id: string): Promise<void> {
    const rows = await this.sql.rows<{ connection_id: string | null; provider: Provider; status: string }>(
      `WITH gone AS (DELETE FROM connections c WHERE c.user_id = $1 RETURNING c.id, c.provider, ${EFFECTIVE_STATUS} AS status),
            deleted AS (DELETE FROM users WHERE id = $1 RETURNING id)
       SELECT gone.id AS connection_id, gone.provider, gone.status FROM deleted LEFT JOIN gone ON true`,
      [id],
    );
    if (rows.length === 0) throw new UserNotFoundError();
    for (const row of rows) {
      if (row.connection_id && row.status === 'active') {
        emitConnectionEvent(this.events, CONNECTION_EVENTS.revoked, {
          connection_id: row.connection_id,
          user_id: id,
          provider: row.provider,
          reason: 'user_deleted',
        });
      }
    }
  }
}

function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!UUID_PATTERN.test(id)) throw new BadRequestException('cursor is not valid; pass the next_cursor of a previous page');
  return id;
}
