import { z } from 'zod';
import { TASK_LOG_COLUMNS, TaskStatus } from '../src';

/**
 * The zod schemas of the API: they validate requests and, through @fastify/swagger, are the
 * OpenAPI document, so the document cannot drift from what the server accepts.
 */

const statuses = Object.values(TaskStatus) as [TaskStatus, ...TaskStatus[]];
const time = z.iso.datetime().describe('ISO 8601, UTC');
const nullableTime = time.nullable();

export const errorSchema = z
  .object({
    statusCode: z.number().int(),
    error: z.string().describe('What went wrong, in one sentence'),
    field: z.string().optional().describe('The request field at fault, when there is one: `filter`, `limit`, `params.to`, …'),
    issues: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .describe("Params refused by the task's schema: every problem with its field (`field` above is the first)"),
  })
  .describe('Every error response');

export const errorResponses = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema };

const reportSchema = z.object({
  type: z.enum(['info', 'success', 'warning', 'error']),
  message: z.string(),
  data: z.unknown().optional().describe('Any JSON value'),
  children: z.array(z.unknown()).describe('Reports of the same shape'),
});

export const taskSchema = z.object({
  id: z.string(),
  parentId: z.string().nullable(),
  taskName: z.string(),
  label: z.string(),
  status: z.enum(statuses),
  owner: z.string().nullable(),
  queue: z.string().nullable(),
  parameters: z.unknown().describe('The task\'s params, as JSON'),
  report: reportSchema.nullable(),
  progress: z.unknown().describe('The last progress the task reported (JSON), or null'),
  attempts: z.number().int().describe('Runs started so far'),
  stalls: z.number().int().describe('Of those, runs taken over after their lease ran out'),
  workerId: z.string().nullable(),
  leaseUntil: nullableTime,
  createdAt: time,
  updatedAt: time,
  startedAt: nullableTime,
  finishedAt: nullableTime,
  archivedFrom: z.enum(statuses).nullable(),
});
export type TaskJson = z.infer<typeof taskSchema>;

export const taskListSchema = z.object({
  total: z.number().int().describe('Tasks matching the filter, all pages'),
  limit: z.number().int(),
  offset: z.number().int(),
  tasks: z.array(taskSchema),
});

export const timingsSchema = z.object({
  createdAt: time,
  startedAt: nullableTime,
  finishedAt: nullableTime,
  queuedMs: z.number().int().nullable().describe('From enqueue to the (last) start; null before it starts'),
  runMs: z.number().int().nullable().describe('From the (last) start to the end; null until it ends'),
});

export const taskDetailSchema = z.object({
  task: taskSchema,
  timings: timingsSchema,
  children: z.array(taskSchema).describe('Its child tasks (or a batch\'s tasks), oldest first, at most 1000'),
  childCount: z.number().int().describe('All its children, also beyond the 1000 listed'),
});

export const statsSchema = z.object({ ...Object.fromEntries(statuses.map((s) => [s, z.number().int()])), total: z.number().int() } as Record<TaskStatus | 'total', z.ZodNumber>);

const sortable = z.enum(TASK_LOG_COLUMNS);
const filterParam = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .describe(
    'Repeatable `column:operator:value`. Operators: eq, neq, lt, lte, gt, gte, like (`%` any run, `_` one character), in and notIn (values comma-separated), isNull and notNull (no value). ' +
      `Columns: ${TASK_LOG_COLUMNS.join(', ')}. Times take ISO 8601 or epoch milliseconds.`,
  );

/** The equality shortcuts: `?status=failed&taskName=SendEmail`. */
export const SHORTCUT_COLUMNS = ['id', 'parentId', 'taskName', 'label', 'status', 'owner', 'queue', 'workerId'] as const;

const filterQueryShape = {
  ...Object.fromEntries(SHORTCUT_COLUMNS.map((c) => [c, z.string().optional().describe(`Only tasks whose ${c} equals this (same as filter=${c}:eq:VALUE)`)])),
  filter: filterParam,
} as Record<(typeof SHORTCUT_COLUMNS)[number], z.ZodOptional<z.ZodString>> & { filter: typeof filterParam };

