import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyView from '@fastify/view';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Eta } from 'eta';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ConnectConfig } from '../config/connect.config.js';
import type { Page } from './connect-pages.js';
import { CONNECT_CONFIG } from './connect.service.js';

/** The reply's render method, under a name of our own, so that a host application's @fastify/view (reply.view) is not in the way. */
const RENDER = 'connectViewAsync';

/** views/connect, found from this file in src/ (tests) or dist/src/ (the built service), and in an installed package. */
export const VIEWS_DIR = findViews(dirname(fileURLToPath(import.meta.url)));

/**
 * The connect pages, rendered on the server by @fastify/view with eta, which escapes every `<%= %>`
 * value. The stylesheet is the service's own, inlined in each page (one request, nothing external) and
 * allowed by its hash in the page's Content-Security-Policy: `default-src 'none'` otherwise, so no
 * script, image, font, form or frame is loaded, and `frame-ancestors` names only CONNECT_FRAME_ANCESTORS.
 * The link's token is in the URL, so `Referrer-Policy: no-referrer` and `Cache-Control: no-store` stay
 * as every response of the service has them (HttpSafetyNets).
 */
@Injectable()
export class ConnectViews implements OnModuleInit {
  private readonly css: string;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly framed: boolean;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(CONNECT_CONFIG) config: ConnectConfig,
  ) {
    this.css = minifyCss(readFileSync(join(VIEWS_DIR, 'connect.css'), 'utf8'));
    this.framed = config.frameAncestors.length > 0;
    this.headers = Object.freeze({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': pagePolicy(this.css, config.frameAncestors),
    });
  }

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance() as FastifyInstance | undefined;
    if (typeof fastify?.register !== 'function') return;
    fastify.register(fastifyView, {
      engine: { eta: new Eta({ autoEscape: true, cache: true }) },
      root: VIEWS_DIR,
      production: true,
      propertyName: 'connectView',
      asyncPropertyName: RENDER,
      defaultContext: { css: this.css },
    });
  }

  /** Renders the page and sends it with the pages' headers. */
  async send(reply: FastifyReply, page: Page): Promise<void> {
    const render = (reply as unknown as Record<string, (template: string, data: object) => Promise<string>>)[RENDER];
    const html = await render.call(reply, `${page.template}.eta`, page.data);
    reply.code(page.status).headers(this.headers);
    // The CSP's frame-ancestors decides where framing is allowed; X-Frame-Options (DENY for the API) would contradict it.
    if (this.framed) reply.removeHeader('x-frame-options');
    if (page.retryAfter !== undefined) reply.header('Retry-After', String(page.retryAfter));
    reply.send(html);
  }
}

/** The pages' policy: nothing but the inlined stylesheet, framed by nobody unless CONNECT_FRAME_ANCESTORS says who. */
export function pagePolicy(css: string, frameAncestors: readonly string[]): string {
  const hash = createHash('sha256').update(css).digest('base64');
  const ancestors = frameAncestors.length > 0 ? frameAncestors.join(' ') : "'none'";
  return `default-src 'none'; style-src 'sha256-${hash}'; base-uri 'none'; form-action 'none'; frame-ancestors ${ancestors}`;
}

/** Comments and the whitespace around punctuation go: the stylesheet travels in every page. */
function minifyCss(css: string): string {
  return css
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s*([{};,>])\s*/g, '$1')
    .replace(/;}/g, '}')
    .trim();
}

function findViews(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'views', 'connect');
    if (existsSync(join(candidate, 'layout.eta'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`views/connect not found above ${from}`);
  }
}
