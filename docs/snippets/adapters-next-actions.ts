// docs/adapters.md, "Next.js App Router": app/posts/actions.ts, a server action that renames a post.
'use server';
import { createCaller, userFrom } from './adapters-app.js';

/**
 * Form: `<form action={renamePost.bind(null, post.id)}>`. The mutation invalidates as it does over HTTP: the
 * server cache at once (every reader's next read misses), open pages through the live stream. Then
 * `revalidatePath('/posts/' + id)` (from 'next/cache') re-renders this page from the fresh data.
 */
export async function renamePost(requestHeaders: Headers, id: number, title: string) {
  const caller = createCaller({ user: userFrom(requestHeaders.get('authorization')) });
  return caller.post.rename({ id, title });
}
