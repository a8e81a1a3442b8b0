import type { JsonValue } from './json';
import { isJsonObject } from './json';

export type ReportType = 'info' | 'success' | 'warning' | 'error';

/** The stored, JSON form of a report. */
export interface ReportData {
  type: ReportType;
  message: string;
  data?: JsonValue;
  children: ReportData[];
}

const REPORT_TYPES: readonly ReportType[] = ['info', 'success', 'warning', 'error'];

/** What a task produced: a typed message with optional data and nested child reports. */
export class Report {
  readonly children: Report[] = [];
  private json?: ReportData;

  constructor(
    readonly type: ReportType,
    readonly message: string,
    readonly data?: JsonValue,
  ) {}

  static success(message: string, data?: JsonValue): Report {
    return new Report('success', message, data);
  }

  static error(message: string, data?: JsonValue): Report {
    return new Report('error', message, data);
  }

  static info(message: string, data?: JsonValue): Report {
    return new Report('info', message, data);
  }

  static warning(message: string, data?: JsonValue): Report {
    return new Report('warning', message, data);
  }

  /** The report a thrown error becomes: message and stack kept. */
  static fromError(error: unknown, data?: Record<string, JsonValue>): Report {
    if (error instanceof Error) {
      return Report.error(error.message || error.name, { error: error.name, stack: error.stack ?? null, ...data });
    }
    return Report.error(String(error), data ? { ...data } : undefined);
  }

  static fromJSON(value: unknown): Report {
    if (!isJsonObject(value) || !REPORT_TYPES.includes(value.type as ReportType) || typeof value.message !== 'string') {
      throw new TypeError('Not a report: expected { type, message, children }');
    }
    const report = new Report(value.type as ReportType, value.message, value.data);
    const children = Array.isArray(value.children) ? value.children : [];
    for (const child of children) report.add(Report.fromJSON(child));
    return report;
  }

  static isReportData(value: unknown): value is ReportData {
    return isJsonObject(value) && REPORT_TYPES.includes(value.type as ReportType) && typeof value.message === 'string';
  }

  add(child: Report): this {
    this.children.push(child);
    return this;
  }

  /** True when this report or any of its children is an error. */
  containsError(): boolean {
    return this.type === 'error' || this.children.some((child) => child.containsError());
  }

  toJSON(): ReportData {
    if (this.json) return this.json;
    const json: ReportData = { type: this.type, message: this.message, children: this.children.map((c) => c.toJSON()) };
    if (this.data !== undefined) json.data = this.data;
    return json;
  }

  /** A report that will not change: its JSON is made once and shared (also frozen). */
  freeze(): Readonly<Report> {
    this.json = deepFreeze(this.toJSON());
    Object.freeze(this.children);
    return Object.freeze(this);
  }
}

function deepFreeze(report: ReportData): ReportData {
  report.children.forEach(deepFreeze);
  Object.freeze(report.children);
  return Object.freeze(report);
}
