/**
 * The public folder as the `file` event reads it (PROTOCOL.md 3.4): a file by its path under the
 * folder, a directory by its `index.html`, and nothing outside the folder, ever: `..` cannot climb
 * out, an absolute path is taken from the folder's root, and a symlink is followed only when where it
 * leads is inside the folder too. Dotfiles (`.env`, `.git/config`) are never served: the folder may be
 * a checkout. `publicRealPath` is that rule, for the folder over HTTP too (public-files.ts). Only
 * regular files are read, opened so that a FIFO or a device can never block a libuv thread, and never
 * more than `maxConcurrentReads` at once for all connections, so that a flood of requests cannot take
 * every file descriptor of the process; a read whose requester is gone when its turn comes is dropped.
 */
import { constants } from 'node:fs'
import { open, realpath, type FileHandle } from 'node:fs/promises'
import { extname, isAbsolute, join, relative, sep } from 'node:path'
import { ERRORS } from '../types/protocol.js'

/** A file as the `file` reply carries it. */
export interface PublicFile {
  content: string
  mime: string
  length: number
  /** The modification time, in ms since the epoch. */
  lastModified: number
  encoding?: 'base64'
}

// The types a public folder usually holds; anything else is application/octet-stream.
const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html',
  '.htm': 'text/html',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.map': 'application/json',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.csv': 'text/csv',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.wasm': 'application/wasm',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.ogg': 'audio/ogg',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm'
}

const TEXT_TYPES = new Set(['application/json', 'application/manifest+json', 'application/xml', 'image/svg+xml'])

const utf8 = new TextDecoder('utf-8', { fatal: true })

// O_NONBLOCK: open() of a FIFO without a writer returns at once instead of holding a libuv thread
// until one comes (the type is only known after opening); regular files ignore the flag.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | (constants.O_NONBLOCK ?? 0)

// What the file system answers for a path that is not there for the client; anything else
// (EMFILE, ENFILE, EIO...) is the server's trouble, not the client's, and is thrown.
const NOT_FOUND_CODES = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EACCES', 'EPERM', 'ENAMETOOLONG', 'EISDIR', 'ENXIO'])

export interface PublicFolderLimits {
  /** The largest file sent, in bytes. */
  maxBytes: number
  /** Files read at once; more requests wait their turn (each connection's are bounded by dispatch). */
  maxConcurrentReads: number
}

export class PublicFolder {
  readonly #root: string
  readonly #maxBytes: number
  readonly #reads: ConcurrencyGate

  constructor (root: string, { maxBytes, maxConcurrentReads }: PublicFolderLimits) {
    this.#root = root
    this.#maxBytes = maxBytes
    this.#reads = new ConcurrencyGate(maxConcurrentReads)
  }

  /**
   * The file at `name` (a path under the folder), or the error string of PROTOCOL.md 3.2; null when
   * `wanted` said no more when the read's turn came (its connection left): then nothing was opened.
   * Rejects when the server cannot read files at all now (out of file descriptors, an I/O error).
   */
  async read (name: unknown, wanted: () => boolean): Promise<PublicFile | string | null> {
    if (typeof name !== 'string' || name.includes('\0')) return ERRORS.fileNotFound
    const path = join(this.#root, name)
    // `..` that climbs out, and dotfiles, are refused before the file system is asked anything.
    if (!isPublicPath(this.#root, path)) return ERRORS.fileNotFound
    return this.#reads.run(async () => wanted() ? await this.#read(path) : null)
  }

  async #read (path: string): Promise<PublicFile | string> {
    let handle: FileHandle | null = null
    try {
      handle = await openPublic(this.#root, path)
      let stats = await handle.stat()
      if (stats.isDirectory()) {
        await handle.close()
        handle = null
        path = join(path, 'index.html')
        handle = await openPublic(this.#root, path)
        stats = await handle.stat()
      }
      if (!stats.isFile()) return ERRORS.fileNotFound
      if (stats.size > this.#maxBytes) return ERRORS.fileTooLarge
      const bytes = await handle.readFile()
      if (bytes.length > this.#maxBytes) return ERRORS.fileTooLarge
      return asPublicFile(bytes, mimeType(path), stats.mtime.getTime())
    } catch (error) {
      // Missing, outside, unreadable: the client learns no more than "not found".
      if (isNotFound(error)) return ERRORS.fileNotFound
      throw error
    } finally {
      await handle?.close()
    }
  }
}

/**
 * The real path of `path` when the public folder `root` may serve it, null otherwise: it is inside the
 * folder once every symlink is resolved (the folder itself may be a symlink), and no part of it below
 * the folder, as asked or as resolved, starts with a dot. Rejects as the file system does (ENOENT...).
 */
export async function publicRealPath (root: string, path: string): Promise<string | null> {
  if (!isPublicPath(root, path)) return null
  const [realRoot, real] = await Promise.all([realpath(root), realpath(path)])
  return isPublicPath(realRoot, real) ? real : null
}

/** Whether `path` is `root` or below it with no part starting with a dot (`..` included), as written. */
function isPublicPath (root: string, path: string): boolean {
  const route = relative(root, path)
  return route === '' || (!isAbsolute(route) && route.split(sep).every((part) => !part.startsWith('.')))
}

/** Opens `path` for reading when the public folder `root` may serve it; throws otherwise. */
async function openPublic (root: string, path: string): Promise<FileHandle> {
  const real = await publicRealPath(root, path)
  if (real === null) throw new Error('not a public file')
  // O_NOFOLLOW: a symlink swapped in since realpath() is refused, not followed.
  return open(real, OPEN_FLAGS)
}

function isNotFound (error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code !== 'string' || NOT_FOUND_CODES.has(code)
}

/** Runs at most `limit` tasks at once; the others wait, first come, first served. */
class ConcurrencyGate {
  readonly #limit: number
  #running = 0
  readonly #waiting: Array<() => void> = []

  constructor (limit: number) {
    this.#limit = limit
  }

  async run<T> (task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve))
    else this.#running++
    try {
      return await task()
    } finally {
      // A waiter takes over this slot, so the count stays as it is.
      const next = this.#waiting.shift()
      if (next === undefined) this.#running--
      else next()
    }
  }
}

function mimeType (path: string): string {
  return MIME_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream'
}

function asPublicFile (bytes: Buffer, mime: string, lastModified: number): PublicFile {
  const file = { mime, length: bytes.length, lastModified }
  if (mime.startsWith('text/') || TEXT_TYPES.has(mime)) {
    try {
      return { ...file, content: utf8.decode(bytes) }
    } catch {
      // Not UTF-8 after all: sent as bytes, so that nothing is garbled.
    }
  }
  return { ...file, content: bytes.toString('base64'), encoding: 'base64' }
}
