/**
 * The dashboard in a real browser (Debian's chromium through playwright-core), against a real
 * listening server whose tasks a real Worker runs, on SQLite and PostgreSQL. Every test fails on
 * a console error, a page error, a failed request or an error answer it did not provoke, and
 * saves a screenshot under test-output/dashboard/.
 */
import type { Page } from 'playwright-core';
import { join } from 'node:path';
import { until } from '../helpers/wait';
import { type DashboardFixture, Greet, HTML_MESSAGE, OUTPUT_DIR, SCRIPT_PARAM, WatchedPage, dashboardSetups, useBrowser } from './dashboardSetup';

jest.setTimeout(60_000);

const setups = dashboardSetups('dashboard');
const browser = useBrowser();

/** The text of every element the selector matches, in order. */
const textsOf = (page: Page, selector: string): Promise<string[]> => page.locator(selector).allTextContents();

/** Waits until the overview's count of a status (or total) reads this number. */
const countIs = (page: Page, status: string, count: number, timeout = 10_000): Promise<void> =>
  page.locator(`[data-status="${status}"] .count`, { hasText: new RegExp(`^${count}$`) }).waitFor({ timeout });

/** The ids of the task table's rows, in order. */
const rowIds = (page: Page): Promise<(string | null)[]> => page.locator('table.tasks tbody tr[data-id]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-id')));

