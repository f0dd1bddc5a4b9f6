/** A Markdown table, so the bench's output can be pasted into docs/cost.md as it is. */
export const markdownTable = (header: readonly string[], rows: readonly (readonly (string | number)[])[], rightAligned: readonly number[] = []): string => {
  const cells = [header, ...rows].map((row) => row.map((c) => String(c).replace(/\|/g, '\\|')));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    `| ${row.map((c, i) => (rightAligned.includes(i) ? (c ?? '').padStart(widths[i]) : (c ?? '').padEnd(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (rightAligned.includes(i) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
};

export const usd = (value: number): string => (value === 0 ? '$0' : value >= 100 ? `$${value.toFixed(0)}` : value >= 1 ? `$${value.toFixed(2)}` : `$${value.toFixed(4)}`);

export const thousands = (value: number, digits = 0): string => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
