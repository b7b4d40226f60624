// Text with line numbers (the numbers are CSS counters, so copying the text leaves them out).

import { h } from "./dom.js";

const MAX_LINES = 20_000;

export function codeView(text, id) {
  const lines = text.split(/\r\n|\n|\r/);
  if (lines.length > 1 && lines.at(-1) === "") lines.pop();
  const shown = lines.slice(0, MAX_LINES);
  const code = h("code", {});
  for (const line of shown) code.append(h("span", { class: "line" }, line));
  const view = h("pre", { class: "code", id, dataset: { testid: id } }, code);
  if (lines.length <= MAX_LINES) return view;
  return h(
    "div",
    {},
    view,
    h(
      "p",
      { class: "muted" },
      `Only the first ${MAX_LINES.toLocaleString("en-US")} lines are shown.`,
    ),
  );
}
