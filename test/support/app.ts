// Moved to ./apps/posts.ts; this re-export serves files other helpers were editing during the move. Delete once nothing imports it.
export * from './apps/posts.js';
