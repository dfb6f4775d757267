import { type DynamicModule, Global, Module } from '@nestjs/common';
import { TokenCipher } from './token-cipher.js';

/** Provides the TokenCipher that seals provider tokens at rest. */
@Global()
@Module({})
export class CryptoModule {
  static forRoot(cipher: TokenCipher): DynamicModule {
    return { module: CryptoModule, providers: [{ provide: TokenCipher, useValue: cipher }], exports: [TokenCipher] };
  }
}
