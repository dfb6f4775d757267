import { IsEmail, IsOptional, IsString, Length, Matches } from 'class-validator';
import { UUID_PATTERN } from '../../common/validation.js';

export class CreateUserDto {
  /** A client may bring its own id. */
  @IsOptional()
  @Matches(UUID_PATTERN, { message: 'id must be a UUID' })
  id?: string;

  @IsOptional()
  @IsString()
  @Length(1, 255)
  external_user_id?: string;

  @IsOptional()
  @IsEmail({}, { message: 'email must be an email address' })
  @Length(1, 320)
  email?: string;
}
