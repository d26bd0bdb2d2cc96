/**
 * The fingerprint (PROTOCOL.md 5): a cookie that ties a visitor's sockets to their web requests.
 * HTTP responses to requests without it set it; every request exposes it as `request.fingerprint`;
 * the socket reads the same cookie from its handshake (handshake.ts).
 */
import { randomBytes } from 'node:crypto'
import fastifyCookie from '@fastify/cookie'
import type { FastifyInstance } from 'fastify'
import type { ResolvedOptions } from './options.js'

/** 128 random bits, as 32 hex characters. */
export function newFingerprint (): string {
  return randomBytes(16).toString('hex')
}

export async function registerFingerprint (fastify: FastifyInstance, options: ResolvedOptions['fingerprint']): Promise<void> {
  // An app that already uses @fastify/cookie keeps its own registration (and its secret).
  if (!fastify.hasRequestDecorator('cookies')) await fastify.register(fastifyCookie)
  const { cookieKey, setCookie, cookie } = options
  fastify.addHook('onRequest', (request, reply, done) => {
    const existing = request.cookies[cookieKey]
    if (existing !== undefined && existing !== '') {
      request.fingerprint = existing
    } else if (setCookie) {
      request.fingerprint = newFingerprint()
      reply.setCookie(cookieKey, request.fingerprint, cookie)
    }
    done()
  })
}
