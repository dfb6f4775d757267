import type { EntityManager } from 'typeorm';

/** Event names, for `@OnEvent(USER_EVENTS.deleting, { suppressErrors: false })`. */
export const USER_EVENTS = {
  deleting: 'user.deleting',
} as const;

/**
 * Emitted inside the transaction that deletes a user, after the user's row is locked (so that nothing
 * new can be attached to the user meanwhile) and before it is deleted. The listeners are called one
 * after the other, each awaited (see UsersService.delete).
 * This is how the modules that hang data on a user delete theirs in the same transaction, without
 * the users module knowing about them.
 *
 * A listener
 * - works through `manager`, which runs in that transaction. It must not use another database
 *   connection meanwhile: on the embedded database the pool's single connection is this one.
 * - registers with `afterCommit` what to announce once the deletion is committed (nothing is
 *   announced if it is rolled back).
 * - must be registered with `{ suppressErrors: false }`: then an error it throws rolls the whole
 *   deletion back and reaches the caller of UsersService.delete.
 */
export interface UserDeletingEvent {
  user_id: string;
  manager: EntityManager;
  afterCommit(announce: () => void): void;
}