export const statsQuerySchema = z.object(filterQueryShape).strict();

export const throughputQuerySchema = z
  .object({
    ...filterQueryShape,
    minutes: z.coerce.number().int().min(1).max(10_080).default(60).describe('How far back, in minutes: 1 to 10080 (a week); default 60'),
    interval: z.coerce.number().int().min(1).max(86_400).default(60).describe('Seconds per interval: 1 to 86400; default 60. At most 1000 intervals'),
  })
  .strict();
export type ThroughputQuery = z.infer<typeof throughputQuerySchema>;

export const throughputSchema = z.object({
  since: time.describe('The first interval\'s start: minutes ago, rounded down to a whole interval'),
  intervalMs: z.number().int(),
  intervals: z
    .array(z.object({ start: time, completed: z.number().int(), failed: z.number().int() }))
    .describe('Every interval from since to now, oldest first, zeros included: tasks that finished in it as completed or failed (archived ones are not counted)'),
});

export const MAX_LIMIT = 1000;

export const taskListQuerySchema = z
  .object({
    ...filterQueryShape,
    sort: z
      .union([z.string(), z.array(z.string())])
      .optional()
      .describe(`Repeatable \`column\` or \`column:asc|desc\`; default createdAt:desc. Columns: ${sortable.options.join(', ')}`),
    limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(50).describe(`Page size, 1 to ${MAX_LIMIT}`),
    offset: z.coerce.number().int().min(0).default(0),
    archived: z.enum(['true', 'false']).optional().describe('Archived tasks are left out unless the filter names a status or this is true'),
  })
  .strict();
export type TaskListQuery = z.infer<typeof taskListQuerySchema>;
export type FilterQuery = z.infer<typeof statsQuerySchema>;

export const idParamsSchema = z.object({ id: z.string().min(1).describe('A task id') });

export const forceBodySchema = z
  .object({ force: z.boolean().optional().describe('cancel: also a running task; archive: also one not ended') })
  .strict()
  .nullish();

export const enqueueBodySchema = z
  .object({
    name: z.string().min(1).describe('A registered task name (or callback, as CallbackTask:name)'),
    params: z.unknown().optional().describe('JSON params, checked against the task class\'s params schema'),
    label: z.string().optional(),
    owner: z.string().min(1).optional().describe('Ignored for a token with an owner: its owner is set'),
    queue: z.string().min(1).optional().describe('Wins over the task\'s own queue choice'),
    delay: z.number().int().min(0).optional().describe('Milliseconds before it may run'),
    runAt: time.optional().describe('When it may run (instead of delay)'),
    after: z.array(z.string().min(1)).optional().describe('Task ids it waits for'),
    uniqueKey: z.string().min(1).optional(),
    maxAttempts: z.number().int().min(1).optional(),
    timeout: z.number().int().min(1).optional().describe('Milliseconds'),
  })
  .strict();
export type EnqueueBody = z.infer<typeof enqueueBodySchema>;

export const enqueuedSchema = z.object({ id: z.string(), taskName: z.string(), queue: z.string().nullable(), status: z.enum(statuses).nullable() });

export const rerunSchema = z.object({ id: z.string(), taskName: z.string(), queue: z.string().nullable(), status: z.enum(statuses).nullable() });

export const registeredTaskSchema = z.object({
  name: z.string().describe('What POST /api/tasks takes as name'),
  kind: z.enum(['task', 'callback']),
  queue: z.string().nullable().describe('The queue it goes to without an explicit queue (null when its getQueueName hook decides per task)'),
  paramsSchema: z.record(z.string(), z.unknown()).nullable().describe('Its params as JSON Schema (draft-07), when its class has a static params schema that can say it'),
  from: z.string().describe('The config module or task folder file it came from, or "code"'),
});
