import { type Command, InvalidArgumentError } from 'commander';
import { ConfigError, type TaskqConfig, createLogger } from '../../src';
import type { ApiToken } from '../../server';
import { DEFAULT_HOST } from '../../server/defaults';
import { type GlobalOptions, withDispatcher } from '../context';
import { printLine } from '../output';

interface ServeOptions {
  host?: string;
  port?: number;
  token?: string;
}

export const DEFAULT_PORT = 8080;

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65_535) throw new InvalidArgumentError('--port must be a whole number from 0 to 65535 (0: any free port)');
  return n;
}

/**
 * The tokens the server takes: --token, else TASKQ_API_TOKEN (either without owner), and the
 * config's api.tokens, whose tokenEnv names are read now so a missing variable stops the start.
 */
function tokensOf(options: ServeOptions, config: TaskqConfig): ApiToken[] {
  const tokens: ApiToken[] = [];
  const given = options.token ?? process.env.TASKQ_API_TOKEN;
  if (given !== undefined) {
    if (given === '') throw new ConfigError(options.token !== undefined ? '--token is empty' : 'TASKQ_API_TOKEN is set but empty');
    tokens.push({ token: given });
  }
  (config.api?.tokens ?? []).forEach((entry, i) => {
    const token = entry.token ?? process.env[entry.tokenEnv ?? ''];
    if (!token) throw new ConfigError(`${config.source ?? 'config'}: api.tokens[${i}].tokenEnv: environment variable ${entry.tokenEnv} is not set or empty`);
    tokens.push(entry.owner === undefined ? { token } : { token, owner: entry.owner });
  });
  return tokens;
}

/** Resolves on the first SIGTERM or SIGINT. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the HTTP API (/api/…), its OpenAPI document (/openapi.json) and Prometheus metrics (/metrics); SIGTERM/SIGINT stop it')
    .option('--host <host>', `address to listen on (default api.host, else ${DEFAULT_HOST}); any other than loopback needs a token`)
    .option('--port <port>', `port (default api.port, else ${DEFAULT_PORT}; 0: any free port)`, port)
    .option('--token <token>', 'bearer token every request must carry (else $TASKQ_API_TOKEN; api.tokens in the config adds tokens, with owners)')
    .addHelpText('after', '\nThe URL it listens on is printed on stdout once it does. See docs/api.md.')
    .action(async (options: ServeOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      await withDispatcher(
        global,
        async ({ config, dispatcher }) => {
          const host = options.host ?? config.api?.host ?? DEFAULT_HOST;
          const logger = createLogger(global.logLevel);
          // Loaded here: Fastify and the OpenAPI machinery are for this command only, not for
          // every other command's start-up.
          const { buildServer, serverUrl } = require('../../server') as typeof import('../../server');
          // Before anything listens: a non-loopback host without a token is a ConfigError (exit 2).
          const app = await buildServer(dispatcher, { host, tokens: tokensOf(options, config), logger });
          try {
            // Subscribed before listening: a signal that comes as soon as the URL is out still stops it.
            const stopped = stopSignal();
            await app.listen({ host, port: options.port ?? config.api?.port ?? DEFAULT_PORT });
            const url = serverUrl(app);
            printLine(`taskq API listening on ${url} (dashboard: ${url}/, OpenAPI: ${url}/openapi.json)`);
            logger.info(`taskq API listening on ${url}`, { url });
            const signal = await stopped;
            logger.info(`${signal}: closing the API server`, { signal });
          } finally {
            await app.close();
          }
        },
        { tasksOptional: true },
      );
    });
}
