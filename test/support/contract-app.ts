// Moved to ./apps/contract.ts; this re-export serves files other helpers were editing during the move. Delete once nothing imports it.
export * from './apps/contract.js';
