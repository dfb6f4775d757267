import { NotFoundException } from '@nestjs/common';

/** Thrown for an unknown user id; as an HttpException it answers 404 {"detail": "User not found"}. */
export class UserNotFoundError extends NotFoundException {
  constructor() {
    super('User not found');
  }
}
