// docs/adapters.md, "Next.js App Router": what a server component (app/posts/[id]/page.tsx) calls for its data.
import { createCaller, userFrom } from './adapters-app.js';

/**
 * In the page: `const post = await postForPage(await headers(), Number((await params).id));` (`headers` from
 * 'next/headers'). createCaller runs the procedure in this process, through the same caching instance as the route
 * handler: the same per-user entries, invalidated by the same mutations, from HTTP or from a server action.
 */
export async function postForPage(requestHeaders: Headers, id: number) {
  const caller = createCaller({ user: userFrom(requestHeaders.get('authorization')) });
  return caller.post.byId({ id });
}
