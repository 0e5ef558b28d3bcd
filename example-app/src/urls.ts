/**
 * A server URL as the startup banner prints it: a password in it stays out of logs; `fallback` names the server when
 * the URL cannot be parsed.
 */
export function withoutPassword(url: string, fallback: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return fallback;
  }
}
