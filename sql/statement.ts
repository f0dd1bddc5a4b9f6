/**
 * The statement of a `.sql` file: what follows its leading `--` comment block. The header is for
 * the reader; sending only the statement keeps the SQL the Data API receives free of the
 * `:parameter` names the header mentions.
 */
export const statementOf = (fileText: string): string => {
  const lines = fileText.split('\n');
  const start = lines.findIndex((line) => !line.startsWith('--') && line.trim() !== '');
  return start === -1 ? '' : lines.slice(start).join('\n');
};
