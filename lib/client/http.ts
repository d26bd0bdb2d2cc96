/**
 * Actions over HTTP, for when the client has no socket: the server serves every action at
 * `<apiPath>/<action>` too, and ActionHero's client fell back to it the same way.
 */
import type { Reply } from './requests.js'

/** POSTs `params` to `<url><apiPath>/<action>`; resolves the reply as the socket would give it, never rejects. */
export async function actionOverHttp (url: string, apiPath: string, action: string, params: Record<string, unknown>): Promise<Reply> {
  let response: Response
  try {
    response = await fetch(`${url.replace(/\/+$/, '')}${apiPath}/${encodeURIComponent(action)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // The visitor's cookies (the fingerprint, a session) go along as they do on the socket's handshake,
      // to another origin too (fetch's default sends them to the page's own origin only); the server's
      // gate grants credentials to the origins it allows, and answers the others 403.
      credentials: 'include',
      body: JSON.stringify(params)
    })
  } catch (error) {
    return { context: 'response', error: error instanceof Error ? error.message : String(error) }
  }
  const body: unknown = await response.json().catch(() => null)
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) return { ...body, context: 'response' }
  // Not the server's JSON (a proxy's error page, say): the status is all there is to tell.
  return { context: 'response', error: `${response.status} ${response.statusText}`.trim() }
}