describe.each(setups)('the dashboard on %s', (db, setup) => {
  let fx: DashboardFixture;
  let url: string;

  beforeAll(async () => {
    fx = await setup();
    url = await fx.server();
  });
  afterAll(() => fx?.close());

  test('the overview shows the counts, queues and workers, and updates live when a task completes', async () => {
    const watched = await WatchedPage.open(browser());
    const { page } = watched;
    await page.goto(`${url}/`);
    const count = (status: string) => page.locator(`[data-status="${status}"] .count`);
    // Seeded: ann, bob, the markup task, the family and its two children completed; flaky failed; two delayed.
    await countIs(page, 'total', 9);
    expect(await count('completed').textContent()).toBe('6');
    expect(await count('failed').textContent()).toBe('1');
    expect(await count('enqueued').textContent()).toBe('2');
    expect(await count('running').textContent()).toBe('0');
    const standard = page.locator('tr.queue-row[data-queue="standard"]');
    await standard.waitFor();
    expect((await standard.locator('td').allTextContents()).slice(0, 4)).toEqual(['rds', '2', '2', '0']);
    expect(await textsOf(page, 'tr.task-row th')).toContain('Greet');
    // The last hour: every seeded task finished in it; a bar per minute, failed stacked in red.
    const figure = (name: string) => page.locator(`[data-figure="${name}"] .figure-value`);
    await figure('completed').filter({ hasText: /^6$/ }).waitFor();
    expect(await figure('failed').textContent()).toBe('1');
    expect(await figure('failureRate').textContent()).toBe('14 %');
    const bars = page.locator('svg.throughput-chart g.chart-bar');
    expect([61, 62]).toContain(await bars.count());
    const titles = await bars.locator('title').allTextContents();
    const counted = titles.map((t) => /: (\d+) completed, (\d+) failed$/.exec(t)).map((m) => [Number(m?.[1]), Number(m?.[2])]);
    expect(counted.reduce((sum, [c]) => sum + c, 0)).toBe(6);
    expect(counted.reduce((sum, [, f]) => sum + f, 0)).toBe(1);
    expect(await page.locator('svg.throughput-chart').getAttribute('aria-label')).toMatch(/^Tasks finished a minute: 6 completed and 1 failed in all/);
    expect(await page.locator('svg.failure-chart').getAttribute('aria-label')).toBe('Failure rate: 14 % of the tasks that finished failed');
    expect(await page.locator('svg.failure-chart .chart-line, svg.failure-chart .chart-point').count()).toBeGreaterThan(0);
    await page.locator('tr.worker-row').first().waitFor();
    expect(await textsOf(page, 'tr.worker-row th')).toEqual([expect.stringMatching(/^dashboard-test-worker-/)]);

    // Live: a task completes while the page stays loaded (the marker survives: no reload).
    await page.evaluate('window.marker = 42');
    await fx.dispatcher.enqueue(new Greet({ name: 'live' }), 'live');
    await countIs(page, 'completed', 7, 15_000);
    expect(await page.evaluate('window.marker')).toBe(42);
    expect(await count('total').textContent()).toBe('10');
    await figure('completed').filter({ hasText: /^7$/ }).waitFor();

    // A refresh keeps the keyboard focus where it was (on a link of the rebuilt queue table).
    await page.focus('tr.queue-row[data-queue="standard"] a');
    const before = await page.locator('.updated').textContent();
    await page.locator('.updated').filter({ hasNotText: before ?? '' }).waitFor();
    await page.waitForTimeout(2_100);
    expect(await page.evaluate('document.activeElement?.getAttribute("href")')).toBe('#/tasks?queue=standard');
    await watched.finish(`overview-${db}`);
  });

  test('the task table filters by status and task name, sorts, and the URL reloads the same rows', async () => {
    const watched = await WatchedPage.open(browser());
    const { page } = watched;
    await page.goto(`${url}/#/tasks`);
    await page.locator('table.tasks tbody tr').first().waitFor();
    await page.selectOption('#filter-status', 'completed');
    await page.fill('#filter-taskName', 'Greet');
    await page.click('form.filters button[type="submit"]');
    await page.waitForFunction('location.hash.includes("status=completed")');
    const api = (await (await fetch(`${url}/api/tasks?status=completed&taskName=Greet`)).json()) as { tasks: { id: string }[] };
    expect(api.tasks.length).toBeGreaterThanOrEqual(4);
    await page.waitForFunction(`document.querySelectorAll("table.tasks tbody tr[data-id]").length === ${api.tasks.length}`);
    const ids = await rowIds(page);
    expect(ids).toEqual(api.tasks.map((t) => t.id));
    expect(new Set(await textsOf(page, 'table.tasks tbody td:nth-child(3)'))).toEqual(new Set(['Greet']));
    expect(page.url()).toMatch(/#\/tasks\?.*status=completed.*taskName=Greet|#\/tasks\?.*taskName=Greet.*status=completed/);

    // Oldest first, by its column header; then a reload of that URL shows the same rows.
    await page.click('button[data-sort="createdAt"]');
    await page.waitForFunction('location.hash.includes("sort=createdAt%3Aasc")');
    await page.locator(`table.tasks tbody tr:first-child[data-id="${ids[ids.length - 1]}"]`).waitFor();
    const sorted = await rowIds(page);
    expect(sorted).toEqual([...ids].reverse());
    await page.reload();
    await page.locator('table.tasks tbody tr').first().waitFor();
    expect(await rowIds(page)).toEqual(sorted);
    expect(await page.inputValue('#filter-taskName')).toBe('Greet');
    expect(await page.inputValue('#filter-status')).toBe('completed');
    await watched.finish(`tasks-${db}`);
  });

  test('the label text and time range filters, and paging, keep the URL', async () => {
    const watched = await WatchedPage.open(browser());
    const { page } = watched;
    await page.goto(`${url}/#/tasks?label=GREET`);
    await page.locator('table.tasks tbody tr').first().waitFor();
    expect((await textsOf(page, 'table.tasks .label-cell')).sort()).toEqual(['greet ann', 'greet bob']);

    // A range that starts tomorrow (local time, as the input takes it) matches nothing.
    const tomorrow = new Date(Date.now() + 86_400_000);
    // Seconds fixed at 30: the input drops a :00 from its value.
    const local = `${new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000).toISOString().slice(0, 17)}30`;
    await page.fill('#filter-from', local);
    await page.click('form.filters button[type="submit"]');
    await page.locator('p', { hasText: 'No task matches.' }).waitFor();
    expect(decodeURIComponent(page.url())).toContain(`from=${local}`);

    // Two per page: the second page is in the URL, and reloads as the second page.
    await page.goto(`${url}/#/tasks?limit=2&sort=createdAt:asc`);
    await page.locator('table.tasks tbody tr').first().waitFor();
    const firstPage = await rowIds(page);
    await page.click('button[data-page="next"]');
    await page.waitForFunction('location.hash.includes("offset=2")');
    // The second page drawn: two rows, neither of the first page's (a row of the old table, or
    // the table emptied while the page loads, would pass a wait on any one row).
    await until(
      async () => {
        const ids = await rowIds(page);
        return ids.length === 2 && ids.every((id) => !firstPage.includes(id));
      },
      10_000,
      'the second page drawn',
    );
    const secondPage = await rowIds(page);
    expect(secondPage).toHaveLength(2);
    expect(secondPage).not.toContain(firstPage[0]);
    await page.reload();
    await page.locator('table.tasks tbody tr').first().waitFor();
    expect(await rowIds(page)).toEqual(secondPage);
    await watched.finish(`tasks-paging-${db}`);
  });

  test('bulk actions show each refused row its error', async () => {
    const watched = await WatchedPage.open(browser());
    const { page } = watched;
    watched.expectStatus(409, '/api/tasks/');
    await page.goto(`${url}/#/tasks?taskName=Greet&status=completed`);
    await page.locator('table.tasks tbody tr').first().waitFor();
    const [first, second] = (await rowIds(page)) as string[];
    await page.check(`input[data-id="${first}"]`);
    await page.check(`input[data-id="${second}"]`);
    await page.click('button[data-action="cancel"]');
    await page.locator('tr.row-error').first().waitFor();
    expect(await page.locator(`tr[data-error-for="${first}"]`).textContent()).toMatch(/cannot be cancelled/);
    expect(await page.locator(`tr[data-error-for="${second}"]`).textContent()).toMatch(/cannot be cancelled/);
    expect(await page.locator('.feedback').textContent()).toMatch(/0 of 2 cancelled; 2 refused/);
    await watched.finish(`bulk-${db}`);
  });

  test('a failed task shows its error report; rerun, it completes', async () => {
    const watched = await WatchedPage.open(browser());
    const { page } = watched;
    await page.goto(`${url}/#/tasks?status=failed`);
    await page.click(`a[href="#/tasks/${fx.ids.failsOnce}"]`);
    await page.locator('h1 .badge', { hasText: 'failed' }).waitFor();
    expect(await page.locator('.report-error .report-message').textContent()).toBe('failing once on purpose');
    await page.click('button[data-action="rerun"]');
    await page.locator('h1 .badge', { hasText: 'completed' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('.report-success .report-message').textContent()).toBe('worked the second time');
    expect(await page.locator('.facts dd').allTextContents()).toContain('2');

    // A second rerun is refused by the API: its sentence is shown.
    watched.expectStatus(409, `/api/tasks/${fx.ids.failsOnce}/rerun`);
    await page.click('button[data-action="rerun"]');
    await page.locator('.feedback .message.error').waitFor();
    expect(await page.locator('.feedback').textContent()).toMatch(/completed/);
    await watched.finish(`task-detail-${db}`);
  });

  test('the detail links children and parent', async () => {
    const watched = await WatchedPage.open(browser());
    const { page } = watched;
    await page.goto(`${url}/#/tasks/${fx.ids.family}`);
    await page.locator('a[data-link="child"]').first().waitFor();
    expect(await page.locator('a[data-link="child"]').count()).toBe(2);
    await page.locator('a[data-link="child"]').first().click();
    await page.locator('a[data-link="parent"]').waitFor();
    expect(await page.locator('a[data-link="parent"]').textContent()).toBe(fx.ids.family);
    await watched.finish(`family-${db}`);
  });

  test('a server with a token: the login form refuses a wrong token and keeps the right one', async () => {
    const tokenUrl = await fx.server({ tokens: [{ token: 'sesame-42' }] });
    const watched = await WatchedPage.open(browser());
    const { page } = watched;
    watched.expectStatus(401, '/api/');
    await page.goto(`${tokenUrl}/`);
    await page.locator('form.login').waitFor();
    await page.fill('#token', 'wrong');
    await page.click('form.login button[type="submit"]');
    await page.locator('form.login .message.error').waitFor();
    expect(await page.locator('form.login .message.error').textContent()).toMatch(/refused/);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);

    await page.fill('#token', 'sesame-42');
    await page.click('form.login button[type="submit"]');
    await page.locator('[data-status="total"] .count', { hasText: /^[1-9]\d*$/ }).waitFor();
    await page.reload();
    await page.locator('[data-status="total"] .count', { hasText: /^[1-9]\d*$/ }).waitFor();
    expect(await page.locator('form.login').count()).toBe(0);
    await page.screenshot({ path: join(OUTPUT_DIR, `logged-in-${db}.png`) });

    await page.click('#logout');
    await page.locator('form.login').waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await watched.finish(`login-${db}`);
  });

  test('on a phone, in dark mode, by keyboard: the table scrolls inside its box, the page follows the system, headers sort with Enter', async () => {
    const watched = await WatchedPage.open(browser(), { width: 390, height: 780 });
    const { page } = watched;
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${url}/#/tasks`);
    await page.locator('table.tasks tbody tr').first().waitFor();
    // The page itself does not scroll sideways; the table's wrapper does.
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    expect(await page.evaluate('(() => { const w = document.querySelector(".table-wrap"); return w.scrollWidth > w.clientWidth; })()')).toBe(true);
    expect(await page.evaluate('getComputedStyle(document.body).backgroundColor')).toBe('rgb(15, 18, 22)');

    await page.focus('button[data-sort="taskName"]');
    await page.keyboard.press('Enter');
    await page.waitForFunction('location.hash.includes("sort=taskName%3Aasc")');
    await page.locator('th[aria-sort="ascending"] button[data-sort="taskName"]').waitFor();
    // The rebuilt table gives the focus back to the header that was pressed.
    expect(await page.evaluate('document.activeElement?.getAttribute("data-sort")')).toBe('taskName');
    const names = await textsOf(page, 'table.tasks tbody tr[data-id] td:nth-child(3)');
    expect(names).toEqual([...names].sort());
    await watched.finish(`phone-dark-${db}`);
  });

  test('markup in params, reports and labels is shown as text, never run', async () => {
    const watched = await WatchedPage.open(browser());
    const { page } = watched;
    await page.goto(`${url}/#/tasks?taskName=Markup`);
    await page.locator('table.tasks tbody tr').first().waitFor();
    expect(await page.locator('table.tasks .label-cell').textContent()).toBe('<b>label markup</b>');
    await page.click(`a[href="#/tasks/${fx.ids.markup}"]`);
    await page.locator('pre[data-field="parameters"]').waitFor();
    expect(await page.locator('pre[data-field="parameters"]').textContent()).toContain(SCRIPT_PARAM);
    expect(await page.locator('.report-warning > .report-message').textContent()).toBe(HTML_MESSAGE);
    expect(await page.locator('.report-info > .report-message').textContent()).toBe('<svg onload=alert(4)>nested</svg>');
    await page.locator('.report-warning details summary').first().click();
    expect(await page.locator('.report-warning details pre').first().textContent()).toContain('<iframe src=\\"javascript:alert(3)\\"></iframe>');
    // Nothing of it became an element: no img, svg, iframe or b, and one script (ours).
    expect(await page.locator('main img, main svg, main iframe, main b').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(1);
    await page.waitForTimeout(300);
    await watched.finish(`markup-${db}`);
  });
});
