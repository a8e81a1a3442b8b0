import { installWorkerSignals, silentLogger, type Worker } from '../../src';
import { until } from '../helpers/wait';

/** A worker as the signal handlers see it. */
function fakeWorker(stop: () => Promise<never>) {
  return { stop: jest.fn(stop), pause: jest.fn(), resume: jest.fn() } as unknown as Worker & { stop: jest.Mock; pause: jest.Mock; resume: jest.Mock };
}

describe('installWorkerSignals', () => {
  test('a stop that fails exits 1 instead of leaving the process hanging', async () => {
    const worker = fakeWorker(() => Promise.reject(new Error('log unreachable')));
    const exit = jest.fn();
    const remove = installWorkerSignals(worker, silentLogger, exit);
    try {
      process.emit('SIGTERM');
      await until(() => exit.mock.calls.length > 0, 2_000, 'exit');
      expect(exit).toHaveBeenCalledWith(1);
      expect(worker.stop).toHaveBeenCalledTimes(1);
    } finally {
      remove();
    }
  });

  test('SIGUSR2 pauses and SIGCONT resumes; a second stop signal exits at once', () => {
    const worker = fakeWorker(() => new Promise<never>(() => undefined));
    const exit = jest.fn();
    const remove = installWorkerSignals(worker, silentLogger, exit);
    try {
      process.emit('SIGUSR2');
      process.emit('SIGCONT');
      expect(worker.pause).toHaveBeenCalledTimes(1);
      expect(worker.resume).toHaveBeenCalledTimes(1);
      process.emit('SIGINT');
      expect(exit).not.toHaveBeenCalled();
      process.emit('SIGINT');
      expect(exit).toHaveBeenCalledWith(1);
    } finally {
      remove();
    }
  });
});
