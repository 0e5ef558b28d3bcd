// Moved to ../support/clients.ts; this re-export serves files other helpers were editing during the move. Delete once nothing imports it.
export * from '../support/clients.js';
