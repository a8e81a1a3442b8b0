import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InMemoryTaskLogBroker,
  RdsTaskLogBroker,
  Report,
  TaskLog,
  TaskLogFilter,
  TaskNotFoundError,
  TaskStateError,
  TaskStatus,
  TaskqError,
  type NewTaskLogEntry,
  type TaskLogBroker,
  type TaskLogColumn,
  type TaskLogEntry,
} from '../../src';
import { useMysqlDatabase } from '../helpers/mysql';
import { usePostgresDatabase } from '../helpers/postgres';
import { wait } from '../helpers/wait';

interface Setup {
  broker: TaskLogBroker;
  cleanup(): void;
}

// An ICU en-US database, as production ones are: its collation sorts and folds case unlike the
// server's C.UTF-8 default, which is where PostgreSQL strayed from SQLite and memory.
const pgConnection = usePostgresDatabase('task log', { icuLocale: 'en-US' });
let pgTables = 0;
const mysqlConnection = useMysqlDatabase('task log');
let mysqlTables = 0;

const setups: [string, () => Setup][] = [
  ['memory', () => ({ broker: new InMemoryTaskLogBroker(), cleanup: () => undefined })],
  ['sqlite::memory:', () => ({ broker: new RdsTaskLogBroker({ connection: 'sqlite::memory:' }), cleanup: () => undefined })],
  [
    'sqlite file',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'taskq-tasklog-'));
      return { broker: new RdsTaskLogBroker({ connection: `sqlite:${join(dir, 'log.db')}` }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    },
  ],
  // A table of its own per test in the file's database, which is dropped at the end.
  ...(pgConnection ? [['postgres', () => ({ broker: new RdsTaskLogBroker({ connection: pgConnection, table: `task_log_${++pgTables}` }), cleanup: () => undefined })] as [string, () => Setup]] : []),
  ...(mysqlConnection ? [['mysql', () => ({ broker: new RdsTaskLogBroker({ connection: mysqlConnection, table: `task_log_${++mysqlTables}` }), cleanup: () => undefined })] as [string, () => Setup]] : []),
];

const T0 = Date.parse('2024-01-01T00:00:00.000Z');
const minute = (n: number) => new Date(T0 + n * 60_000);

function entry(id: string, fields: Partial<NewTaskLogEntry> = {}): NewTaskLogEntry {
  return { id, parentId: null, taskName: 'Task', label: '', owner: null, queue: 'default', parameters: null, createdAt: minute(0), status: TaskStatus.Enqueued, ...fields };
}

/** Five entries, created one minute apart; e2 is then claimed by worker w1. */
const FIXTURE: NewTaskLogEntry[] = [
  entry('e1', { taskName: 'SendEmail', label: 'Welcome mail', owner: 'alice', queue: 'priority', parameters: { to: 'a@b.c' }, createdAt: minute(1) }),
  entry('e2', { taskName: 'SendEmail', label: 'Reset password', owner: 'bob', queue: 'priority', createdAt: minute(2) }),
  entry('e3', { taskName: 'Resize_Image', label: '100% done', owner: null, queue: 'standard', createdAt: minute(3), status: TaskStatus.Failed, report: Report.error('too big').toJSON() }),
  entry('e4', { taskName: 'CallbackTask:cleanup', label: '', owner: 'alice', queue: 'standard', parentId: 'e1', createdAt: minute(4) }),
  entry('e5', { taskName: 'Report', label: 'Monthly', owner: null, queue: null, createdAt: minute(5), status: TaskStatus.Cancelled }),
];

const ids = (entries: readonly TaskLogEntry[]) => entries.map((e) => e.id);
/** Ids in a stable order, for conditions whose result order is not the point. */
const idSet = (entries: readonly TaskLogEntry[]) => ids(entries).sort();
const filter = () => new TaskLogFilter();
const isDate = (value: unknown): boolean => Object.prototype.toString.call(value) === '[object Date]' && !Number.isNaN((value as Date).getTime());

