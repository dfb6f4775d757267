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
