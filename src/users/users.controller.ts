import { Body, Controller, Delete, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { RequireScope } from '../auth/require-scope.decorator.js';
import { ApiBodyErrors, ApiErrors, ApiSuccess, uuidParam } from '../common/api-docs.js';
import { UuidParam, validBody, validQuery } from '../common/validation.js';
import { CreateUserDto } from './dto/create-user.dto.js';
import { ListUsersQueryDto } from './dto/list-users-query.dto.js';
import { toUserResponse, UserPageResponse, UserResponse } from './dto/user-response.js';
import { UsersService } from './users.service.js';

const USER_ID = ApiParam(uuidParam('user_id', 'The UUID of the user', '550e8400-e29b-41d4-a716-446655440000'));

@ApiTags('users')
@Controller('api/v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  @RequireScope('write')
  @ApiOperation({ operationId: 'createUser', summary: 'Create a user', description: 'The client may bring its own UUID. No body at all creates a user with a generated id.' })
  @ApiBody({ type: CreateUserDto, required: false })
  @ApiSuccess({ status: 201, description: 'Created', type: UserResponse })
  @ApiErrors([400, 409], { 400: 'id must be a UUID' })
  @ApiBodyErrors()
  async create(@Body(validBody) dto: CreateUserDto): Promise<UserResponse> {
    return toUserResponse(await this.users.create(dto));
  }

  @Get()
  @RequireScope('read')
  @ApiOperation({ operationId: 'listUsers', summary: 'List users', description: 'Pages in id order, which stays stable while users come and go.' })
  @ApiSuccess({ status: 200, description: 'A page of users', type: UserPageResponse })
  @ApiErrors([400], { 400: 'limit must be an integer from 1 to 200' })
  async list(@Query(validQuery) query: ListUsersQueryDto): Promise<UserPageResponse> {
    const page = await this.users.list(query.limit, query.cursor);
    return { data: page.users.map(toUserResponse), next_cursor: page.nextCursor };
  }

  @Get(':user_id')
  @RequireScope('read')
  @ApiOperation({ operationId: 'getUser', summary: 'Get a user' })
  @USER_ID
  @ApiSuccess({ status: 200, description: 'The user', type: UserResponse })
  @ApiErrors([400, 404, 414])
  async get(@UuidParam('user_id') userId: string): Promise<UserResponse> {
    return toUserResponse(await this.users.get(userId));
  }

  @Delete(':user_id')
  @HttpCode(204)
  @RequireScope('write')
  @ApiOperation({ operationId: 'deleteUser', summary: 'Delete a user', description: "The user's connections and their tokens are deleted with it." })
  @USER_ID
  @ApiSuccess({ status: 204, description: 'Deleted' })
  @ApiErrors([400, 404, 414])
  @ApiBodyErrors()
  async delete(@UuidParam('user_id') userId: string): Promise<void> {
    await this.users.delete(userId);
  }
}
