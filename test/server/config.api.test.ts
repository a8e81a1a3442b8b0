/** parseConfig's `api` key: where `taskq serve` listens and the tokens it takes. */
import { ConfigError, parseConfig } from '../../src';

const base = { queues: [{ name: 'standard', broker: { type: 'memory' } }] };

test('parseConfig takes api.host, api.port and api.tokens (inline or from the environment, with owners)', () => {
  const config = parseConfig({ ...base, api: { host: '0.0.0.0', port: 0, tokens: [{ tokenEnv: 'ADMIN_TOKEN' }, { token: 'abc', owner: 'billing' }] } });
  expect(config.api).toEqual({ host: '0.0.0.0', port: 0, tokens: [{ tokenEnv: 'ADMIN_TOKEN' }, { token: 'abc', owner: 'billing' }] });
});

test.each([
  [{ port: 70_000 }, /api\.port/],
  [{ port: 'http' }, /api\.port/],
  [{ tokens: [{ owner: 'x' }] }, /api\.tokens\[0\]: give exactly one of token and tokenEnv/],
  [{ tokens: [{ token: 'a', tokenEnv: 'B' }] }, /api\.tokens\[0\]: give exactly one of token and tokenEnv/],
  [{ tokens: [{ token: '' }] }, /api\.tokens\[0\]\.token/],
  [{ tokens: [{ token: 'a', secret: 'b' }] }, /api\.tokens\[0\]\.secret/],
  [{ hots: '0.0.0.0' }, /api\.hots/],
])('parseConfig refuses api %j, naming the field', (api, message) => {
  expect(() => parseConfig({ ...base, api })).toThrow(ConfigError);
  expect(() => parseConfig({ ...base, api })).toThrow(message);
});
