/** A tiny element builder: enough DOM for a dashboard without a framework. */

type Child = Node | string | number | false | null | undefined;
type Attrs = Record<string, string | number | boolean | undefined | EventListener>;

export const h = <K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.replace(/^on/, ''), value);
    else if (key === 'class') el.className = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, ...children);
  return el;
};

export const append = (el: Element, ...children: Child[]): void => {
  for (const c of children) {
    if (c === false || c === null || c === undefined) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
};

export const replaceChildren = (el: Element, ...children: Child[]): void => {
  el.replaceChildren();
  append(el, ...children);
};

export const svg = <K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] => {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
};

const LIMIT = 20_000;

/** Pretty JSON, cut short for very large values so the page stays responsive. */
export const json = (value: unknown): string => {
  const text = JSON.stringify(value, null, 2) ?? 'undefined';
  return text.length > LIMIT ? `${text.slice(0, LIMIT)}\n… (${text.length - LIMIT} more characters)` : text;
};

export const time = (at: number | string): string => new Date(at).toLocaleTimeString([], { hour12: false });
