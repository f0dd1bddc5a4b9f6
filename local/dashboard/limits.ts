/**
 * Limits of the dashboard's message form, shared by the server's schema and the page's form so
 * the textarea refuses exactly what the server would.
 */

/** The longest message body the form posts, in characters (UTF-16 code units, as zod and `maxlength` count). */
export const MESSAGE_BODY_MAX_CHARS = 4000;
