/** A SQLite path that cannot work fails at once, naming the path (issue 6, point 4). */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, RdsTaskLogBroker } from '../../src';

test('a folder that cannot be created (under /proc) is a bounded, clear error, not a hang', async () => {
  const broker = new RdsTaskLogBroker({ connection: 'sqlite:/proc/taskq-x/y.db' });
  await expect(broker.createContainer()).rejects.toThrow(ConfigError);
  await expect(broker.createContainer()).rejects.toThrow(/RDS connection "sqlite:\/proc\/taskq-x\/y\.db": cannot create the folder \/proc\/taskq-x for the database file: ENOENT/);
});

test('a file that cannot be opened names its path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskq-paths-'));
  try {
    // A folder where the database file should be: SQLite cannot open it.
    const broker = new RdsTaskLogBroker({ connection: `sqlite:${dir}` });
    await expect(broker.createContainer()).rejects.toThrow(new RegExp(`cannot open the database file ${dir}: `));
  } finally {
    chmodSync(dir, 0o700);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a folder made level by level from the nearest existing one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskq-paths-'));
  try {
    const broker = new RdsTaskLogBroker({ connection: `sqlite:${join(dir, 'a', 'b', 'c', 'log.db')}` });
    await broker.createContainer();
    expect(await broker.get('nothing')).toBeNull();
    await broker.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
