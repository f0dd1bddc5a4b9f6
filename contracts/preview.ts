import { PREVIEW_LENGTH } from './envelope';

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

/**
 * The first `max` UTF-16 code units of a message body, the unit the envelope schema counts, cut
 * on a grapheme boundary so a preview never ends in half an emoji, a lone surrogate (which JSON
 * consumers reject) or a base letter without its accent.
 */
export const previewOf = (body: string, max: number = PREVIEW_LENGTH): string => {
  if (body.length <= max) return body;
  let end = 0;
  // The segmenter is lazy: only the graphemes up to the cut are ever computed, whatever the body size.
  for (const { index, segment } of graphemes.segment(body)) {
    if (index + segment.length > max) break;
    end = index + segment.length;
  }
  if (end > 0) return body.slice(0, end);
  // A single grapheme longer than the whole preview (stacked combining marks): cut on a code point.
  const cut = isHighSurrogate(body.charCodeAt(max - 1)) ? max - 1 : max;
  return body.slice(0, cut);
};
