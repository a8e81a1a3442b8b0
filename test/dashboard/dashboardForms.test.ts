/**
 * The dashboard's two pages that change things, in a real browser (Debian's chromium through
 * playwright-core) against a real listening server whose tasks a real Worker runs, on SQLite and
 * PostgreSQL: Add a task (a form built from the params schema, refusals shown at their field, the
 * new task followed live) and Queues (purge, confirmed in the page). Every test fails on a console
 * error, a page error, a failed request, a dialog or an error answer it did not provoke, and saves
 * a screenshot under test-output/dashboard/.
 */
import type { Page } from 'playwright-core';
import { join } from 'node:path';
import { type DashboardFixture, Greet, OUTPUT_DIR, SendMail, WatchedPage, dashboardSetups, useBrowser } from './dashboardSetup';

jest.setTimeout(60_000);

const setups = dashboardSetups('dashboard forms');
const browser = useBrowser();

const SUBMIT = 'form.add-task button[type="submit"]';
const LATER = 3_600_000;

/** The message element next to a control, as its aria-describedby names it. */
async function errorOf(page: Page, control: string): Promise<string | null> {
  const ids = (await page.locator(control).getAttribute('aria-describedby'))?.split(' ') ?? [];
  const errorId = ids.find((id) => id.endsWith('-error'));
  return errorId ? page.locator(`[id="${errorId}"]`).textContent() : null;
}

/** The id of the task the Add a task page says it added (the link to its page). */
async function addedId(page: Page, not = ''): Promise<string> {
  const link = page.locator(`a[data-link="new-task"]:not([href="#/tasks/${not}"])`);
  await link.waitFor();
  return decodeURIComponent(((await link.getAttribute('href')) ?? '').replace('#/tasks/', ''));
}

const activeAttribute = (page: Page, name: string): Promise<unknown> => page.evaluate(`document.activeElement?.getAttribute(${JSON.stringify(name)})`);

