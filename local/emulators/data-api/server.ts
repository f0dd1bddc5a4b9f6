import type { PGlite } from '@electric-sql/pglite';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { handlePreflight, readBody, sendJson } from '../http-util';
import { NamedParameterError, toPositional } from './named-params';

/**
 * A local RDS Data API endpoint (REST-JSON, as @aws-sdk/client-rds-data speaks it) over PGlite.
 * `ExecuteStatement` runs one statement with named parameters and answers with `formattedRecords`
 * (formatRecordsAs JSON) or typed `records`; everything else is refused as AWS refuses an
 * unknown operation. `pause()` makes it answer as a paused Aurora Serverless cluster does.
 */

interface ExecuteStatementBody {
  resourceArn?: string;
  secretArn?: string;
  database?: string;
  sql?: string;
  parameters?: Parameters<typeof toPositional>[1];
  formatRecordsAs?: 'NONE' | 'JSON';
  includeResultMetadata?: boolean;
}

const errorReply = (res: ServerResponse, status: number, type: string, message: string) =>
  sendJson(res, status, { message }, 'application/json', { 'x-amzn-errortype': type });

const toField = (value: unknown): Record<string, unknown> => {
  if (value === null || value === undefined) return { isNull: true };
  if (typeof value === 'boolean') return { booleanValue: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { longValue: value } : { doubleValue: value };
  if (typeof value === 'bigint') return { longValue: Number(value) };
  if (value instanceof Date) return { stringValue: value.toISOString().replace('T', ' ').replace('Z', '') };
  if (value instanceof Uint8Array) return { blobValue: Buffer.from(value).toString('base64') };
  if (typeof value === 'object') return { stringValue: JSON.stringify(value) };
  return { stringValue: String(value) };
};

export class LocalDataApi {
  readonly statements: { sql: string; parameters: unknown }[] = [];
  private paused?: string;

  constructor(private readonly db: PGlite) {}

  /** Until `resume()`, every statement fails with the given Data API error (e.g. DatabaseResumingException). */
  pause(errorType = 'DatabaseResumingException'): void {
    this.paused = errorType;
  }

  resume(): void {
    this.paused = undefined;
  }

  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (handlePreflight(req, res)) return;
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const raw = (await readBody(req)).toString('utf8');
    if (req.method !== 'POST' || path !== '/Execute') {
      errorReply(res, 404, 'UnknownOperationException', `${req.method} ${path} is not implemented by the local Data API endpoint`);
      return;
    }
    let body: ExecuteStatementBody;
    try {
      body = JSON.parse(raw) as ExecuteStatementBody;
    } catch {
      errorReply(res, 400, 'BadRequestException', 'request body is not JSON');
      return;
    }
    for (const field of ['resourceArn', 'secretArn', 'sql'] as const) {
      if (typeof body[field] !== 'string' || body[field]!.length === 0) {
        errorReply(res, 400, 'BadRequestException', `${field} is required`);
        return;
      }
    }
    if (this.paused) {
      errorReply(res, 400, this.paused, 'The Aurora DB instance is resuming after being auto-paused. Please wait a few seconds and try again.');
      return;
    }
    this.statements.push({ sql: body.sql!, parameters: body.parameters });
    try {
      const statement = toPositional(body.sql!, body.parameters ?? []);
      const result = await this.db.query<Record<string, unknown>>(statement.text, statement.values);
      const columns = result.fields.map((f) => f.name);
      const out: Record<string, unknown> = { numberOfRecordsUpdated: result.affectedRows ?? 0 };
      if (body.formatRecordsAs === 'JSON') {
        out.formattedRecords = JSON.stringify(result.rows);
      } else if (columns.length > 0) {
        out.records = result.rows.map((row) => columns.map((c) => toField(row[c])));
      }
      if (body.includeResultMetadata) out.columnMetadata = result.fields.map((f) => ({ name: f.name, label: f.name }));
      sendJson(res, 200, out);
    } catch (err) {
      const message = err instanceof NamedParameterError ? err.message : `ERROR: ${(err as Error).message}`;
      errorReply(res, 400, 'BadRequestException', message);
    }
  };
}
