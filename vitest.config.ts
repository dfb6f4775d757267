import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// SWC (not esbuild) compiles the tests so that emitDecoratorMetadata reaches Nest's DI.
export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    include: ['src/**/*.spec.ts', 'test/**/*.spec.ts', 'test/**/*.e2e-spec.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time: most of a file's time is spent waiting (servers starting, providers and
    // receivers answering, leases lapsing), so on these 2-core machines two workers take about a third
    // less time than Vitest's default of one (cores - 1).
    maxWorkers: 2,
  },
});
