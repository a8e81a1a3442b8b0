import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RdsQueueBroker, RdsTaskLogBroker } from '../../src';
import { describeBrokerConformance } from './queueBrokerConformance';

describeBrokerConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskq-sqlite-'));
  const connection = `sqlite:${join(dir, 'taskq.db')}`;
  const queueBroker = new RdsQueueBroker({ connection, receive: 5 });
  const second = new RdsQueueBroker({ connection, receive: 5 });
  const taskLogBroker = new RdsTaskLogBroker({ connection });
  await taskLogBroker.createContainer();
  return {
    queueBroker,
    second,
    taskLogBroker,
    async cleanup() {
      await queueBroker.close();
      await second.close();
      await taskLogBroker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
