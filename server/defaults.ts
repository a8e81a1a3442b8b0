/** Where `taskq serve` listens unless told: loopback, so no token is needed until it is exposed. */
export const DEFAULT_HOST = '127.0.0.1';
