/**
 * The entry of the browser build (scripts/build-client.ts bundles it as an IIFE): the client becomes
 * the global `ActionheroClient`, next to the global `Primus` of the library it is written after.
 */
import { ActionheroClient } from './client.js'

const page = globalThis as { ActionheroClient?: typeof ActionheroClient, actionheroClient?: typeof ActionheroClient }
page.ActionheroClient = ActionheroClient
/** @deprecated ActionHero's lower-case name, kept for pages written for it: use `ActionheroClient`. */
page.actionheroClient = ActionheroClient
