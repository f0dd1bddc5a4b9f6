/**
 * Devices per ResolveRecipients page. The stack's `recipientsPageSize` context key (at most `max`)
 * becomes the handler's `PAGE_SIZE`; the handler takes `default` when the variable is unset.
 *
 * Both `$.page` and `$.presence` hold a whole page in the execution state (256 KiB at most), at
 * roughly 100 bytes per device: 500 keeps a page well inside that next to the envelope, and the
 * default of 100 keeps it far inside.
 */
export const RECIPIENTS_PAGE_SIZE = { default: 100, max: 500 } as const;
