export { buildServer, serverUrl, DEFAULT_HOST, type ServerOptions } from './app';
export { checkBind, isLoopbackHost, type ApiToken, type ApiAccess } from './auth';
