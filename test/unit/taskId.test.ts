import { newTaskId } from '../../src/taskId';

test('task ids are UUIDv7: version 7, RFC variant, and they sort by creation time', () => {
  const id = newTaskId(0x0123456789ab);
  expect(id).toMatch(/^01234567-89ab-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const earlier = newTaskId(1_700_000_000_000);
  const later = newTaskId(1_700_000_000_001);
  expect(earlier < later).toBe(true);
  expect(new Set(Array.from({ length: 1000 }, () => newTaskId(5))).size).toBe(1000);
});
