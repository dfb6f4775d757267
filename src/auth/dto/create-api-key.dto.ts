import { ArrayMaxSize, ArrayNotEmpty, ArrayUnique, IsArray, IsIn, IsOptional, IsString, Length } from 'class-validator';
import { IsIsoTime } from '../../common/iso-time.validator.js';
import { type Scope, SCOPES } from '../scopes.js';

export class CreateApiKeyDto {
  @IsString()
  @Length(1, 100)
  name: string;

  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique()
  @ArrayMaxSize(SCOPES.length)
  @IsIn(SCOPES, { each: true, message: `scopes must each be one of: ${SCOPES.join(', ')}` })
  scopes: Scope[];

  @IsOptional()
  @IsIsoTime()
  expires_at?: string;
}
