import { BadRequestException, ConflictException, Injectable } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { UUID_PATTERN } from '../common/validation.js';
import type { CreateUserDto } from './dto/create-user.dto.js';
import type { User } from './user.entity.js';
import { UserNotFoundError } from './user.errors.js';
import { WebhookOutbox } from '../webhooks/webhook-outbox.js';
import { USER_EVENTS, type UserDeletingEvent } from './user.events.js';
import { UsersRepository } from './users.repository.js';

interface UserPage {
  users: User[];
  nextCursor: string | null;
}

/** A user as imported from another system, with its own id and times. */
interface ImportedUser {
  id: string;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * The users of the health app. The users module knows nothing of what other modules hang on a user:
 * they learn of a deletion through USER_EVENTS.deleting, inside its transaction (see UserDeletingEvent).
 */
@Injectable()
export class UsersService {
  constructor(
    private readonly repository: UsersRepository,
    private readonly events: EventEmitter2,
    private readonly outbox: WebhookOutbox,
  ) {}

  /** Creates a user. A duplicate id or external_user_id is a ConflictException. */
  async create(dto: CreateUserDto): Promise<User> {
    const result = await this.repository.insert({
      id: dto.id?.toLowerCase(),
      externalUserId: dto.external_user_id ?? null,
      email: dto.email ?? null,
    });
    if ('duplicate' in result) throw new ConflictException(`A user with this ${result.duplicate} already exists`);
    return result.user;
  }

  /** Creates the user with its own times, unless a user with this id exists (left as it is): whether it did. */
  importUser(user: ImportedUser): Promise<boolean> {
    return this.repository.insertIfAbsent({ ...user, id: user.id.toLowerCase(), externalUserId: null, email: null });
  }

  /** The user. Throws UserNotFoundError. */
  async get(id: string): Promise<User> {
    const user = UUID_PATTERN.test(id) ? await this.repository.findById(id.toLowerCase()) : null;
    if (!user) throw new UserNotFoundError();
    return user;
  }

  /** Whether the user exists. */
  exists(id: string): Promise<boolean> {
    return UUID_PATTERN.test(id) ? this.repository.exists(id.toLowerCase()) : Promise.resolve(false);
  }

  /** A page of users ordered by id, which stays stable while users are added and removed. */
  async list(limit: number, cursor?: string): Promise<UserPage> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    const users = await this.repository.listAfter(after, limit + 1);
    const hasMore = users.length > limit;
    const page = hasMore ? users.slice(0, limit) : users;
    return { users: page, nextCursor: hasMore ? encodeCursor(page[page.length - 1].id) : null };
  }

  /**
   * Deletes the user and, in the same transaction, everything other modules hang on it: each does its
   * part as a listener of USER_EVENTS.deleting (the connections module deletes the user's connections
   * and tokens, and announces connection.revoked, reason user_deleted, for each that was active).
   * What the listeners announce is announced once the deletion is committed; if one of them fails,
   * nothing is deleted. Throws UserNotFoundError.
   */
  async delete(id: string): Promise<void> {
    if (!UUID_PATTERN.test(id)) throw new UserNotFoundError();
    const userId = id.toLowerCase();
    const announcements: (() => void)[] = [];
    await this.repository.transaction(async (manager) => {
      if (!(await this.repository.lockForDeletion(manager, userId))) throw new UserNotFoundError();
      const event: UserDeletingEvent = { user_id: userId, manager, afterCommit: (announce) => announcements.push(announce) };
      // Like emitAsync, but one listener at a time: they share the transaction's connection, and one
      // that fails must stop the others before the transaction is rolled back under them.
      for (const listener of this.events.listeners(USER_EVENTS.deleting)) await listener(event);
      await this.repository.delete(manager, userId);
      // The consumer's webhook, in the deletion's transaction (after the connections' revocations).
      if (await this.outbox.record((text, values) => manager.query(text, values), 'user.deleted', { user: { id: userId } })) {
        announcements.push(() => this.outbox.wake());
      }
    });
    for (const announce of announcements) announce();
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
