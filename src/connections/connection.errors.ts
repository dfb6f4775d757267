import { ConflictException, NotFoundException } from '@nestjs/common';

// Typed errors for in-process callers; as HttpExceptions they also answer HTTP requests as they should.
// An unknown user is the users module's UserNotFoundError (src/users/user.errors.ts).

export class ConnectionNotFoundError extends NotFoundException {
  constructor() {
    super('Connection not found');
  }
}

/** A token was asked of a connection that cannot be used: revoked, or expired. */
export class ConnectionNotActiveError extends ConflictException {
  constructor(readonly connectionStatus: string) {
    super(`The connection is ${connectionStatus}, not active`);
  }
}

/**
 * The provider account is already another user's: one of that user's connections to it is active or
 * expired (a refresh could bring an expired one back). A revoked connection holds it for no one.
 */
export class AccountInUseError extends ConflictException {
  constructor() {
    super('The provider account is already connected for another user');
  }
}
