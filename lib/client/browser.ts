/**
 * The entry of the browser build (scripts/build-client.ts bundles it as an IIFE): the client becomes
 * the global `ActionheroClient`, next to the global `Primus` of the library it is written after.
 */
import { ActionheroClient } from './client.js'

(globalThis as { ActionheroClient?: typeof ActionheroClient }).ActionheroClient = ActionheroClient
