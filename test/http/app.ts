// Moved to ../support/apps/rest.ts; this re-export serves files other helpers were editing during the move. Delete once nothing imports it.
export * from '../support/apps/rest.js';