describe.each(setups)('the dashboard forms on %s', (db, setup) => {
  let fx: DashboardFixture;
  let url: string;

  beforeAll(async () => {
    fx = await setup();
    url = await fx.server();
  });
  afterAll(() => fx?.close());

  const statusOf = async (id: string): Promise<string | undefined> => (await fx.dispatcher.taskLog.get(id))?.status;

  /** How many tasks wait in a queue (of one task name), as GET /api/queues says. */
  async function waitingIn(queue: string, taskName?: string): Promise<number> {
    const depths = (await (await fetch(`${url}/api/queues`)).json()) as { queue: string; waiting: number; tasks: { taskName: string; waiting: number }[] }[];
    const depth = depths.find((d) => d.queue === queue);
    if (!depth) throw new Error(`no queue ${queue}`);
    return taskName === undefined ? depth.waiting : (depth.tasks.find((t) => t.taskName === taskName)?.waiting ?? 0);
  }

  test('add a task through the form and see it complete live', async () => {
    const watched = await WatchedPage.open(browser());
    const { page } = watched;
    watched.expectStatus(400, '/api/tasks');
    await page.goto(`${url}/`);
    await page.click('nav a[data-nav="add"]');
    await page.locator('#add-task option[value="SendMail"]').waitFor({ state: 'attached' });
    expect(await page.locator('nav a[aria-current="page"]').textContent()).toBe('Add a task');
    await page.evaluate('window.marker = 42');

    // The fields come from SendMail's zod schema (as JSON Schema): an email input, a text input, a checkbox.
    await page.selectOption('#add-task', 'SendMail');
    const to = page.locator('[name="params.to"]');
    await to.waitFor();
    expect(page.url()).toContain('#/add?task=SendMail');
    expect(await to.getAttribute('type')).toBe('email');
    expect(await to.getAttribute('aria-required')).toBe('true');
    expect(await page.locator('[name="params.subject"]').getAttribute('aria-required')).toBe('true');
    expect(await page.locator('[name="params.urgent"]').getAttribute('type')).toBe('checkbox');
    expect(await page.locator('[name="params.urgent"]').getAttribute('aria-required')).toBeNull();
    // Every control has a label; the description is the email field's hint.
    expect(await page.locator('form.add-task').evaluate((form) => [...form.querySelectorAll('input, select, textarea')].filter((c) => (c as unknown as { labels: { length: number } | null }).labels?.length === 0).length)).toBe(0);
    expect(await page.getByLabel('to').getAttribute('name')).toBe('params.to');
    const hintId = (await to.getAttribute('aria-describedby'))?.split(' ').find((id) => id.endsWith('-hint'));
    expect(await page.locator(`[id="${hintId}"]`).textContent()).toBe('Who gets the mail');

    // A bad email and a subject too long: the server's 400 lists both, and the page says each at its field.
    await to.fill('not-an-email');
    await page.fill('[name="params.subject"]', 'x'.repeat(41));
    await page.check('[name="params.urgent"]');
    const refusedTwice = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/tasks' && r.request().method() === 'POST');
    await page.click(SUBMIT);
    expect((await refusedTwice).status()).toBe(400);
    await page.locator('[name="params.subject"][aria-invalid="true"]').waitFor();
    expect(await errorOf(page, '[name="params.to"]')).toMatch(/email/i);
    expect(await errorOf(page, '[name="params.subject"]')).toMatch(/40/);
    expect(await activeAttribute(page, 'name')).toBe('params.to');

    // Only the email wrong: the subject's error goes, the email's stays.
    await page.fill('[name="params.subject"]', 'Hello');
    const refused = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/tasks' && r.request().method() === 'POST');
    await page.click(SUBMIT);
    expect((await refused).status()).toBe(400);
    await page.locator('[name="params.subject"]:not([aria-invalid])').waitFor();
    await page.locator('[name="params.to"][aria-invalid="true"]').waitFor();
    expect(await errorOf(page, '[name="params.to"]')).toMatch(/email/i);
    expect(await activeAttribute(page, 'name')).toBe('params.to');
    expect(await page.locator('[name="params.subject"]').getAttribute('aria-invalid')).toBeNull();
    expect(await page.locator('#add-general').textContent()).toBe('');
    await page.screenshot({ path: join(OUTPUT_DIR, `add-task-refused-${db}.png`), fullPage: true });

    // Fixed: added; the link leads to its page, and its status turns completed without a reload.
    await to.fill('ann@example.com');
    await page.click(SUBMIT);
    const mailId = await addedId(page);
    expect(await to.getAttribute('aria-invalid')).toBeNull();
    expect(await errorOf(page, '[name="params.to"]')).toBe('');
    await page.locator('.new-task-status .badge', { hasText: 'completed' }).waitFor({ timeout: 15_000 });
    const mail = await fx.dispatcher.taskLog.get(mailId);
    expect([mail?.taskName, mail?.status, mail?.queue, mail?.parameters]).toEqual(['SendMail', 'completed', 'standard', { to: 'ann@example.com', subject: 'Hello', urgent: true }]);
    await page.screenshot({ path: join(OUTPUT_DIR, `add-task-schema-${db}.png`), fullPage: true });

    // A task without schema: its params in the JSON editor, checked as a JSON object in the page.
    await page.selectOption('#add-task', 'Greet');
    const editor = page.locator('textarea[name="params"]');
    await editor.waitFor();
    expect(await page.locator('[name="params.to"]').count()).toBe(0);
    await editor.fill('{name: x}');
    await page.click(SUBMIT);
    await page.locator('textarea[name="params"][aria-invalid="true"]').waitFor();
    expect(await errorOf(page, 'textarea[name="params"]')).toMatch(/^Not valid JSON/);
    await editor.fill('["x"]');
    await page.click(SUBMIT);
    await page.waitForFunction('document.querySelector(".field-error:not([hidden])")?.textContent.includes("must be a JSON object")');
    await editor.fill('{"name": "x"}');
    await page.fill('#add-label', 'from the form');
    await page.click(SUBMIT);
    const greetId = await addedId(page, mailId);
    await page.locator('.new-task-status .badge', { hasText: 'completed' }).waitFor({ timeout: 15_000 });
    const greet = await fx.dispatcher.taskLog.get(greetId);
    expect([greet?.taskName, greet?.status, greet?.label, greet?.parameters]).toEqual(['Greet', 'completed', 'from the form', { name: 'x' }]);
    // All of it without a reload; the link opens the task's page.
    expect(await page.evaluate('window.marker')).toBe(42);
    await page.click('a[data-link="new-task"]');
    await page.locator('h1 .badge', { hasText: 'completed' }).waitFor();
    expect(await page.locator('pre[data-field="parameters"]').textContent()).toContain('"x"');
    await page.goBack();
    await page.locator('textarea[name="params"]').waitFor();
    await watched.finish(`add-task-${db}`);
  });

  test('on a phone, in dark mode: a delayed task on a chosen queue is followed while shown, and no more once the page is left', async () => {
    const watched = await WatchedPage.open(browser(), { width: 390, height: 780 });
    const { page } = watched;
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${url}/#/add?task=Greet`);
    const editor = page.locator('textarea[name="params"]');
    await editor.waitFor();
    // The form fits the phone's width, in the dark colours.
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    expect(await page.evaluate('getComputedStyle(document.querySelector("textarea[name=params]")).backgroundColor')).toBe('rgb(24, 28, 34)');
    expect(await page.inputValue('#add-task')).toBe('Greet');
    expect(await page.locator('#add-queue option').allTextContents()).toEqual(["the task's own", 'standard', 'priority']);
    await editor.fill('{"name": "later from the form"}');
    await page.selectOption('#add-queue', 'priority');
    await page.fill('#add-delay', '3600');
    const polls: number[] = [];
    page.on('request', (request) => {
      if (request.method() === 'GET' && /\/api\/tasks\/[^/]+$/.test(new URL(request.url()).pathname)) polls.push(Date.now());
    });
    await page.click(SUBMIT);
    const id = await addedId(page);
    const entry = await fx.dispatcher.taskLog.get(id);
    expect([entry?.queue, entry?.status]).toEqual(['priority', 'enqueued']);
    expect(await page.locator('.new-task-status .badge').textContent()).toBe('enqueued');
    await page.screenshot({ path: join(OUTPUT_DIR, `add-task-phone-dark-${db}.png`), fullPage: true });

    // Followed at most once a second while shown…
    await page.waitForTimeout(3_200);
    expect(polls.length).toBeGreaterThanOrEqual(2);
    expect(polls.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < polls.length; i++) expect(polls[i] - polls[i - 1]).toBeGreaterThanOrEqual(950);
    // …and not at all once another page replaced it.
    await page.click('nav a[data-nav="tasks"]');
    await page.locator('table.tasks tbody tr').first().waitFor();
    const seen = polls.length;
    await page.waitForTimeout(2_500);
    expect(polls.length).toBe(seen);
    await fx.dispatcher.taskLog.cancel(id);
    await watched.finish(`add-task-delayed-${db}`);
  });

  test('with a token of an owner: the queue is free text, a refusal is shown at its field, and the queues page says why it is empty', async () => {
    const tokenUrl = await fx.server({ tokens: [{ token: 'alice-token', owner: 'alice' }] });
    const watched = await WatchedPage.open(browser());
    const { page } = watched;
    watched.expectStatus(403, '/api/queues');
    watched.expectStatus(400, '/api/tasks');
    await page.addInitScript('sessionStorage.setItem("taskq.apiToken", "alice-token")');
    await page.goto(`${tokenUrl}/#/add?task=Greet`);
    const editor = page.locator('textarea[name="params"]');
    await editor.waitFor();
    expect(await page.locator('#add-queue').evaluate((control) => `${control.tagName}:${control.getAttribute('type')}`)).toBe('INPUT:text');
    await editor.fill('{"name": "alice\'s"}');
    await page.fill('#add-queue', 'nope');
    await page.click(SUBMIT);
    await page.locator('#add-queue[aria-invalid="true"]').waitFor();
    expect(await errorOf(page, '#add-queue')).toMatch(/Unknown queue "nope"/);
    await page.fill('#add-queue', '');
    await page.click(SUBMIT);
    const id = await addedId(page);
    await page.locator('.new-task-status .badge', { hasText: 'completed' }).waitFor({ timeout: 15_000 });
    expect((await fx.dispatcher.taskLog.get(id))?.owner).toBe('alice');

    await page.click('nav a[data-nav="queues"]');
    await page.locator('main .message.info').waitFor();
    expect(await page.locator('main .message.info').textContent()).toMatch(/need a token without owner/);
    expect(await page.locator('button[data-purge]').count()).toBe(0);
    await watched.finish(`queues-owner-${db}`);
  });

  test('purge a queue: confirmed in the page, by mouse or keyboard; Keep them cancels nothing', async () => {
    const greets: string[] = [];
    for (const name of ['purge 1', 'purge 2', 'purge 3']) greets.push((await fx.dispatcher.enqueue(new Greet({ name }), { label: name, delay: LATER })).id);
    const mails: string[] = [];
    for (const to of ['a@example.com', 'b@example.com']) mails.push((await fx.dispatcher.enqueue(new SendMail({ to, subject: 'later' }), { delay: LATER })).id);
    const watched = await WatchedPage.open(browser());
    const { page } = watched;
    await page.goto(`${url}/`);
    await page.click('nav a[data-nav="queues"]');
    const standard = page.locator('tr.queue-row[data-queue="standard"]');
    await standard.waitFor();
    const waiting = await waitingIn('standard');
    expect(waiting).toBeGreaterThanOrEqual(5);
    expect((await standard.locator('td').allTextContents()).slice(0, 4)).toEqual(['rds', String(waiting), String(waiting), '0']);

    // Keep them: nothing is cancelled, the focus goes back to the button.
    await standard.locator('button[data-purge]').click();
    const panel = page.locator('.confirm-panel');
    await panel.waitFor();
    expect(await panel.locator('p').textContent()).toBe(`Purge ${waiting} waiting tasks of queue standard? They will be cancelled.`);
    expect(await page.evaluate('document.activeElement?.classList.contains("confirm-panel")')).toBe(true);
    // The 2 s refresh leaves an open confirmation (and its focus) alone.
    await page.waitForTimeout(2_300);
    expect(await page.evaluate('document.activeElement?.classList.contains("confirm-panel")')).toBe(true);
    await page.screenshot({ path: join(OUTPUT_DIR, `queues-confirm-${db}.png`) });
    await page.click('button[data-confirm="keep"]');
    await panel.waitFor({ state: 'detached' });
    expect(await activeAttribute(page, 'data-focus-key')).toBe('purge:standard:');
    for (const id of [...greets, ...mails]) expect(await statusOf(id)).toBe('enqueued');

    // Escape keeps them too.
    await page.keyboard.press('Enter');
    await panel.waitFor();
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'detached' });
    for (const id of [...greets, ...mails]) expect(await statusOf(id)).toBe('enqueued');

    // One task name, by keyboard only: its row's Purge, Tab to the panel's Purge, Enter.
    const mailRow = page.locator('tr.task-row[data-queue="standard"][data-task-name="SendMail"]');
    await mailRow.waitFor();
    const mailsWaiting = await waitingIn('standard', 'SendMail');
    expect(mailsWaiting).toBe(2);
    await mailRow.locator('button[data-purge]').focus();
    await page.keyboard.press('Enter');
    await panel.waitFor();
    expect(await panel.locator('p').textContent()).toBe('Purge 2 waiting SendMail tasks of queue standard? They will be cancelled.');
    await page.keyboard.press('Tab');
    expect(await activeAttribute(page, 'data-confirm')).toBe('purge');
    await page.keyboard.press('Enter');
    const outcome = page.locator('.purge-outcome .message');
    await outcome.waitFor();
    expect(await outcome.textContent()).toBe('Purged: 2 waiting SendMail tasks of queue standard cancelled, 2 messages removed.');
    for (const id of mails) expect(await statusOf(id)).toBe('cancelled');
    for (const id of greets) expect(await statusOf(id)).toBe('enqueued');

    // The whole queue.
    const left = await waitingIn('standard');
    expect(left).toBe(waiting - 2);
    await standard.locator('button[data-purge]').click();
    await page.click('button[data-confirm="purge"]');
    await page.locator('.purge-outcome .message', { hasText: 'of queue standard cancelled' }).filter({ hasNotText: 'SendMail' }).waitFor();
    expect(await outcome.getAttribute('data-cancelled')).toBe(String(left));
    expect(await outcome.textContent()).toMatch(new RegExp(`^Purged: ${left} waiting tasks of queue standard cancelled, \\d+ messages removed\\.$`));
    for (const id of greets) expect(await statusOf(id)).toBe('cancelled');
    // The table follows: nothing waits, so there is nothing to purge.
    await standard.locator('td:nth-child(4)', { hasText: /^0$/ }).waitFor();
    expect(await standard.locator('button[data-purge]').isDisabled()).toBe(true);
    await watched.finish(`queues-${db}`);
  });
});
