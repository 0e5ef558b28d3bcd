import { type Browser, chromium } from 'playwright-core';

/**
 * Launches Debian's headless Chromium for a browser test: no sandbox (Chromium starts none as root), no GPU, and none
 * of the browser's own background traffic (updates, sync, QUIC), so that what a page requests is the app's doing.
 *
 * @example
 * ```ts
 * const browser = await launchChromium();
 * ```
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}