describe.each(setups)('TaskLog on %s', (_name, setup) => {
  let log: TaskLog;
  let broker: TaskLogBroker;
  let cleanup: () => void;

  beforeEach(async () => {
    ({ broker, cleanup } = setup());
    log = new TaskLog(broker);
    await log.createContainer();
  });

  afterEach(async () => {
    await log.close();
    cleanup();
  });

  /** When e2 was claimed: on the broker's clock, which is this host's (same machine). */
  let e2Started: Date;
  const loadFixture = async () => {
    await log.add(FIXTURE);
    const claim = await broker.claim('e2', 'w1', 3_600_000);
    expect(claim).toEqual({ outcome: 'claimed', attempt: 1, stalls: 0, tookOver: false });
    e2Started = (await log.get('e2'))?.startedAt as Date;
  };

  // ---- add / get -------------------------------------------------------------------------------

  describe('add and get', () => {
    test('get returns every field as stored, dates as Dates', async () => {
      await log.add([entry('a', { parentId: 'p', taskName: 'SendEmail', label: 'Hi', owner: 'alice', queue: 'mail', parameters: { to: 'a@b.c', n: [1, 2] }, createdAt: minute(1) })]);
      const got = await log.get('a');
      expect(got).toEqual({
        id: 'a',
        parentId: 'p',
        taskName: 'SendEmail',
        label: 'Hi',
        status: TaskStatus.Enqueued,
        owner: 'alice',
        queue: 'mail',
        parameters: { to: 'a@b.c', n: [1, 2] },
        report: null,
        progress: null,
        attempts: 0,
        stalls: 0,
        workerId: null,
        leaseUntil: null,
        createdAt: minute(1),
        updatedAt: minute(1),
        startedAt: null,
        finishedAt: null,
        archivedFrom: null,
      });
      expect(isDate(got?.createdAt)).toBe(true);
    });

    test('an entry added as failed keeps its report and is finished at its creation', async () => {
      const report = Report.error('could not decode', { rawPayload: '{' }).toJSON();
      await log.add([entry('f', { status: TaskStatus.Failed, report, createdAt: minute(3) })]);
      expect(await log.get('f')).toMatchObject({ status: TaskStatus.Failed, report, finishedAt: minute(3) });
    });

    test('get, getStatus and getReport of an unknown id give null', async () => {
      expect(await log.get('nope')).toBeNull();
      expect(await log.getStatus('nope')).toBeNull();
      expect(await log.getReport('nope')).toBeNull();
    });

    test('getStatus gives the status; getReport gives a Report, or null before there is one', async () => {
      await log.add([entry('a'), entry('b', { status: TaskStatus.Failed, report: Report.error('bad').add(Report.info('why')).toJSON() })]);
      expect(await log.getStatus('a')).toBe(TaskStatus.Enqueued);
      expect(await log.getReport('a')).toBeNull();
      const report = await log.getReport('b');
      expect(report).toBeInstanceOf(Report);
      expect(report?.toJSON()).toEqual({ type: 'error', message: 'bad', children: [{ type: 'info', message: 'why', children: [] }] });
    });

    test('adding an id twice is refused and keeps the first entry', async () => {
      await log.add([entry('a', { label: 'first' })]);
      // Matched on the message, not with toThrow(): better-sqlite3's native addon makes its errors
      // in the realm of the first test file that loaded it, so they fail instanceof Error here.
      await expect(log.add([entry('a', { label: 'second' })])).rejects.toHaveProperty('message', expect.stringMatching(/already in the task log|unique constraint/i));
      expect((await log.get('a'))?.label).toBe('first');
    });

    test('a batch of many entries is stored whole', async () => {
      const batch = Array.from({ length: 750 }, (_, i) => entry(`b${String(i).padStart(4, '0')}`, { createdAt: minute(i) }));
      await log.add(batch);
      expect(await log.count()).toBe(750);
      expect((await log.get('b0749'))?.createdAt).toEqual(minute(749));
    });

    test('adding nothing is fine', async () => {
      await log.add([]);
      expect(await log.count()).toBe(0);
    });

    test('get returns a copy: changing it does not change the log', async () => {
      await log.add([entry('a', { parameters: { n: 1 } })]);
      const got = (await log.get('a')) as TaskLogEntry;
      got.status = TaskStatus.Completed;
      (got.parameters as { n: number }).n = 2;
      expect(await log.get('a')).toMatchObject({ status: TaskStatus.Enqueued, parameters: { n: 1 } });
    });
  });

  // ---- search ----------------------------------------------------------------------------------

  describe('search', () => {
    beforeEach(loadFixture);

    test('without a filter: everything, oldest first', async () => {
      expect(ids(await log.search())).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
    });

    test('eq', async () => {
      expect(idSet(await log.search(filter().eq('taskName', 'SendEmail')))).toEqual(['e1', 'e2']);
      expect(idSet(await log.search(filter().eq('status', TaskStatus.Running)))).toEqual(['e2']);
      expect(idSet(await log.search(filter().eq('attempts', 1)))).toEqual(['e2']);
      expect(idSet(await log.search(filter().eq('workerId', 'w1')))).toEqual(['e2']);
      expect(idSet(await log.search(filter().eq('parentId', 'e1')))).toEqual(['e4']);
      expect(await log.search(filter().eq('taskName', 'sendemail'))).toEqual([]);
    });

    test('eq null matches the nulls (IS NULL)', async () => {
      expect(idSet(await log.search(filter().eq('owner', null)))).toEqual(['e3', 'e5']);
      expect(idSet(await log.search(filter().eq('queue', null)))).toEqual(['e5']);
      expect(idSet(await log.search(filter().eq('startedAt', null)))).toEqual(['e1', 'e3', 'e4', 'e5']);
    });

    test('neq leaves out the value and, as SQL does, the nulls', async () => {
      expect(idSet(await log.search(filter().neq('owner', 'alice')))).toEqual(['e2']);
      expect(idSet(await log.search(filter().neq('taskName', 'SendEmail')))).toEqual(['e3', 'e4', 'e5']);
    });

    test('neq null matches the non-nulls (IS NOT NULL)', async () => {
      expect(idSet(await log.search(filter().neq('owner', null)))).toEqual(['e1', 'e2', 'e4']);
      expect(idSet(await log.search(filter().neq('parentId', null)))).toEqual(['e4']);
    });

    test('lt, lte, gt, gte on dates given as Date values', async () => {
      expect(idSet(await log.search(filter().lt('createdAt', minute(3))))).toEqual(['e1', 'e2']);
      expect(idSet(await log.search(filter().lte('createdAt', minute(3))))).toEqual(['e1', 'e2', 'e3']);
      expect(idSet(await log.search(filter().gt('createdAt', minute(3))))).toEqual(['e4', 'e5']);
      expect(idSet(await log.search(filter().gte('createdAt', minute(3))))).toEqual(['e3', 'e4', 'e5']);
      expect(idSet(await log.search(filter().gte('createdAt', minute(2)).lt('createdAt', minute(4))))).toEqual(['e2', 'e3']);
    });

    test('eq on a date column with a Date value', async () => {
      expect(idSet(await log.search(filter().eq('createdAt', minute(4))))).toEqual(['e4']);
      expect(idSet(await log.search(filter().eq('startedAt', e2Started)))).toEqual(['e2']);
      expect(await log.search(filter().eq('createdAt', new Date(minute(4).getTime() + 1)))).toEqual([]);
    });

    test('comparisons never match a null date', async () => {
      expect(idSet(await log.search(filter().gt('startedAt', new Date(0))))).toEqual(['e2']);
      expect(idSet(await log.search(filter().lt('startedAt', new Date(Date.now() + 60_000))))).toEqual(['e2']);
      expect(idSet(await log.search(filter().lte('finishedAt', minute(1_000))))).toEqual(['e3']);
    });

    test('lt, gt on numbers and strings', async () => {
      expect(idSet(await log.search(filter().gt('attempts', 0)))).toEqual(['e2']);
      expect(idSet(await log.search(filter().lte('attempts', 0)))).toEqual(['e1', 'e3', 'e4', 'e5']);
      expect(idSet(await log.search(filter().lt('id', 'e3')))).toEqual(['e1', 'e2']);
      expect(idSet(await log.search(filter().gte('taskName', 'S')))).toEqual(['e1', 'e2']);
    });

    test('like: % is any run of characters, case is ignored', async () => {
      expect(idSet(await log.search(filter().like('taskName', 'send%')))).toEqual(['e1', 'e2']);
      expect(idSet(await log.search(filter().like('taskName', 'SEND%')))).toEqual(['e1', 'e2']);
      expect(idSet(await log.search(filter().like('label', '%MAIL')))).toEqual(['e1']);
      expect(idSet(await log.search(filter().like('label', '%o%')))).toEqual(['e1', 'e2', 'e3', 'e5']);
      expect(idSet(await log.search(filter().like('taskName', 'CallbackTask:%')))).toEqual(['e4']);
      expect(await log.search(filter().like('taskName', 'send'))).toEqual([]);
    });

    test('like: _ is exactly one character', async () => {
      expect(idSet(await log.search(filter().like('taskName', 'Repor_')))).toEqual(['e5']);
      expect(await log.search(filter().like('taskName', 'Repo_'))).toEqual([]);
      expect(idSet(await log.search(filter().like('taskName', 'resize_image')))).toEqual(['e3']);
      expect(idSet(await log.search(filter().like('id', 'e_')))).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
    });

    test('like: other characters are literal, regular-expression ones too', async () => {
      expect(await log.search(filter().like('label', 'Welcome.mail'))).toEqual([]);
      expect(await log.search(filter().like('label', 'Welcome mail+'))).toEqual([]);
      expect(await log.search(filter().like('label', '(Welcome) mail'))).toEqual([]);
      expect(idSet(await log.search(filter().like('label', '100% done')))).toEqual(['e3']);
    });

    test('like never matches a null', async () => {
      expect(idSet(await log.search(filter().like('owner', '%')))).toEqual(['e1', 'e2', 'e4']);
    });

    test('in and notIn', async () => {
      expect(idSet(await log.search(filter().in('status', [TaskStatus.Enqueued, TaskStatus.Failed])))).toEqual(['e1', 'e3', 'e4']);
      expect(idSet(await log.search(filter().in('queue', ['priority'])))).toEqual(['e1', 'e2']);
      expect(idSet(await log.search(filter().notIn('status', [TaskStatus.Enqueued, TaskStatus.Failed])))).toEqual(['e2', 'e5']);
      expect(idSet(await log.search(filter().in('createdAt', [minute(1), minute(5), minute(99)])))).toEqual(['e1', 'e5']);
      expect(idSet(await log.search(filter().in('attempts', [1])))).toEqual(['e2']);
    });

    test('in with no values matches nothing', async () => {
      expect(await log.search(filter().in('status', []))).toEqual([]);
    });

    test('notIn, as SQL NOT IN, never matches a null', async () => {
      expect(idSet(await log.search(filter().notIn('owner', ['alice'])))).toEqual(['e2']);
      expect(idSet(await log.search(filter().notIn('queue', ['priority'])))).toEqual(['e3', 'e4']);
    });

    test('conditions are ANDed', async () => {
      expect(idSet(await log.search(filter().eq('owner', 'alice').eq('queue', 'standard')))).toEqual(['e4']);
      expect(await log.search(filter().eq('owner', 'alice').eq('status', TaskStatus.Failed))).toEqual([]);
    });

    test('sort ascending and descending', async () => {
      expect(ids(await log.search(filter().sort('createdAt', 'desc')))).toEqual(['e5', 'e4', 'e3', 'e2', 'e1']);
      expect(ids(await log.search(filter().sort('createdAt', 'asc')))).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
      expect(ids(await log.search(filter().sort('label')))).toEqual(['e4', 'e3', 'e5', 'e2', 'e1']);
    });

    test('sort by several columns', async () => {
      expect(ids(await log.search(filter().sort('taskName', 'asc').sort('createdAt', 'desc')))).toEqual(['e4', 'e5', 'e3', 'e2', 'e1']);
      expect(ids(await log.search(filter().sort('owner', 'desc').sort('id', 'desc')))).toEqual(['e2', 'e4', 'e1', 'e5', 'e3']);
    });

    test('sort puts nulls first ascending and last descending', async () => {
      expect(ids(await log.search(filter().sort('owner').sort('id')))).toEqual(['e3', 'e5', 'e1', 'e4', 'e2']);
      expect(ids(await log.search(filter().sort('startedAt', 'desc').sort('id')))).toEqual(['e2', 'e1', 'e3', 'e4', 'e5']);
    });

    test('limit and offset', async () => {
      expect(ids(await log.search(filter().sort('createdAt').limit(2)))).toEqual(['e1', 'e2']);
      expect(ids(await log.search(filter().sort('createdAt').limit(2).offset(1)))).toEqual(['e2', 'e3']);
      expect(ids(await log.search(filter().sort('createdAt').offset(3)))).toEqual(['e4', 'e5']);
      expect(ids(await log.search(filter().sort('createdAt', 'desc').limit(1)))).toEqual(['e5']);
      expect(await log.search(filter().limit(0))).toEqual([]);
      expect(await log.search(filter().offset(10))).toEqual([]);
    });

    test('paging applies after the conditions', async () => {
      expect(ids(await log.search(filter().neq('owner', null).sort('createdAt').limit(2).offset(1)))).toEqual(['e2', 'e4']);
    });

    test('count counts what the conditions match and ignores paging', async () => {
      expect(await log.count()).toBe(5);
      expect(await log.count(filter().eq('owner', 'alice'))).toBe(2);
      expect(await log.count(filter().eq('owner', 'alice').limit(1).offset(1))).toBe(2);
      expect(await log.count(filter().eq('taskName', 'nothing'))).toBe(0);
    });

    test('search results carry the claimed state', async () => {
      const [e2] = await log.search(filter().eq('id', 'e2'));
      expect(e2).toMatchObject({ status: TaskStatus.Running, workerId: 'w1', attempts: 1, startedAt: e2Started });
      expect(e2?.leaseUntil?.getTime()).toBe(e2Started.getTime() + 3_600_000);
    });
  });

  // ---- filter validation -------------------------------------------------------------------------

  describe('filter validation', () => {
    test('an unknown column is refused before any query, naming it and the allowed ones', () => {
      expect(() => filter().eq('nope' as TaskLogColumn, 1)).toThrow(TaskqError);
      expect(() => filter().eq('nope' as TaskLogColumn, 1)).toThrow(/^Unknown task log column "nope"; filterable columns: id, parentId, taskName, /);
      expect(() => filter().like('report' as TaskLogColumn, '%')).toThrow('Unknown task log column "report"');
      expect(() => filter().sort('id; DROP TABLE taskq_task_log' as TaskLogColumn)).toThrow('Unknown task log column');
      expect(() => filter().in('task_name' as TaskLogColumn, ['x'])).toThrow('Unknown task log column "task_name"');
    });

    test('bad sort direction, limit and offset are refused', () => {
      expect(() => filter().sort('id', 'up' as 'asc')).toThrow('Sort direction must be asc or desc, got "up"');
      expect(() => filter().limit(-1)).toThrow('Filter limit must be an integer >= 0, got -1');
      expect(() => filter().limit(1.5)).toThrow(TaskqError);
      expect(() => filter().offset(-2)).toThrow('Filter offset must be an integer >= 0, got -2');
      expect(() => filter().limit(Number.NaN)).toThrow('Filter limit must be an integer >= 0, got NaN');
      expect(() => filter().limit(Infinity)).toThrow('Filter limit must be an integer >= 0, got Infinity');
      expect(() => filter().limit(2 ** 53)).toThrow(TaskqError);
      expect(() => filter().limit('5' as unknown as number)).toThrow('Filter limit must be an integer >= 0, got "5"');
      expect(() => filter().offset(0.5)).toThrow('Filter offset must be an integer >= 0, got 0.5');
    });

    test('a value that looks like SQL is only ever a value', async () => {
      await log.add([entry('a', { label: "x' OR '1'='1" })]);
      expect(await log.search(filter().eq('label', "' OR '1'='1"))).toEqual([]);
      expect(ids(await log.search(filter().eq('label', "x' OR '1'='1")))).toEqual(['a']);
      expect(await log.count()).toBe(1);
    });
  });

  // ---- one behaviour on every broker (issue 5, points 6 and 7) ----------------------------------------

  describe('typed values', () => {
    beforeEach(loadFixture);

    test('a time column takes a Date, epoch ms or an ISO 8601 string, all alike', async () => {
      expect(idSet(await log.search(filter().gt('createdAt', minute(3))))).toEqual(['e4', 'e5']);
      expect(idSet(await log.search(filter().gt('createdAt', minute(3).getTime())))).toEqual(['e4', 'e5']);
      expect(idSet(await log.search(filter().gt('createdAt', '2024-01-01T00:03:00.000Z')))).toEqual(['e4', 'e5']);
      expect(idSet(await log.search(filter().gt('createdAt', '2024-01-01T01:03:00+01:00')))).toEqual(['e4', 'e5']);
      expect(idSet(await log.search(filter().eq('startedAt', e2Started.toISOString())))).toEqual(['e2']);
      expect(idSet(await log.search(filter().in('createdAt', ['2024-01-01T00:01:00Z', minute(5).getTime(), minute(99)])))).toEqual(['e1', 'e5']);
      expect(await log.count(filter().gte('createdAt', '2024-01-01').lt('createdAt', '2024-01-02'))).toBe(5);
    });

    test('a string that is not a time is refused, naming the column', () => {
      expect(() => filter().gt('createdAt', 'yesterday')).toThrow(TaskqError);
      expect(() => filter().gt('createdAt', 'yesterday')).toThrow(
        'Task log filter gt("createdAt", "yesterday"): "yesterday" is not a valid time for createdAt, which takes a Date, integer epoch milliseconds or an ISO 8601 date string',
      );
      expect(() => filter().eq('finishedAt', '2024-02-30')).toThrow('"2024-02-30" is not a valid time for finishedAt');
      expect(() => filter().lt('updatedAt', 'Mon, 01 Jan 2024 00:00:00 GMT')).toThrow('is not a valid time for updatedAt');
      expect(() => filter().in('startedAt', [minute(1), 'soon'])).toThrow('"soon" is not a valid time for startedAt');
      expect(() => filter().eq('createdAt', new Date(Number.NaN))).toThrow('Invalid Date is not a valid time for createdAt');
      expect(() => filter().eq('createdAt', 1.5)).toThrow('1.5 is not a valid time for createdAt');
    });

    test('attempts takes integers, text columns take strings', () => {
      expect(() => filter().eq('attempts', '1')).toThrow('Task log filter eq("attempts", "1"): attempts is an integer column, it takes integers (32-bit), not "1"');
      expect(() => filter().gt('attempts', 0.5)).toThrow('attempts is an integer column');
      expect(() => filter().gt('attempts', 2 ** 31)).toThrow('attempts is an integer column');
      expect(() => filter().in('attempts', [1, '2'])).toThrow('not "2"');
      expect(() => filter().eq('taskName', 5)).toThrow('Task log filter eq("taskName", 5): taskName is a text column, it takes strings, not 5');
      expect(() => filter().eq('owner', minute(1))).toThrow('owner is a text column, it takes strings, not Date(2024-01-01T00:01:00.000Z)');
      expect(() => filter().notIn('status', [TaskStatus.Failed, 1])).toThrow('status is a text column');
    });

    test('null goes with eq and neq only', () => {
      expect(() => filter().lt('startedAt', null as unknown as Date)).toThrow('Task log filter lt("startedAt", null): null is only allowed with eq and neq (IS NULL, IS NOT NULL)');
      expect(() => filter().in('owner', [null] as unknown as string[])).toThrow('null is only allowed with eq and neq');
      expect(() => filter().in('owner', 'alice' as unknown as string[])).toThrow('Task log filter in("owner", "alice"): in takes an array of values');
    });

    test('like on attempts or a time column is refused with a clear error', () => {
      expect(() => filter().like('attempts', '1%')).toThrow(TaskqError);
      expect(() => filter().like('attempts', '1%')).toThrow('Task log filter like("attempts", "1%"): like applies to text columns only; attempts is an integer column');
      expect(() => filter().like('createdAt', '2024%')).toThrow('like applies to text columns only; createdAt is a time column');
      expect(() => filter().like('finishedAt', '%')).toThrow('finishedAt is a time column');
      expect(() => filter().like('label', 5 as unknown as string)).toThrow('a like pattern is a string');
    });
  });

  describe('like, alike everywhere', () => {
    beforeEach(() =>
      log.add([
        entry('path', { label: 'C:\\temp\\a_b' }),
        entry('pct', { label: '50%' }),
        entry('slash-pct', { label: '50\\%' }),
        entry('lower', { label: 'café' }),
        entry('upper', { label: 'CAFÉ' }),
        entry('emoji', { label: 'x😀y' }),
        entry('lines', { label: 'line1\nline2' }),
        entry('bang', { label: 'Hi!%_' }),
      ]),
    );

    test('no character but % and _ is special: ! (MySQL’s escape here) and ESCAPE words are literal', async () => {
      expect(ids(await log.search(filter().like('label', 'hi!%')))).toEqual(['bang']);
      expect(ids(await log.search(filter().like('label', '%!%')))).toEqual(['bang']);
      expect(await log.search(filter().like('label', 'hi%!'))).toEqual([]);
      expect(await log.search(filter().like('label', "hi' ESCAPE '!"))).toEqual([]);
    });

    test('a backslash is a literal character, never an escape', async () => {
      expect(ids(await log.search(filter().like('label', 'c:\\temp\\%')))).toEqual(['path']);
      expect(ids(await log.search(filter().like('label', 'C:\\TEMP\\A_B')))).toEqual(['path']);
      expect(ids(await log.search(filter().like('label', '50\\%')))).toEqual(['slash-pct']);
      expect(idSet(await log.search(filter().like('label', '50%')))).toEqual(['pct', 'slash-pct']);
      expect(await log.search(filter().like('label', '\\%'))).toEqual([]);
    });

    test('case is ignored for ASCII letters only, as SQLite does', async () => {
      expect(idSet(await log.search(filter().like('label', 'CAF%')))).toEqual(['lower', 'upper']);
      expect(ids(await log.search(filter().like('label', 'café')))).toEqual(['lower']);
      expect(ids(await log.search(filter().like('label', 'cafÉ')))).toEqual(['upper']);
    });

    test('_ is one character, even beyond U+FFFF; % spans lines', async () => {
      expect(ids(await log.search(filter().like('label', 'x_y')))).toEqual(['emoji']);
      expect(await log.search(filter().like('label', 'x__y'))).toEqual([]);
      expect(ids(await log.search(filter().like('label', 'line1%line2')))).toEqual(['lines']);
      expect(ids(await log.search(filter().like('label', 'line1_line2')))).toEqual(['lines']);
    });
  });

  describe('order, alike everywhere', () => {
    const labels = (entries: readonly TaskLogEntry[]) => entries.map((e) => e.label);

    test('text sorts and compares by code point, not by a database collation', async () => {
      await log.add(['a', 'B', '_x', 'Z', 'é', 'É', '\uFF01', '😀'].map((label, i) => entry(`t${i}`, { label })));
      const byCodePoint = ['B', 'Z', '_x', 'a', 'É', 'é', '\uFF01', '😀'];
      expect(labels(await log.search(filter().sort('label')))).toEqual(byCodePoint);
      expect(labels(await log.search(filter().sort('label', 'desc')))).toEqual([...byCodePoint].reverse());
      expect(labels(await log.search(filter().gt('label', 'Z').sort('label')))).toEqual(['_x', 'a', 'É', 'é', '\uFF01', '😀']);
      expect(labels(await log.search(filter().lte('label', '\uFF01').sort('label')))).toEqual(byCodePoint.slice(0, 7));
    });

    test('NULLs come first ascending and last descending', async () => {
      await loadFixture();
      expect(ids(await log.search(filter().sort('startedAt')))).toEqual(['e1', 'e3', 'e4', 'e5', 'e2']);
      expect(ids(await log.search(filter().sort('finishedAt', 'desc')))).toEqual(['e3', 'e1', 'e2', 'e4', 'e5']);
      expect(ids(await log.search(filter().sort('owner', 'desc')))).toEqual(['e2', 'e1', 'e4', 'e3', 'e5']);
      expect(ids(await log.search(filter().sort('queue')))).toEqual(['e5', 'e1', 'e2', 'e3', 'e4']);
    });

    test('ties are broken by createdAt then id, so pages neither overlap nor skip', async () => {
      await log.add([entry('c', { createdAt: minute(1) }), entry('a', { createdAt: minute(1) }), entry('b', { createdAt: minute(0) }), entry('d', { createdAt: minute(1) })]);
      expect(ids(await log.search())).toEqual(['b', 'a', 'c', 'd']);
      expect(ids(await log.search(filter().sort('taskName')))).toEqual(['b', 'a', 'c', 'd']);
      expect(ids(await log.search(filter().sort('createdAt', 'desc')))).toEqual(['a', 'c', 'd', 'b']);
      const pages: string[] = [];
      for (let offset = 0; offset < 4; offset++) pages.push(...ids(await log.search(filter().sort('queue').limit(1).offset(offset))));
      expect(pages).toEqual(['b', 'a', 'c', 'd']);
    });
  });

  describe('a filter cannot be bypassed', () => {
    beforeEach(loadFixture);

    test('its state is private: fields set on it from outside change nothing', async () => {
      const f = filter().eq('id', 'e1');
      expect(Object.keys(f)).toEqual([]);
      Object.assign(f, {
        conditions: [{ column: 'id', operator: 'bogus', value: 'x' }],
        sorts: [{ column: 'nope', direction: 'sideways' }],
        limitValue: 1.5,
        offsetValue: -1,
      });
      expect(ids(await log.search(f))).toEqual(['e1']);
      expect(await log.count(f)).toBe(1);
      expect((await log.getStats(f)).total).toBe(1);
    });

    test('what brokers run is a frozen snapshot of it', () => {
      const snapshot = TaskLogFilter.snapshot(filter().eq('id', 'e1').in('createdAt', [minute(1)]).sort('label').limit(2));
      expect(snapshot).toEqual({
        conditions: [
          { column: 'id', operator: 'eq', value: 'e1' },
          { column: 'createdAt', operator: 'in', values: [minute(1).getTime()] },
        ],
        sorts: [
          { column: 'label', direction: 'asc' },
          { column: 'createdAt', direction: 'asc' },
          { column: 'id', direction: 'asc' },
        ],
        limit: 2,
        offset: undefined,
      });
      expect([snapshot, snapshot.conditions, snapshot.sorts, ...snapshot.conditions, ...snapshot.sorts].every((part) => Object.isFrozen(part))).toBe(true);
      expect(() => (snapshot.conditions as unknown as unknown[]).push({ column: 'id', operator: 'bogus' })).toThrow(TypeError);
    });

    test('an object cast to TaskLogFilter is refused by every broker', async () => {
      const forged = { conditions: [{ column: 'id', operator: 'bogus', value: 'x' }], sorts: [], withoutPaging: () => forged } as unknown as TaskLogFilter;
      await expect(broker.search(forged)).rejects.toThrow(TaskqError);
      await expect(broker.search(forged)).rejects.toThrow('Not a TaskLogFilter: [object Object]; build filters with new TaskLogFilter() and its methods');
      await expect(broker.count(forged)).rejects.toThrow('Not a TaskLogFilter');
      await expect(broker.countByStatus(forged)).rejects.toThrow('Not a TaskLogFilter');
      await expect(broker.countFinished(forged, new Date(), 60_000, 1)).rejects.toThrow('Not a TaskLogFilter');
      await expect(log.count(forged)).rejects.toThrow('Not a TaskLogFilter');
      await expect(log.search(Object.create(TaskLogFilter.prototype) as TaskLogFilter)).rejects.toThrow('Not a TaskLogFilter');
    });

    test('a broker refuses an unknown operator, column or direction rather than skip it', async () => {
      // What a broker would be handed if the snapshot were bypassed (monkey-patched here).
      const forge = (snapshot: object) => jest.spyOn(TaskLogFilter, 'snapshot').mockReturnValue(snapshot as ReturnType<typeof TaskLogFilter.snapshot>);
      try {
        forge({ conditions: [{ column: 'id', operator: 'bogus', value: 'x' }], sorts: [] });
        await expect(broker.search(filter())).rejects.toThrow('Unknown task log filter operator "bogus"');
        await expect(broker.count(filter())).rejects.toThrow('Unknown task log filter operator "bogus"');
        await expect(broker.countByStatus(filter())).rejects.toThrow('Unknown task log filter operator "bogus"');
        await expect(broker.countFinished(filter(), new Date(), 60_000, 1)).rejects.toThrow('Unknown task log filter operator "bogus"');
        forge({ conditions: [{ column: 'nope', operator: 'eq', value: 'x' }], sorts: [] });
        await expect(broker.search(filter())).rejects.toThrow('Unknown task log filter column "nope"');
        await expect(broker.count(filter())).rejects.toThrow('Unknown task log filter column "nope"');
        forge({ conditions: [], sorts: [{ column: 'nope', direction: 'asc' }] });
        await expect(broker.search(filter())).rejects.toThrow('Unknown task log filter column "nope"');
        forge({ conditions: [], sorts: [{ column: 'id', direction: 'sideways' }] });
        await expect(broker.search(filter())).rejects.toThrow('Unknown task log filter direction "sideways"');
      } finally {
        jest.restoreAllMocks();
      }
    });
  });

  // ---- stats ------------------------------------------------------------------------------------

  describe('getStats', () => {
    test('every status is present, zeros and enqueued included, with the total', async () => {
      expect(await log.getStats()).toEqual({
        enqueued: 0,
        dequeued: 0,
        running: 0,
        child_running: 0,
        completed: 0,
        failed: 0,
        cancelled: 0,
        archived: 0,
        total: 0,
      });
      await loadFixture();
      await log.markDequeued(['e4']);
      expect(await log.getStats()).toEqual({
        enqueued: 1,
        dequeued: 1,
        running: 1,
        child_running: 0,
        completed: 0,
        failed: 1,
        cancelled: 1,
        archived: 0,
        total: 5,
      });
    });

    test('counts only what the filter matches', async () => {
      await loadFixture();
      expect(await log.getStats(filter().eq('owner', 'alice').limit(1))).toMatchObject({ enqueued: 2, running: 0, failed: 0, total: 2 });
      // A filter on one parent, and one of 3,000 values (SQL counts it in one GROUP BY then, under the databases' binding limits).
      expect(await log.getStats(filter().eq('parentId', 'nobody'))).toMatchObject({ total: 0 });
      const ids = ['e1', 'e2', ...Array.from({ length: 2_998 }, (_, i) => `absent-${i}`)];
      expect(await log.getStats(filter().in('id', ids))).toMatchObject({ enqueued: 1, running: 1, total: 2 });
      expect(await log.getStats(filter().in('taskName', ['SendEmail', ...ids]))).toMatchObject({ total: 2 });
    });
  });

  describe('throughput', () => {
    const MINUTE = 60_000;

    test('counts completed and failed tasks per interval by when they finished, every interval present, archived and unfinished left out', async () => {
      const now = Date.now();
      await log.add([
        entry('done-1', { owner: 'alice' }),
        entry('done-2'),
        entry('fails'),
        entry('waits'),
        entry('archived'),
        // Added as failed: finished when created (an unknown task's entry, say), 10 and 90 minutes ago.
        entry('failed-before', { status: TaskStatus.Failed, createdAt: new Date(now - 10 * MINUTE), owner: 'alice' }),
        entry('failed-long-ago', { status: TaskStatus.Failed, createdAt: new Date(now - 90 * MINUTE) }),
      ]);
      for (const id of ['done-1', 'done-2', 'archived']) expect(await broker.changeStatus(id, { from: [TaskStatus.Enqueued], to: TaskStatus.Completed, finished: true })).toBe(true);
      expect(await broker.changeStatus('fails', { from: [TaskStatus.Enqueued], to: TaskStatus.Failed, finished: true })).toBe(true);
      await log.archive('archived');

      const hour = await log.throughput();
      expect(hour.intervalMs).toBe(MINUTE);
      const first = Math.floor((now - 60 * MINUTE) / MINUTE) * MINUTE;
      expect(hour.since).toEqual(new Date(first));
      // One interval per minute from an hour ago to this one: 61, or 62 when a minute began during the call.
      expect(hour.intervals.length === 61 || hour.intervals.length === 62).toBe(true);
      hour.intervals.forEach((interval, i) => expect(interval.start).toEqual(new Date(first + i * MINUTE)));
      const at = (time: number) => hour.intervals[Math.floor((time - first) / MINUTE)];
      expect(at(now - 10 * MINUTE)).toMatchObject({ completed: 0, failed: 1 });
      const sum = (key: 'completed' | 'failed') => hour.intervals.reduce((n, interval) => n + interval[key], 0);
      expect(sum('completed')).toBe(2);
      expect(sum('failed')).toBe(2);
      // The ones that finished just now are in the last interval or the one before (a minute may have turned).
      const lastTwo = hour.intervals.slice(-2);
      expect(lastTwo.reduce((n, interval) => n + interval.completed, 0)).toBe(2);

      const alice = await log.throughput({ filter: filter().eq('owner', 'alice').limit(1) });
      expect(alice.intervals.reduce((n, interval) => n + interval.completed, 0)).toBe(1);
      expect(alice.intervals.reduce((n, interval) => n + interval.failed, 0)).toBe(1);

      const longer = await log.throughput({ since: new Date(now - 2 * 3_600_000), intervalMs: 30 * MINUTE });
      expect(longer.intervals.reduce((n, interval) => n + interval.failed, 0)).toBe(3);
      expect(longer.intervals.length).toBeGreaterThanOrEqual(4);
    });

    test('seconds as intervals, and bad options refused', async () => {
      await log.add([entry('a'), entry('b')]);
      for (const id of ['a', 'b']) await broker.changeStatus(id, { from: [TaskStatus.Enqueued], to: TaskStatus.Completed, finished: true });
      const recent = await log.throughput({ since: new Date(Date.now() - 10_000), intervalMs: 1_000 });
      expect(recent.intervals.reduce((n, interval) => n + interval.completed, 0)).toBe(2);
      expect(recent.intervals.length).toBeGreaterThanOrEqual(11);
      // 900 intervals and a filter of 300 values: several statements on SQL, each under the databases' limits.
      const names = ['Task', ...Array.from({ length: 299 }, (_, i) => `Other${i}`)];
      const many = await log.throughput({ since: new Date(Date.now() - 900_000), intervalMs: 1_000, filter: filter().in('taskName', names) });
      expect(many.intervals.length).toBeGreaterThanOrEqual(901);
      expect(many.intervals.reduce((n, interval) => n + interval.completed, 0)).toBe(2);
      expect(many.intervals.filter((interval) => interval.completed > 0).every((interval) => Date.now() - interval.start.getTime() < 60_000)).toBe(true);
      await expect(log.throughput({ intervalMs: 10 })).rejects.toThrow(/intervalMs must be a whole number of milliseconds, at least 1000, got 10/);
      await expect(log.throughput({ since: new Date(0), intervalMs: 1_000 })).rejects.toThrow(/at most 1000/);
      await expect(log.throughput({ since: new Date('nope') })).rejects.toThrow(/since must be a valid Date/);
    });
  });

  // ---- claim ------------------------------------------------------------------------------------
  // Leases are on the broker's own clock (the database's, for SQL): tests give lengths, and check
  // the times against this process's clock within a margin (same host, same clock).

  const HOUR = 3_600_000;
  const near = (date: Date | null | undefined, expected: number, margin = 2_000) => {
    expect(date).toBeInstanceOf(Date);
    expect(Math.abs((date as Date).getTime() - expected)).toBeLessThan(margin);
  };
  const expire = () => wait(30);

  describe('claim', () => {
    beforeEach(() => log.add([entry('t')]));

    test('an enqueued task is claimed: running, with worker, lease, start and one attempt', async () => {
      expect(await broker.claim('t', 'w1', HOUR)).toEqual({ outcome: 'claimed', attempt: 1, stalls: 0, tookOver: false });
      const got = await log.get('t');
      expect(got).toMatchObject({ status: TaskStatus.Running, workerId: 'w1', attempts: 1, stalls: 0 });
      near(got?.startedAt, Date.now());
      near(got?.leaseUntil, Date.now() + HOUR);
    });

    test('a dequeued task is claimed too', async () => {
      await log.markDequeued(['t']);
      expect(await log.getStatus('t')).toBe(TaskStatus.Dequeued);
      expect(await broker.claim('t', 'w1', HOUR)).toEqual({ outcome: 'claimed', attempt: 1, stalls: 0, tookOver: false });
    });

    test('a second claim while the lease is live is busy for about the lease left, and changes nothing', async () => {
      await broker.claim('t', 'w1', HOUR);
      const busy = await broker.claim('t', 'w2', HOUR);
      expect(busy).toMatchObject({ outcome: 'busy' });
      expect(busy.outcome === 'busy' && busy.retryAfterMs).toBeGreaterThan(HOUR - 5_000);
      // The same worker is no exception: a claim is never renewed by claiming again.
      expect(await broker.claim('t', 'w1', HOUR)).toMatchObject({ outcome: 'busy' });
      expect(await log.get('t')).toMatchObject({ workerId: 'w1', attempts: 1 });
    });

    test('once the lease has run out another worker claims it, counting a second attempt and a stall', async () => {
      await broker.claim('t', 'w1', 1);
      await expire();
      expect(await broker.claim('t', 'w2', HOUR)).toEqual({ outcome: 'claimed', attempt: 2, stalls: 1, tookOver: true });
      const got = await log.get('t');
      expect(got).toMatchObject({ status: TaskStatus.Running, workerId: 'w2', attempts: 2, stalls: 1 });
      near(got?.leaseUntil, Date.now() + HOUR);
    });

    test('a retry (back to enqueued by its holder) is claimed again without a stall', async () => {
      await broker.claim('t', 'w1', HOUR);
      expect(await log.changeStatus('t', { from: [TaskStatus.Running], to: TaskStatus.Enqueued, holder: { workerId: 'w1', attempt: 1 }, releaseLease: true })).toBe(true);
      expect(await broker.claim('t', 'w2', HOUR)).toEqual({ outcome: 'claimed', attempt: 2, stalls: 0, tookOver: false });
    });

    test('a retry after a takeover is claimed without being one: the stall stays counted, tookOver is false', async () => {
      await broker.claim('t', 'w1', 1);
      await expire();
      expect(await broker.claim('t', 'w2', HOUR)).toMatchObject({ attempt: 2, stalls: 1, tookOver: true });
      expect(await log.changeStatus('t', { from: [TaskStatus.Running], to: TaskStatus.Enqueued, holder: { workerId: 'w2', attempt: 2 }, releaseLease: true })).toBe(true);
      expect(await broker.claim('t', 'w3', HOUR)).toEqual({ outcome: 'claimed', attempt: 3, stalls: 1, tookOver: false });
    });

    test.each([TaskStatus.Completed, TaskStatus.Failed, TaskStatus.Cancelled, TaskStatus.Archived, TaskStatus.ChildRunning])(
      'a %s task is not runnable',
      async (status) => {
        await log.add([entry('x', { status })]);
        expect(await broker.claim('x', 'w1', HOUR)).toEqual({ outcome: 'not-runnable', status });
        expect(await log.get('x')).toMatchObject({ status, attempts: 0, workerId: null });
      },
    );

    test('a task that was run and completed is not runnable again', async () => {
      await broker.claim('t', 'w1', HOUR);
      expect(await log.changeStatus('t', { from: [TaskStatus.Running], to: TaskStatus.Completed, holder: { workerId: 'w1', attempt: 1 }, finished: true })).toBe(true);
      expect(await broker.claim('t', 'w2', HOUR)).toEqual({ outcome: 'not-runnable', status: TaskStatus.Completed });
    });

    test('an unknown id is missing', async () => {
      expect(await broker.claim('unknown', 'w1', HOUR)).toEqual({ outcome: 'missing' });
      expect(await log.claim('unknown', 'w1', 1_000)).toEqual({ outcome: 'missing' });
    });
  });

  // ---- leases -----------------------------------------------------------------------------------

  describe('renewLeases', () => {
    test('renews only the claims the worker still holds (same attempt), and extends those leases', async () => {
      await log.add([entry('a'), entry('b'), entry('c'), entry('d')]);
      await broker.claim('a', 'w1', 60_000);
      await broker.claim('b', 'w1', 1);
      await broker.claim('c', 'w2', 60_000);
      // b's lease runs out and w2 takes it over; d is still enqueued.
      await expire();
      await broker.claim('b', 'w2', 60_000);
      const claims = ['a', 'b', 'c', 'd', 'unknown'].map((id) => ({ id, attempt: 1 }));
      expect(await broker.renewLeases('w1', claims, HOUR)).toEqual(['a']);
      near((await log.get('a'))?.leaseUntil, Date.now() + HOUR);
      near((await log.get('b'))?.leaseUntil, Date.now() + 60_000);
      near((await log.get('c'))?.leaseUntil, Date.now() + 60_000);
    });

    test('a claim taken again by the same worker renews only under the newer attempt', async () => {
      await log.add([entry('a')]);
      await broker.claim('a', 'w1', 1);
      await expire();
      await broker.claim('a', 'w1', 60_000);
      expect(await broker.renewLeases('w1', [{ id: 'a', attempt: 1 }], HOUR)).toEqual([]);
      expect(await broker.renewLeases('w1', [{ id: 'a', attempt: 2 }], HOUR)).toEqual(['a']);
    });

    test('a lease that lapsed is still renewed while no one claimed the task', async () => {
      await log.add([entry('a')]);
      await broker.claim('a', 'w1', 1);
      await expire();
      expect(await log.renewLeases('w1', [{ id: 'a', attempt: 1 }], HOUR)).toEqual(['a']);
      expect(await broker.claim('a', 'w2', HOUR)).toMatchObject({ outcome: 'busy' });
    });

    test('a task that ended is not renewed', async () => {
      await log.add([entry('a'), entry('b')]);
      await broker.claim('a', 'w1', 60_000);
      await broker.claim('b', 'w1', 60_000);
      await log.cancel('b', { force: true });
      expect(await log.renewLeases('w1', [{ id: 'a', attempt: 1 }, { id: 'b', attempt: 1 }], 60_000)).toEqual(['a']);
      expect(await log.renewLeases('w1', [], 60_000)).toEqual([]);
    });
  });

  // ---- changeStatus -------------------------------------------------------------------------------

  describe('changeStatus', () => {
    const w1 = { workerId: 'w1', attempt: 1 };
    beforeEach(async () => {
      await log.add([entry('t')]);
      await broker.claim('t', 'w1', HOUR);
    });

    test('applies only from one of the given statuses', async () => {
      expect(await log.changeStatus('t', { from: [TaskStatus.Enqueued, TaskStatus.Dequeued], to: TaskStatus.Completed })).toBe(false);
      expect(await log.getStatus('t')).toBe(TaskStatus.Running);
      expect(await log.changeStatus('t', { from: [TaskStatus.Enqueued, TaskStatus.Running], to: TaskStatus.Completed })).toBe(true);
      expect(await log.getStatus('t')).toBe(TaskStatus.Completed);
    });

    test('with a holder, applies only while that worker holds the task under that attempt', async () => {
      expect(await log.changeStatus('t', { from: [TaskStatus.Running], to: TaskStatus.Completed, holder: { workerId: 'w2', attempt: 1 } })).toBe(false);
      expect(await log.changeStatus('t', { from: [TaskStatus.Running], to: TaskStatus.Completed, holder: { workerId: 'w1', attempt: 2 } })).toBe(false);
      expect(await log.get('t')).toMatchObject({ status: TaskStatus.Running, workerId: 'w1' });
      expect(await log.changeStatus('t', { from: [TaskStatus.Running], to: TaskStatus.Completed, holder: w1 })).toBe(true);
    });

    test('finished stores the report, sets finishedAt and drops the lease', async () => {
      const report = Report.success('done', { n: 1 }).toJSON();
      const before = Date.now();
      expect(await log.changeStatus('t', { from: [TaskStatus.Running], to: TaskStatus.Completed, holder: w1, report: JSON.stringify(report), finished: true })).toBe(true);
      const got = await log.get('t');
      expect(got).toMatchObject({ status: TaskStatus.Completed, report, leaseUntil: null, workerId: 'w1' });
      near(got?.finishedAt, before);
      near(got?.updatedAt, before);
    });

    test('releaseLease gives the task back: no worker, no lease, not finished', async () => {
      const report = Report.error('attempt 1 failed').toJSON();
      expect(await log.changeStatus('t', { from: [TaskStatus.Running], to: TaskStatus.Enqueued, holder: w1, releaseLease: true, report: JSON.stringify(report) })).toBe(true);
      expect(await log.get('t')).toMatchObject({ status: TaskStatus.Enqueued, workerId: null, leaseUntil: null, finishedAt: null, report, attempts: 1 });
      expect(await broker.claim('t', 'w2', HOUR)).toEqual({ outcome: 'claimed', attempt: 2, stalls: 0, tookOver: false });
    });

    test('without report the stored report is kept; report null clears it', async () => {
      const report = Report.info('halfway').toJSON();
      await log.changeStatus('t', { from: [TaskStatus.Running], to: TaskStatus.Running, report: JSON.stringify(report) });
      await log.changeStatus('t', { from: [TaskStatus.Running], to: TaskStatus.ChildRunning });
      expect((await log.get('t'))?.report).toEqual(report);
      await log.changeStatus('t', { from: [TaskStatus.ChildRunning], to: TaskStatus.Completed, report: null });
      expect((await log.get('t'))?.report).toBeNull();
    });

    test('archiving keeps the status the task had', async () => {
      expect(await log.changeStatus('t', { from: [TaskStatus.Running], to: TaskStatus.Archived, finished: true })).toBe(true);
      expect(await log.get('t')).toMatchObject({ status: TaskStatus.Archived, archivedFrom: TaskStatus.Running });
    });

    test('an unknown id changes nothing', async () => {
      expect(await log.changeStatus('unknown', { from: [TaskStatus.Running], to: TaskStatus.Completed })).toBe(false);
      expect(await log.get('unknown')).toBeNull();
    });
  });

  describe('setProgress, markDequeued and addIfMissing', () => {
    test('progress is recorded only under the claim running the task', async () => {
      await log.add([entry('t'), entry('u')]);
      await broker.claim('t', 'w1', HOUR);
      await log.setProgress('t', { workerId: 'w2', attempt: 1 }, 0.9);
      await log.setProgress('t', { workerId: 'w1', attempt: 2 }, 0.9);
      await log.setProgress('t', undefined, 0.9);
      expect((await log.get('t'))?.progress).toBeNull();
      await log.setProgress('t', { workerId: 'w1', attempt: 1 }, { done: 5, of: 10 });
      expect((await log.get('t'))?.progress).toEqual({ done: 5, of: 10 });
      await log.setProgress('u', { workerId: 'w1', attempt: 1 }, 1);
      expect((await log.get('u'))?.progress).toBeNull();
    });

    test('markDequeued moves only enqueued entries', async () => {
      await log.add([entry('a'), entry('b'), entry('c', { status: TaskStatus.Failed })]);
      await broker.claim('b', 'w1', HOUR);
      await log.markDequeued(['a', 'b', 'c', 'unknown']);
      expect(await Promise.all(['a', 'b', 'c'].map((id) => log.getStatus(id)))).toEqual([TaskStatus.Dequeued, TaskStatus.Running, TaskStatus.Failed]);
      await log.markDequeued([]);
    });

    test('addIfMissing adds the new entries and leaves existing ones as they are', async () => {
      await log.add([entry('a', { label: 'first' })]);
      await broker.claim('a', 'w1', HOUR);
      await log.addIfMissing([entry('a', { label: 'second' }), entry('b', { label: 'new' })]);
      expect(await log.get('a')).toMatchObject({ label: 'first', status: TaskStatus.Running });
      expect(await log.get('b')).toMatchObject({ label: 'new', status: TaskStatus.Enqueued });
    });

    test('claim with ifMissing: a missing entry is written claimed; an existing one is claimed, or not, as it is', async () => {
      expect(await broker.claim('new', 'w1', HOUR, entry('new', { label: 'from the message' }))).toEqual({ outcome: 'claimed', attempt: 1, stalls: 0, tookOver: false });
      expect(await log.get('new')).toMatchObject({ label: 'from the message', status: TaskStatus.Running, workerId: 'w1', attempts: 1, stalls: 0 });
      expect((await log.get('new'))?.leaseUntil?.getTime()).toBeGreaterThan(Date.now() + HOUR / 2);
      expect((await log.get('new'))?.startedAt).not.toBeNull();
      // Written already: a second worker finds it running, and nothing is overwritten.
      expect(await broker.claim('new', 'w2', HOUR, entry('new', { label: 'again' }))).toMatchObject({ outcome: 'busy' });
      expect(await log.get('new')).toMatchObject({ label: 'from the message', workerId: 'w1' });
      await log.add([entry('old', { label: 'enqueued first' }), entry('done', { status: TaskStatus.Completed })]);
      await broker.claim('old', 'w0', 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      // A stall: claimed again as the second attempt, not inserted.
      expect(await broker.claim('old', 'w1', HOUR, entry('old', { label: 'ignored' }))).toEqual({ outcome: 'claimed', attempt: 2, stalls: 1, tookOver: true });
      expect((await log.get('old'))?.label).toBe('enqueued first');
      expect(await broker.claim('done', 'w1', HOUR, entry('done'))).toEqual({ outcome: 'not-runnable', status: TaskStatus.Completed });
      // The dispatcher's own write, coming after the worker's, changes nothing.
      await log.addIfMissing([entry('new', { label: 'late' })]);
      expect(await log.get('new')).toMatchObject({ label: 'from the message', status: TaskStatus.Running });
    });

    test('claim with ifMissing racing the dispatcher’s write and another worker: exactly one claim per entry', async () => {
      const ids = Array.from({ length: 40 }, (_, i) => `race-${i}`);
      const outcomes = await Promise.all(
        ids.map(async (id, i) => {
          // The three writes in an order that differs per id.
          const writes = [() => broker.claim(id, 'w1', HOUR, entry(id)), () => log.addIfMissing([entry(id)]).then(() => undefined), () => broker.claim(id, 'w2', HOUR, entry(id))];
          const order = i % 2 === 0 ? writes : writes.reverse();
          const results = await Promise.all(order.map((write) => write()));
          return results.flatMap((r) => (r ? [r.outcome] : [])).sort();
        }),
      );
      expect(outcomes.every((o) => o.join() === 'busy,claimed')).toBe(true);
      for (const id of ids) expect(await log.get(id)).toMatchObject({ status: TaskStatus.Running, attempts: 1, stalls: 0 });
    });
  });

  // ---- archive / cancel ---------------------------------------------------------------------------

  describe('archive', () => {
    test.each([TaskStatus.Completed, TaskStatus.Failed, TaskStatus.Cancelled])('archives a %s task', async (status) => {
      await log.add([entry('t', { status })]);
      const archived = await log.archive('t');
      expect(archived.status).toBe(TaskStatus.Archived);
      expect(await log.getStatus('t')).toBe(TaskStatus.Archived);
    });

    test('keeps the finish time and the report of a task that had ended', async () => {
      const report = Report.error('too big').toJSON();
      await log.add([entry('t', { status: TaskStatus.Failed, report, createdAt: minute(3) })]);
      const archived = await log.archive('t');
      expect(archived).toMatchObject({ status: TaskStatus.Archived, report, finishedAt: minute(3) });
    });

    test('archiving an archived task returns it unchanged', async () => {
      await log.add([entry('t', { status: TaskStatus.Archived })]);
      expect((await log.archive('t')).status).toBe(TaskStatus.Archived);
    });

    test.each([TaskStatus.Enqueued, TaskStatus.Dequeued, TaskStatus.ChildRunning])('refuses a %s task without force', async (status) => {
      await log.add([entry('t', { status })]);
      const attempt = log.archive('t');
      await expect(attempt).rejects.toThrow(TaskStateError);
      await expect(log.archive('t')).rejects.toThrow(`Task t is ${status}: it cannot be archived before it ends (use force)`);
      expect(await log.getStatus('t')).toBe(status);
    });

    test('refuses a running task without force; with force archives it and drops its lease', async () => {
      await log.add([entry('t')]);
      await broker.claim('t', 'w1', 3_600_000);
      await expect(log.archive('t')).rejects.toThrow('Task t is running: it cannot be archived before it ends (use force)');
      const archived = await log.archive('t', { force: true });
      expect(archived).toMatchObject({ status: TaskStatus.Archived, leaseUntil: null });
      expect(isDate(archived.finishedAt)).toBe(true);
      expect(await broker.claim('t', 'w2', 3_600_000)).toEqual({ outcome: 'not-runnable', status: TaskStatus.Archived });
    });

    test('an unknown id throws TaskNotFoundError', async () => {
      await expect(log.archive('ghost')).rejects.toThrow(TaskNotFoundError);
      await expect(log.archive('ghost', { force: true })).rejects.toThrow('Task ghost was not found in the task log');
    });
  });

  describe('cancel', () => {
    test.each([TaskStatus.Enqueued, TaskStatus.Dequeued])('cancels a %s task, with a warning report', async (status) => {
      await log.add([entry('t', { status })]);
      const cancelled = await log.cancel('t');
      expect(cancelled).toMatchObject({ status: TaskStatus.Cancelled, report: { type: 'warning', message: 'Cancelled before it started', children: [] } });
      expect(isDate(cancelled.finishedAt)).toBe(true);
      expect(await broker.claim('t', 'w1', 3_600_000)).toEqual({ outcome: 'not-runnable', status: TaskStatus.Cancelled });
    });

    test.each([TaskStatus.Running, TaskStatus.ChildRunning])('refuses a %s task without force; with force cancels it', async (status) => {
      await log.add([entry('t', { status: status === TaskStatus.Running ? TaskStatus.Enqueued : status })]);
      if (status === TaskStatus.Running) await broker.claim('t', 'w1', 3_600_000);
      await expect(log.cancel('t')).rejects.toThrow(TaskStateError);
      await expect(log.cancel('t')).rejects.toThrow(`Task t is ${status}: it cannot be cancelled, it has started (use force)`);
      expect(await log.getStatus('t')).toBe(status);
      const cancelled = await log.cancel('t', { force: true });
      expect(cancelled).toMatchObject({ status: TaskStatus.Cancelled, leaseUntil: null, report: { type: 'warning', message: 'Cancelled by force' } });
    });

    test.each([TaskStatus.Completed, TaskStatus.Failed, TaskStatus.Cancelled, TaskStatus.Archived])('refuses a %s task, even with force', async (status) => {
      await log.add([entry('t', { status })]);
      await expect(log.cancel('t')).rejects.toThrow(`Task t is ${status}: it cannot be cancelled, it has already ended`);
      await expect(log.cancel('t', { force: true })).rejects.toThrow(TaskStateError);
      expect(await log.getStatus('t')).toBe(status);
    });

    test('an unknown id throws TaskNotFoundError', async () => {
      await expect(log.cancel('ghost')).rejects.toThrow(TaskNotFoundError);
      await expect(log.cancel('ghost')).rejects.toThrow('Task ghost was not found in the task log');
    });
  });

  // ---- recordFailure ------------------------------------------------------------------------------

  describe('recordFailure', () => {
    const failure = Report.error('Message could not be decoded', { rawPayload: '{"id":"m1"' }).toJSON();
    const base = { parentId: null, taskName: '(undecodable)', label: '', owner: null, queue: 'q', parameters: null, createdAt: minute(1) };

    test('creates a failed entry for an id the log does not know', async () => {
      await log.recordFailure({ id: 'm1', ...base }, failure);
      expect(await log.get('m1')).toMatchObject({ status: TaskStatus.Failed, report: failure, taskName: '(undecodable)', queue: 'q' });
    });

    test('fails an entry that is still waiting', async () => {
      await log.add([entry('m1', { taskName: 'Known' })]);
      await log.recordFailure({ id: 'm1', ...base }, failure);
      expect(await log.get('m1')).toMatchObject({ status: TaskStatus.Failed, report: failure, taskName: 'Known' });
    });

    test('leaves an entry that has already ended as it is', async () => {
      const done = Report.success('done').toJSON();
      await log.add([entry('m1', { status: TaskStatus.Completed, report: done })]);
      await log.recordFailure({ id: 'm1', ...base }, failure);
      expect(await log.get('m1')).toMatchObject({ status: TaskStatus.Completed, report: done });
    });
  });

  // ---- settleParent -------------------------------------------------------------------------------

  describe('settleParent', () => {
    const own = Report.success('spawned 2 children').toJSON();

    beforeEach(async () => {
      await log.add([entry('p', { status: TaskStatus.ChildRunning, report: own }), entry('c1', { parentId: 'p' }), entry('c2', { parentId: 'p' }), entry('other')]);
    });

    const finish = async (id: string, to: TaskStatus) => {
      await broker.claim(id, 'w', 3_600_000);
      expect(await log.changeStatus(id, { from: [TaskStatus.Running], to, holder: { workerId: 'w', attempt: 1 }, finished: true })).toBe(true);
    };

    test('stays child_running while a child has not ended', async () => {
      await finish('c1', TaskStatus.Completed);
      await broker.claim('c2', 'w', 3_600_000);
      await log.settleParent('p');
      expect(await log.get('p')).toMatchObject({ status: TaskStatus.ChildRunning, report: own, finishedAt: null });
    });

    test('stays child_running while a child is still enqueued', async () => {
      await finish('c1', TaskStatus.Completed);
      await log.settleParent('p');
      expect(await log.getStatus('p')).toBe(TaskStatus.ChildRunning);
    });

    test('completes when every child completed, keeping its own report', async () => {
      await finish('c1', TaskStatus.Completed);
      await finish('c2', TaskStatus.Completed);
      await log.settleParent('p');
      const parent = await log.get('p');
      expect(parent).toMatchObject({ status: TaskStatus.Completed, report: own });
      expect(isDate(parent?.finishedAt)).toBe(true);
    });

    test('fails when one child failed, its own report nested under the error', async () => {
      await finish('c1', TaskStatus.Completed);
      await finish('c2', TaskStatus.Failed);
      await log.settleParent('p');
      expect(await log.get('p')).toMatchObject({
        status: TaskStatus.Failed,
        report: { type: 'error', message: '1 child task(s) did not complete', children: [own] },
      });
    });

    test('fails when a child was cancelled', async () => {
      await finish('c1', TaskStatus.Completed);
      await log.cancel('c2');
      await log.settleParent('p');
      expect(await log.get('p')).toMatchObject({ status: TaskStatus.Failed, report: { message: '1 child task(s) did not complete' } });
    });

    test('settling twice changes nothing the second time', async () => {
      await finish('c1', TaskStatus.Completed);
      await finish('c2', TaskStatus.Completed);
      await log.settleParent('p');
      const first = await log.get('p');
      await log.settleParent('p');
      expect(await log.get('p')).toEqual(first);
    });

    test('a parent that is not child_running is left alone', async () => {
      await log.add([entry('q', { status: TaskStatus.Cancelled }), entry('qc', { parentId: 'q', status: TaskStatus.Completed })]);
      await log.settleParent('q');
      expect(await log.getStatus('q')).toBe(TaskStatus.Cancelled);
      await log.settleParent('no-such-parent');
    });

    test('settling a parent settles its own waiting parent in turn', async () => {
      await log.add([entry('gp', { status: TaskStatus.ChildRunning }), entry('mid', { parentId: 'gp', status: TaskStatus.ChildRunning }), entry('leaf', { parentId: 'mid' })]);
      await finish('leaf', TaskStatus.Completed);
      await log.settleParent('mid');
      expect(await log.getStatus('mid')).toBe(TaskStatus.Completed);
      expect(await log.get('gp')).toMatchObject({ status: TaskStatus.Completed, report: { type: 'success', message: 'Task completed' } });
    });
  });
});

describe('RdsTaskLogBroker on one SQLite file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'taskq-tasklog-file-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('entries outlive the broker that wrote them', async () => {
    const connection = `sqlite:${join(dir, 'nested', 'log.db')}`;
    const first = new TaskLog(new RdsTaskLogBroker({ connection }));
    await first.createContainer();
    await first.add([entry('kept', { label: 'persisted', parameters: { a: 1 } })]);
    await first.close();
    const second = new TaskLog(new RdsTaskLogBroker({ connection }));
    try {
      await second.createContainer();
      expect(await second.get('kept')).toMatchObject({ label: 'persisted', parameters: { a: 1 }, status: TaskStatus.Enqueued });
    } finally {
      await second.close();
    }
  });

  test('a custom table name is used, and bad ones are refused', async () => {
    const broker = new RdsTaskLogBroker({ connection: `sqlite:${join(dir, 'custom.db')}`, table: 'my_log' });
    const log = new TaskLog(broker);
    try {
      await log.createContainer();
      await log.add([entry('a')]);
      expect(broker.describe()).toMatchObject({ type: 'rds', table: 'my_log' });
      expect(await log.count()).toBe(1);
    } finally {
      await log.close();
    }
    expect(() => new RdsTaskLogBroker({ connection: 'sqlite::memory:', table: 'bad name; --' })).toThrow('table "bad name; --" is not a valid table name');
  });
});
