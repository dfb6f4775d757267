import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type EntityManager, MoreThan, QueryFailedError, type Repository } from 'typeorm';
import { sqlState } from '../database/sql.js';
import { User } from './user.entity.js';

const UNIQUE_VIOLATION = '23505';

/** A user to insert; the id and times are generated when not given. */
interface NewUser {
  id?: string;
  externalUserId: string | null;
  email: string | null;
  createdAt?: Date;
  updatedAt?: Date;
}

/** Which unique field an existing user already holds. */
type UniqueUserField = 'id' | 'external_user_id';

/**
 * Every statement on `users`: the only place, with the entity and the migrations, that knows its
 * table and columns (the connections list joins it by id; that one statement is the spec's endpoint).
 */
@Injectable()
export class UsersRepository {
  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  /** Inserts the user, with its generated id and times filled in; or names the unique field already taken. */
  async insert(values: NewUser): Promise<{ user: User } | { duplicate: UniqueUserField }> {
    const user = this.users.create(values);
    try {
      await this.users.insert(user); // fills in the generated id and times
      return { user };
    } catch (error) {
      if (error instanceof QueryFailedError && sqlState(error.driverError) === UNIQUE_VIOLATION) {
        const detail = (error.driverError as { detail?: string }).detail ?? '';
        return { duplicate: detail.includes('external_user_id') ? 'external_user_id' : 'id' };
      }
      throw error;
    }
  }

  /** Inserts the user unless its id or external id is taken (that user is left as it is); whether it did. */
  async insertIfAbsent(values: NewUser): Promise<boolean> {
    const result = await this.users.createQueryBuilder().insert().into(User).values(values).orIgnore().returning('id').execute();
    return (result.raw as unknown[]).length > 0;
  }

  findById(id: string): Promise<User | null> {
    return this.users.findOneBy({ id });
  }

  exists(id: string): Promise<boolean> {
    return this.users.existsBy({ id });
  }

  /** Up to `take` users in id order, after the id `after` when given. */
  listAfter(after: string | undefined, take: number): Promise<User[]> {
    return this.users.find({ where: after ? { id: MoreThan(after) } : {}, order: { id: 'ASC' }, take });
  }

  /** Runs `work` in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.users.manager.transaction(work);
  }

  /**
   * Locks the user's row for its deletion, in the caller's transaction (`SELECT … FOR UPDATE`): a
   * row that references the user (a connection) cannot be added until the transaction ends. Whether
   * the user exists.
   */
  async lockForDeletion(manager: EntityManager, id: string): Promise<boolean> {
    const user = await manager.getRepository(User).findOne({ select: { id: true }, where: { id }, lock: { mode: 'pessimistic_write' } });
    return user !== null;
  }

  /** Deletes the user in the caller's transaction (rows still referencing it go with it: ON DELETE CASCADE). */
  async delete(manager: EntityManager, id: string): Promise<void> {
    await manager.getRepository(User).delete({ id });
  }
}
